// Locating the hidden units of a bias-free ReLU block from one-token
// answers; the method is described in regress_ffn_init.h.
#include "client/learners/regress_ffn_init.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Samples per circle: with 16 units (32 kinks) about one kink in six has a
// neighbour within three samples and is skipped, but its antipodal twin
// rarely does too.
constexpr int kCirclePoints = 512;
constexpr int kMaxCircles = 6;
// A sample's three-point sinusoid test flags a kink when its residual
// exceeds this times the largest |g| on the circle (rounding leaves about
// 1e-15).
constexpr double kCircleKinkTolerance = 1e-9;
// Finite-difference step of the gradients, relative to the radius.
constexpr double kGradientStepRel = 1e-6;
// A linear piece must satisfy w . p = g(p) (homogeneity) to this relative
// accuracy, and a midpoint must lie on its side's sinusoid, or the kink is
// skipped (two kinks in one interval, or a gradient that crossed a kink).
constexpr double kCheckTolerance = 1e-7;
// Two jumps belong to one unit when the cosine of their angle is above this.
constexpr double kSameUnitCosine = 0.999;
// The signs of the jumps are found by trying all 2^M combinations.
constexpr int kMaxUnitsForSigns = 20;
// The signed jumps must reproduce the odd part to this relative accuracy.
constexpr double kOddPartTolerance = 1e-6;

struct Circle {
  Vector a, b;  // orthonormal
  double radius = 0;
  Vector Point(double t) const {
    return radius * (std::cos(t) * a + std::sin(t) * b);
  }
};

absl::StatusOr<Vector> Ask(QueryOracle& oracle,
                           const std::vector<Vector>& points) {
  std::vector<Matrix> sequences;
  sequences.reserve(points.size());
  for (const Vector& p : points) sequences.push_back(p.transpose());
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle, sequences));
  Vector g(static_cast<Eigen::Index>(answers.size()));
  for (size_t i = 0; i < answers.size(); ++i) g(i) = answers[i](0, 0);
  return g;
}

// (A, B) of the sinusoid A cos t + B sin t through two samples.
Eigen::Vector2d Sinusoid(double t1, double g1, double t2, double g2) {
  Eigen::Matrix2d m;
  m << std::cos(t1), std::sin(t1), std::cos(t2), std::sin(t2);
  return m.partialPivLu().solve(Eigen::Vector2d(g1, g2));
}

double Eval(const Eigen::Vector2d& s, double t) {
  return s(0) * std::cos(t) + s(1) * std::sin(t);
}

// A kink between samples k and k + 1 with its two sinusoids.
struct CircleKink {
  double t = 0;
  Eigen::Vector2d left, right;
};

}  // namespace

bool CanLocateFfnUnits(const LayerSpec& spec, const AccessPolicy& policy) {
  return spec.has_ffn && spec.layers <= 1 && !spec.biases &&
         spec.attention == Attention::kSoftmax && !spec.ffn.biases &&
         !spec.ffn.residual && spec.ffn.out_dim == 1 &&
         spec.ffn.hidden <= kMaxUnitsForSigns &&
         spec.value_dim >= spec.d_model && spec.out_dim >= spec.d_model &&
         AllowsQueries(policy) && policy.answers == Answers::kValues &&
         policy.precision == Precision::kFloat64 && policy.noise_sigma == 0 &&
         policy.limits.max_abs_input > 0;
}

absl::StatusOr<std::optional<FfnUnits>> LocateFfnUnits(QueryOracle& oracle,
                                                       uint64_t seed,
                                                       uint64_t max_tokens) {
  const uint64_t tokens_before = oracle.usage().tokens_used;
  const LayerSpec& spec = oracle.info().spec;
  const int d = spec.d_model, hidden = spec.ffn.hidden;
  const double radius =
      std::min(1.0, oracle.info().policy.limits.max_abs_input);
  const double h = 2 * std::numbers::pi / kCirclePoints;
  Rng rng(seed);
  std::vector<Vector> jumps;  // each +-c_j u_j
  std::vector<double> c_signs;
  for (int circle = 0;
       circle < kMaxCircles && static_cast<int>(jumps.size()) < hidden;
       ++circle) {
    const Usage usage = oracle.usage();
    const uint64_t cost = kCirclePoints + 2ull * hidden * (2 * (d + 1) + 2);
    if (usage.queries_left < cost || usage.tokens_left < cost ||
        usage.tokens_used - tokens_before + cost > max_tokens) {
      break;
    }
    Circle c;
    c.radius = radius;
    c.a.resize(d), c.b.resize(d);
    for (int i = 0; i < d; ++i) c.a(i) = rng.NextGaussian();
    for (int i = 0; i < d; ++i) c.b(i) = rng.NextGaussian();
    c.a.normalize();
    c.b -= c.b.dot(c.a) * c.a;
    c.b.normalize();
    std::vector<Vector> points;
    for (int k = 0; k < kCirclePoints; ++k) points.push_back(c.Point(k * h));
    ATTN_ASSIGN_OR_RETURN(Vector g, Ask(oracle, points));
    const double scale = g.cwiseAbs().maxCoeff();
    if (!(scale > 0)) continue;
    auto at = [&](int k) {
      return (k % kCirclePoints + kCirclePoints) % kCirclePoints;
    };
    std::vector<bool> flag(kCirclePoints);
    for (int k = 0; k < kCirclePoints; ++k) {
      const double e = g(at(k + 1)) + g(at(k - 1)) - 2 * std::cos(h) * g(k);
      flag[k] = std::abs(e) > kCircleKinkTolerance * scale;
    }
    // One kink in (t_k, t_{k+1}) flags exactly k and k + 1.
    std::vector<CircleKink> kinks;
    std::vector<Vector> checks;
    for (int k = 0; k < kCirclePoints; ++k) {
      if (flag[at(k - 1)] || !flag[k] || !flag[at(k + 1)] || flag[at(k + 2)]) {
        continue;
      }
      const double tk = k * h;
      CircleKink kink;
      kink.left = Sinusoid(tk - h, g(at(k - 1)), tk, g(k));
      kink.right = Sinusoid(tk + h, g(at(k + 1)), tk + 2 * h, g(at(k + 2)));
      const Eigen::Vector2d diff = kink.left - kink.right;
      // diff(0) cos t + diff(1) sin t = 0 at the kink: two roots, pi apart.
      double t = std::atan2(-diff(0), diff(1));
      t -= std::floor((t - tk) / std::numbers::pi) * std::numbers::pi;
      if (!(t >= tk && t <= tk + h)) continue;
      kink.t = t;
      kinks.push_back(kink);
    }
    // Antipodal kinks are one unit's: measure the first of each pair only.
    std::vector<CircleKink> measured;
    for (const CircleKink& k : kinks) {
      bool twin = false;
      for (const CircleKink& m : measured) {
        const double gap =
            std::remainder(k.t - m.t - std::numbers::pi, 2 * std::numbers::pi);
        twin |= std::abs(gap) < 0.5 * h;
      }
      if (!twin) measured.push_back(k);
    }
    // Per kink: a midpoint on each side (the one-kink check), and each
    // side's gradient at t -+ h / 2.
    const double step = kGradientStepRel * radius;
    std::vector<Vector> asks;
    for (const CircleKink& k : measured) {
      const double tk = std::floor(k.t / h) * h;
      asks.push_back(c.Point(0.5 * (tk + k.t)));
      asks.push_back(c.Point(0.5 * (k.t + tk + h)));
      for (const double side : {-0.5 * h, 0.5 * h}) {
        const Vector p = c.Point(k.t + side);
        asks.push_back(p);
        for (int i = 0; i < d; ++i) {
          Vector q = p;
          q(i) += step;
          asks.push_back(q);
        }
      }
    }
    ATTN_ASSIGN_OR_RETURN(Vector ans, Ask(oracle, asks));
    Eigen::Index next = 0;
    for (const CircleKink& k : measured) {
      const double tk = std::floor(k.t / h) * h;
      bool ok = std::abs(ans(next) - Eval(k.left, 0.5 * (tk + k.t))) <=
                    kCheckTolerance * scale &&
                std::abs(ans(next + 1) - Eval(k.right, 0.5 * (k.t + tk + h))) <=
                    kCheckTolerance * scale;
      next += 2;
      Vector w[2];
      for (int s = 0; s < 2; ++s) {
        const double gp = ans(next);
        w[s].resize(d);
        for (int i = 0; i < d; ++i) w[s](i) = (ans(next + 1 + i) - gp) / step;
        const Vector p = c.Point(k.t + (s == 0 ? -0.5 : 0.5) * h);
        ok &= std::abs(w[s].dot(p) - gp) <=
              kCheckTolerance * std::max(scale, std::abs(gp));
        next += d + 1;
      }
      const Vector jump = w[1] - w[0];
      if (!ok || !(jump.norm() > kCheckTolerance * scale / radius)) continue;
      bool seen = false;
      for (const Vector& j : jumps) {
        seen |=
            std::abs(j.dot(jump)) > kSameUnitCosine * j.norm() * jump.norm();
      }
      if (seen) continue;
      const Vector tangent =
          -std::sin(k.t) * c.a + std::cos(k.t) * c.b;  // direction of travel
      jumps.push_back(jump);
      c_signs.push_back(jump.dot(tangent) >= 0 ? 1.0 : -1.0);
    }
  }
  if (static_cast<int>(jumps.size()) != hidden) return std::nullopt;

  // The odd part: g(r e_i) - g(-r e_i) = r v_i with v = sum_j c_j u_j.
  std::vector<Vector> axes;
  for (int i = 0; i < d; ++i) {
    Vector e = Vector::Zero(d);
    e(i) = radius;
    axes.push_back(e);
    axes.push_back(-e);
  }
  ATTN_ASSIGN_OR_RETURN(Vector odd, Ask(oracle, axes));
  Vector v(d);
  for (int i = 0; i < d; ++i) v(i) = (odd(2 * i) - odd(2 * i + 1)) / radius;
  uint32_t best_mask = 0;
  double best = std::numeric_limits<double>::infinity();
  Vector sum(d);
  for (uint32_t mask = 0; mask < (1u << hidden); ++mask) {
    sum = v;
    for (int j = 0; j < hidden; ++j) {
      sum -= ((mask >> j) & 1u) ? jumps[j] : Vector(-jumps[j]);
    }
    const double err = sum.norm();
    if (err < best) best = err, best_mask = mask;
  }
  double jump_scale = 0;
  for (const Vector& j : jumps) jump_scale = std::max(jump_scale, j.norm());
  if (!(best <= kOddPartTolerance * jump_scale)) return std::nullopt;

  FfnUnits units;
  units.u.resize(d, hidden);
  units.c.resize(hidden);
  for (int j = 0; j < hidden; ++j) {
    const double s = ((best_mask >> j) & 1u) ? 1.0 : -1.0;
    const double norm = jumps[j].norm();
    units.c(j) = c_signs[j] * norm;
    units.u.col(j) = s * c_signs[j] * jumps[j] / norm;
  }
  return units;
}

void SeedFfnBlock(const LayerSpec& spec, const FfnUnits& units,
                  LayerParams* params) {
  const int d = spec.d_model;
  for (size_t h = 0; h < params->heads.size(); ++h) {
    HeadParams& head = params->heads[h];
    head.wv.setZero();
    head.wo.setZero();
    if (h == 0) {
      head.wv.topLeftCorner(d, d).setIdentity();
      head.wo.topLeftCorner(d, d).setIdentity();
    }
  }
  params->ffn.w1.setZero();
  params->ffn.w1.topRows(d) = units.u;
  params->ffn.w2.col(0) = units.c;
}

}  // namespace attnoracle
