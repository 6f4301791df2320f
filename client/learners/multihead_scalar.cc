// The multihead-scalar learner (after Kim, Kim, Guo): exact recovery of H
// softmax heads read out as one number at the last position, from
// 4 H d^2 - 2 H + 1 queries of at most 2H + 1 tokens. The paper's own
// construction is not reproduced; this one meets its count and shape
// (derivation in docs/REPRODUCTION.md, "## multihead-scalar").
//
// A sequence of m copies of a token z followed by the query token x
// answers, with alpha_h = exp(x^T Theta_h (z - x)),
//   f(m) = sum_h v_h.z - c_h / (1 + m alpha_h),   c_h = v_h.(z - x),
// a rational function of m of degree H with 2H + 1 unknowns (P = V.z, the
// c_h, the alpha_h). Given f(0) = V.x and f(1..2H) (2H queries of 2..2H+1
// tokens), N(m) - f(m) D(m) = 0 is linear in the coefficients of N and D
// (D(0) = 1); the roots of D are -1 / alpha_h and the residues give c_h.
// Each pair (x, z = x + delta) so yields, per head but unlabelled,
// (x^T Theta_h delta, v_h.delta).
//   round 1  the anchor [x_1] (f(0) for x_1) and the d pairs delta_j at
//            x_1; then, ref being the best-conditioned of them, the d - 1
//            pairs delta_ref + delta_j: the heads of pair delta_j are
//            labelled as those of delta_ref by the permutation under which
//            delta_ref's points plus delta_j's are delta_ref + delta_j's;
//            least squares over the labelled points starts a joint
//            Levenberg-Marquardt fit of every v_h and Theta_h^T x_1 to all
//            of round 1's answers (FitPoint), and V = sum v_h gives
//            P = V.z for any z.
//   round 2  for each x_i (i = 2..d) the d pairs delta_j: with v_h known,
//            a joint fit of Theta_h^T x_i to their answers (started from
//            each pair's logits, fitted on f(1..2H) alone against the
//            labelled c_h) estimates it; from it d more deltas are chosen,
//            one after another, each the one of a few random candidates
//            that most raises the smallest eigenvalue of the information
//            the point's pairs carry on Theta_h^T x_i (fixed deltas leave
//            some heads barely seen, and the polish then finds a flat
//            valley); a joint fit to all 2d pairs gives Theta_h^T x_i.
// Theta_h^T [x_1 .. x_d] then gives Theta_h, which a Levenberg-Marquardt
// pass over every answer polishes. Queries: 1 + 2H ((2d - 1) +
// (d - 1) 2d) = 4 H d^2 - 2H + 1.
#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/lm_damping.h"
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_head_reader.h"
#include "common/attention.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

constexpr uint64_t kDesignStream = 0x4D48534B;
// Heads beyond this make the labelling's search over H!^2 permutations and
// the degree-H root finding too fragile: with four heads 31 of 32 instances
// (d 4-10, seeds 5-12) missed 1e-8, so four are refused before anything is
// spent. The paper's setting is small H.
constexpr int kMaxSeparatedHeads = 3;
// Standard deviation of the entries of the x_i and delta_j: with the
// default prior Theta_h has Frobenius norm about 1, so the logit gaps
// x^T Theta_h delta are of order 1 and the alpha_h stay apart.
constexpr double kTokenSigma = 1.0;
// Rounding leaves a real root of D with a small imaginary part, relative to
// its size, up to this.
constexpr double kMaxRootImag = 1e-6;
// Relative error assumed of each answer (float64 rounding through the
// forward pass), the unit of the sensitivities a fit reports.
constexpr double kAnswerRelErr = 1e-15;
// The polish solves one least squares over every parameter; beyond this
// many parameters (H (d^2 + d)) its cost outgrows the algebra's and it is
// skipped.
constexpr int kMaxPolishParams = 1500;
constexpr int kMaxPolishSteps = 30;
// Levenberg-Marquardt steps of the joint fit at one point (FitPoint).
constexpr int kMaxPointSteps = 100;
// A joint fit at one point whose root mean square residual, relative to
// the answers', is at most this has reached the answers' rounding; above
// it other starts are tried.
constexpr double kPointFitRelResid = 1e-13;
// Newton steps refining each pair's fit.
constexpr int kNewtonSteps = 8;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr uint64_t kAdaptiveStream = 0x4D485341;
// Round 2's chosen deltas: per pair, the best of this many random
// directions at each of these lengths (in units of kTokenSigma).
constexpr int kAdaptiveCandidates = 16;
constexpr double kAdaptiveScales[] = {0.25, 0.5, 1.0, 2.0, 4.0};

// Per head (unlabelled): x^T Theta_h delta and v_h.delta, with the standard
// deviations that an error of kAnswerRelErr in the answers leaves them (to
// first order), which weight the least squares.
struct HeadPoint {
  double logit = 0;
  double value = 0;
  double logit_sigma = 0;
  double value_sigma = 0;
};

// Fits f(m) = P - sum_h c_h / (1 + m alpha_h) to f(0..2H). Empty when the
// denominator has roots that are not real and negative, or when the fit's
// Jacobian is singular (two heads with the same alpha).
std::vector<HeadPoint> FitRational(const std::vector<double>& f, int heads,
                                   bool roots_only = false) {
  const int n = 2 * heads + 1;
  Matrix system(n, n);
  Vector rhs(n);
  for (int m = 0; m < n; ++m) {
    for (int k = 0; k <= heads; ++k) system(m, k) = std::pow(m, k);
    for (int k = 1; k <= heads; ++k) {
      system(m, heads + k) = -f[m] * std::pow(m, k);
    }
    rhs(m) = f[m];
  }
  const Vector sol = system.fullPivLu().solve(rhs);
  const Vector num = sol.head(heads + 1);
  Vector den(heads + 1);  // coefficients of m^0 .. m^H
  den(0) = 1;
  den.tail(heads) = sol.tail(heads);
  if (den(heads) == 0) return {};
  Matrix companion = Matrix::Zero(heads, heads);
  for (int k = 0; k < heads; ++k)
    companion(0, k) = -den(heads - 1 - k) / den(heads);
  for (int k = 1; k < heads; ++k) companion(k, k - 1) = 1;
  const Eigen::VectorXcd roots = companion.eigenvalues();
  std::vector<HeadPoint> points;
  if (roots_only) {
    // Starting logits only: a pair of complex roots is two close alpha_h
    // that rounding pushed off the axis, their real part a fair start.
    for (int h = 0; h < heads; ++h) {
      const double r = roots(h).real();
      points.push_back({.logit = r < 0 ? std::log(-1 / r) : 0.0});
    }
    return points;
  }
  for (int h = 0; h < heads; ++h) {
    const double r = roots(h).real();
    if (std::abs(roots(h).imag()) > kMaxRootImag * std::abs(r) || !(r < 0)) {
      return {};
    }
    double n_at = 0, dd_at = 0;
    for (int k = heads; k >= 0; --k) n_at = n_at * r + num(k);
    for (int k = heads; k >= 1; --k) dd_at = dd_at * r + k * den(k);
    const double alpha = -1 / r;
    points.push_back(
        {.logit = std::log(alpha), .value = -alpha * n_at / dd_at});
  }
  // The monomial system above loses digits to its own conditioning (its
  // columns m^k grow to (2H)^H); Newton's method on the partial fractions
  // themselves, (P, c_h, log alpha_h), from its solution recovers them, and
  // its Jacobian, inverted, gives the sensitivities to the answers'
  // rounding.
  double total = 0;
  for (const HeadPoint& p : points) total += p.value;
  double pole_free = f[0] + total;  // P
  Matrix jac(n, n);
  Vector resid(n);
  double scale = 0;
  for (int m = 0; m < n; ++m) scale = std::max(scale, std::abs(f[m]));
  auto linearise = [&]() {
    for (int m = 0; m < n; ++m) {
      double model = pole_free;
      jac(m, 0) = 1;
      for (int h = 0; h < heads; ++h) {
        const double alpha = std::exp(points[h].logit);
        const double g = 1 / (1 + m * alpha);
        model -= points[h].value * g;
        jac(m, 1 + h) = -g;
        jac(m, 1 + heads + h) = points[h].value * m * alpha * g * g;
      }
      resid(m) = f[m] - model;
    }
  };
  for (int step = 0; step < kNewtonSteps; ++step) {
    linearise();
    const Eigen::FullPivLU<Matrix> lu(jac);
    if (!lu.isInvertible()) return {};
    const Vector delta = lu.solve(resid);
    if (!delta.allFinite()) return {};
    pole_free += delta(0);
    for (int h = 0; h < heads; ++h) {
      points[h].value += delta(1 + h);
      points[h].logit += delta(1 + heads + h);
    }
  }
  linearise();
  const Eigen::FullPivLU<Matrix> lu(jac);
  if (!lu.isInvertible()) return {};
  const Matrix sens = lu.inverse();
  const double noise = kAnswerRelErr * scale;
  for (int h = 0; h < heads; ++h) {
    points[h].value_sigma = noise * sens.row(1 + h).norm();
    points[h].logit_sigma = noise * sens.row(1 + heads + h).norm();
    if (!std::isfinite(points[h].value_sigma) ||
        !std::isfinite(points[h].logit_sigma)) {
      return {};
    }
  }
  return points;
}

// 1 / (1 + m exp(logit)) without overflow.
double Gate(int m, double logit) {
  const double t = std::log(static_cast<double>(m)) + logit;
  if (t > 0) {
    const double e = std::exp(-t);
    return e / (1 + e);
  }
  return 1 / (1 + std::exp(t));
}

// A pair's points when FitRational finds none: the logits from the real
// parts of the interpolation's roots (FitRational's roots_only), the values
// c_h by linear least squares of f(0..2H) = P - sum_h c_h / (1 + m
// alpha_h) given them. Only a start for a joint fit; empty when the
// interpolation has no roots.
std::vector<HeadPoint> LooseFit(const std::vector<double>& f, int heads) {
  std::vector<HeadPoint> points = FitRational(f, heads, true);
  if (static_cast<int>(points.size()) < heads) return {};
  const int n = 2 * heads + 1;
  Matrix a(n, heads + 1);
  Vector y(n);
  for (int m = 0; m < n; ++m) {
    a(m, 0) = 1;
    for (int h = 0; h < heads; ++h) {
      a(m, 1 + h) = -Gate(m, points[h].logit);
    }
    y(m) = f[m];
  }
  const Vector sol = a.colPivHouseholderQr().solve(y);
  if (!sol.allFinite()) return {};
  for (int h = 0; h < heads; ++h) points[h].value = sol(1 + h);
  return points;
}

// The largest sensitivity of a fit: how well its heads are told apart.
double WorstSigma(const std::vector<HeadPoint>& points) {
  double worst = 0;
  for (const HeadPoint& p : points) {
    worst = std::max({worst, p.logit_sigma, p.value_sigma});
  }
  return worst;
}

// Given the labelled c_h = v_h.delta and P = V.z (from round 1), refines
// the logits of `points` (labelled) by Gauss-Newton on the answers
// f(1..2H) alone: f(0) = V.x is not an answer there, and an interpolation
// through it carries round 1's error into every root. Sets each logit's
// sigma from the remaining residual. Returns the residual's norm, or
// infinity when the fit breaks down.
double RefineLogits(const std::vector<double>& f, double pole_free,
                    const std::vector<double>& c,
                    std::vector<HeadPoint>& points) {
  const int heads = static_cast<int>(points.size());
  const int n = 2 * heads;
  Matrix jac(n, heads);
  Vector resid(n);
  double scale = 0;
  for (int m = 1; m <= n; ++m) scale = std::max(scale, std::abs(f[m]));
  auto linearise = [&]() {
    for (int m = 1; m <= n; ++m) {
      double model = pole_free;
      for (int h = 0; h < heads; ++h) {
        const double alpha = std::exp(points[h].logit);
        const double g = 1 / (1 + m * alpha);
        model -= c[h] * g;
        jac(m - 1, h) = c[h] * m * alpha * g * g;
      }
      resid(m - 1) = f[m] - model;
    }
  };
  for (int step = 0; step < kNewtonSteps; ++step) {
    linearise();
    const Vector delta = jac.colPivHouseholderQr().solve(resid);
    if (!delta.allFinite()) return kInf;
    for (int h = 0; h < heads; ++h) points[h].logit += delta(h);
  }
  linearise();
  const Eigen::ColPivHouseholderQR<Matrix> qr(jac);
  if (qr.rank() < heads) return kInf;
  const Matrix cov = (jac.transpose() * jac).inverse();
  const double noise =
      kAnswerRelErr * scale + resid.norm() / std::sqrt(n - heads + 1.0);
  for (int h = 0; h < heads; ++h) {
    points[h].value = c[h];
    points[h].logit_sigma = noise * std::sqrt(std::max(cov(h, h), 0.0));
    if (!std::isfinite(points[h].logit) ||
        !std::isfinite(points[h].logit_sigma)) {
      return kInf;
    }
  }
  return resid.norm();
}

// The answers of one pair (x, x + dir) at a point x: f[m] for m copies of
// x + dir followed by x, m = 1 .. 2H (f[0] unused).
struct PairAnswers {
  Vector dir;
  std::vector<double> f;
};

// The Levenberg-Marquardt step that minimises |J delta - r|^2 +
// lambda |diag(col_norms) delta|^2, from a QR of [J; sqrt(lambda)
// diag(col_norms)]: the normal equations would square J's condition number.
Vector DampedStep(const Matrix& jac, const Vector& r, const Vector& col_norms,
                  double lambda) {
  const Eigen::Index rows = jac.rows(), params = jac.cols();
  Matrix stacked(rows + params, params);
  stacked.topRows(rows) = jac;
  stacked.bottomRows(params) =
      (std::sqrt(lambda) * col_norms.array() + 1e-300).matrix().asDiagonal();
  Vector rhs = Vector::Zero(rows + params);
  rhs.head(rows) = r;
  return stacked.householderQr().solve(rhs);
}

// Levenberg-Marquardt of the exact rational model on every answer at one
// point x: per head u_h = Theta_h^T x and, when fit_values, v_h, from the
// given estimate; `anchor`, when not null, is the answer of the one-token
// query [x] (V.x). The per-pair fits see each pair alone and lose a pair
// whose two alpha_h are close, where the answers of all pairs together
// still fix every head. Keeps (u, v) unless a step lowers the squared
// residual; returns the root mean square residual relative to that of the
// answers.
double FitPoint(const Vector& x, const std::vector<PairAnswers>& pairs,
                const double* anchor, bool fit_values, std::vector<Vector>& u,
                std::vector<Vector>& v) {
  const int heads = static_cast<int>(u.size());
  const Eigen::Index d = x.size();
  const Eigen::Index params = heads * d * (fit_values ? 2 : 1);
  const Eigen::Index rows = (anchor != nullptr ? 1 : 0) +
                            static_cast<Eigen::Index>(pairs.size()) * 2 * heads;
  double answer_sq = 0;
  if (anchor != nullptr) answer_sq += *anchor * *anchor;
  for (const PairAnswers& p : pairs) {
    for (int m = 1; m <= 2 * heads; ++m) answer_sq += p.f[m] * p.f[m];
  }
  auto evaluate = [&](const std::vector<Vector>& uu,
                      const std::vector<Vector>& vv, Vector& r, Matrix* jac) {
    Eigen::Index row = 0;
    if (anchor != nullptr) {
      double model = 0;
      if (jac != nullptr) jac->row(row).head(heads * d).setZero();
      for (int h = 0; h < heads; ++h) {
        model += vv[h].dot(x);
        if (jac != nullptr && fit_values) {
          jac->row(row).segment((heads + h) * d, d) = x.transpose();
        }
      }
      r(row++) = *anchor - model;
    }
    for (const PairAnswers& p : pairs) {
      const Vector z = x + p.dir;
      for (int m = 1; m <= 2 * heads; ++m, ++row) {
        double model = 0;
        for (int h = 0; h < heads; ++h) {
          const double c = vv[h].dot(p.dir);
          const double g = Gate(m, uu[h].dot(p.dir));
          model += vv[h].dot(z) - c * g;
          if (jac == nullptr) continue;
          jac->row(row).segment(h * d, d) = c * g * (1 - g) * p.dir.transpose();
          if (fit_values) {
            jac->row(row).segment((heads + h) * d, d) =
                (z - g * p.dir).transpose();
          }
        }
        r(row) = p.f[m] - model;
      }
    }
  };
  Vector r(rows);
  evaluate(u, v, r, nullptr);
  double cost = r.squaredNorm();
  if (!std::isfinite(cost)) return kInf;
  double lambda = kLmInitialDamping;
  Matrix jac(rows, params);
  for (int step = 0; step < kMaxPointSteps && cost > 0; ++step) {
    evaluate(u, v, r, &jac);
    const Vector col_norms = jac.colwise().norm().transpose();
    bool improved = false;
    while (!improved && lambda <= kLmMaxDamping) {
      const Vector delta = DampedStep(jac, r, col_norms, lambda);
      std::vector<Vector> u2 = u, v2 = v;
      for (int h = 0; h < heads; ++h) {
        u2[h] += delta.segment(h * d, d);
        if (fit_values) v2[h] += delta.segment((heads + h) * d, d);
      }
      Vector r2(rows);
      evaluate(u2, v2, r2, nullptr);
      const double next = r2.squaredNorm();
      if (next < cost) {
        improved = true;
        u = std::move(u2);
        v = std::move(v2);
        cost = next;
        lambda /= kLmShrink;
      } else {
        lambda *= kLmGrow;
      }
    }
    if (!improved) break;
  }
  return std::sqrt(cost / std::max(answer_sq, 1e-300));
}

// The information the answers of a pair (x, x + dir) carry on the
// u_h = Theta_h^T x jointly, with v_h known, at the estimate u: J^T J, J
// the 2H x H d Jacobian of f(1..2H) in (u_h), each row divided by the
// answers' size |V.(x + dir)| + sum_h |v_h.dir| (their rounding is
// relative). Non-finite when the estimate overflows.
Matrix PairInformation(const std::vector<Vector>& u,
                       const std::vector<Vector>& v, const Vector& total,
                       const Vector& x, const Vector& dir) {
  const int heads = static_cast<int>(u.size());
  const Eigen::Index d = x.size();
  Matrix jac(2 * heads, heads * d);
  double scale = std::abs(total.dot(x + dir));
  for (int h = 0; h < heads; ++h) scale += std::abs(v[h].dot(dir));
  for (int m = 1; m <= 2 * heads; ++m) {
    for (int h = 0; h < heads; ++h) {
      const double g = Gate(m, u[h].dot(dir));
      jac.row(m - 1).segment(h * d, d) =
          v[h].dot(dir) * g * (1 - g) * dir.transpose();
    }
  }
  jac /= scale;
  return jac.transpose() * jac;
}

double SmallestEigenvalue(const Matrix& info) {
  if (!info.allFinite()) return -kInf;
  const Eigen::SelfAdjointEigenSolver<Matrix> eig(info, Eigen::EigenvaluesOnly);
  return eig.eigenvalues()(0);
}

std::vector<std::vector<int>> Permutations(int heads) {
  std::vector<int> p(heads);
  std::iota(p.begin(), p.end(), 0);
  std::vector<std::vector<int>> all;
  do all.push_back(p);
  while (std::next_permutation(p.begin(), p.end()));
  return all;
}

Matrix Tokens(const Vector& z, int copies, const Vector& x) {
  Matrix seq(copies + 1, x.size());
  for (int t = 0; t < copies; ++t) seq.row(t) = z.transpose();
  seq.row(copies) = x.transpose();
  return seq;
}

LayerParams Hypothesis(const LayerSpec& spec, const std::vector<Matrix>& theta,
                       const std::vector<Vector>& v) {
  LayerParams params;
  for (size_t h = 0; h < theta.size(); ++h) {
    params.heads.push_back(ScalarHeadFromScores(spec, theta[h], v[h]));
  }
  return params;
}

// sum_h softmax(X theta_h^T x_N)^T X v_h on `seq`, and when `grad` is not
// null its gradient in (theta_h row-major, v_h) per head.
double ScalarModel(const std::vector<Matrix>& theta,
                   const std::vector<Vector>& v, const Matrix& seq,
                   Eigen::Ref<Vector> grad) {
  const Eigen::Index d = seq.cols();
  const Vector q = seq.row(seq.rows() - 1).transpose();
  double f = 0;
  for (size_t h = 0; h < theta.size(); ++h) {
    const Vector s = seq * (theta[h].transpose() * q);
    const Vector p = (s.array() - s.maxCoeff()).exp().matrix();
    const Vector prob = p / p.sum();
    const Vector xv = seq * v[h];
    const double y = prob.dot(xv);
    f += y;
    if (grad.size() == 0) continue;
    const Eigen::Index base = static_cast<Eigen::Index>(h) * (d * d + d);
    const Vector u =
        seq.transpose() * (prob.array() * (xv.array() - y)).matrix();
    for (Eigen::Index a = 0; a < d; ++a) {
      grad.segment(base + a * d, d) = q(a) * u;
    }
    grad.segment(base + d * d, d) = seq.transpose() * prob;
  }
  return f;
}

double SquaredResidual(const std::vector<Matrix>& theta,
                       const std::vector<Vector>& v,
                       const std::vector<Matrix>& inputs,
                       const std::vector<double>& answers) {
  Vector none;
  double sum = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const double r = answers[i] - ScalarModel(theta, v, inputs[i], none);
    sum += r * r;
  }
  return sum;
}

// Levenberg-Marquardt on every answer, from the algebraic estimate: the
// answers of all pairs together determine the heads better than each
// pair's own fit, whose conditioning falls when two alpha_h are close.
// Keeps (theta, v) unless a step lowers the squared residual. Returns the
// number of accepted steps.
int Polish(const std::vector<Matrix>& inputs,
           const std::vector<double>& answers, std::vector<Matrix>& theta,
           std::vector<Vector>& v) {
  const int heads = static_cast<int>(theta.size());
  const Eigen::Index d = theta[0].rows();
  const Eigen::Index per_head = d * d + d;
  const Eigen::Index params = heads * per_head;
  const auto rows = static_cast<Eigen::Index>(inputs.size());
  double cost = SquaredResidual(theta, v, inputs, answers);
  double lambda = 1e-9;
  int accepted = 0;
  for (int step = 0; step < kMaxPolishSteps && cost > 0; ++step) {
    Matrix jac(rows, params);
    Vector r(rows);
    for (Eigen::Index i = 0; i < rows; ++i) {
      Vector g(params);
      r(i) = answers[i] - ScalarModel(theta, v, inputs[i], g);
      jac.row(i) = g.transpose();
    }
    const Vector col_norms = jac.colwise().norm().transpose();
    bool improved = false;
    for (int tries = 0; tries < 8 && !improved; ++tries) {
      const Vector delta = DampedStep(jac, r, col_norms, lambda);
      std::vector<Matrix> t2 = theta;
      std::vector<Vector> v2 = v;
      for (int h = 0; h < heads; ++h) {
        for (Eigen::Index a = 0; a < d; ++a) {
          t2[h].row(a) += delta.segment(h * per_head + a * d, d).transpose();
        }
        v2[h] += delta.segment(h * per_head + d * d, d);
      }
      const double next = SquaredResidual(t2, v2, inputs, answers);
      if (next < cost) {
        improved = true;
        theta = std::move(t2);
        v = std::move(v2);
        lambda = std::max(lambda / 10, 1e-15);
        ++accepted;
        // Near the solution each step cuts the residual by far more: a
        // step that does not halve it is at the answers' rounding.
        cost = next;
      } else {
        lambda *= 10;
      }
    }
    if (!improved) break;
  }
  return accepted;
}

}  // namespace

absl::StatusOr<LearnResult> LearnMultiheadScalar(QueryOracle& oracle,
                                                 const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const ScalarDesign design{
      .learner = "multihead-scalar",
      .solves =
          "up to 3 softmax heads read out as one number at the last "
          "position, from chosen queries answered with exact values",
      .max_heads = kMaxSeparatedHeads};
  const std::string why = ScalarChallengeProblem(info, design);
  if (!why.empty()) return RefuseScalarChallenge(info, design, why);
  const int d = spec.d_model;
  const int heads = spec.heads;
  const uint64_t pair_queries = 2 * heads;
  const uint64_t pairs = 2 * static_cast<uint64_t>(d) * d - 1;
  const uint64_t queries = 1 + pair_queries * pairs;
  // Per pair, sequences of 2 .. 2H + 1 tokens.
  const uint64_t tokens = 1 + pairs * (pair_queries * (pair_queries + 3) / 2);
  const int longest = 2 * heads + 1;
  const Usage start = oracle.usage();
  if (start.queries_left < queries || start.tokens_left < tokens ||
      info.policy.limits.max_tokens_per_sequence < longest) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "multihead-scalar's design needs ", queries, " queries of up to ",
        longest, " tokens, ", tokens, " tokens in all; ", start.queries_left,
        " queries and ", start.tokens_left,
        " tokens are left to this run, and a sequence may hold ",
        info.policy.limits.max_tokens_per_sequence,
        " tokens; nothing was spent"));
  }
  auto say = [&](const std::string& line) {
    if (options.progress != nullptr) {
      *options.progress << "multihead-scalar: " << line << std::endl;
    }
  };
  Rng rng(DeriveSeed(options.seed, RngStream::kLearner, kDesignStream));
  std::vector<Vector> x(d, Vector(d)), delta(d, Vector(d));
  for (Vector& t : x) {
    for (int j = 0; j < d; ++j) t(j) = kTokenSigma * rng.NextGaussian();
  }
  for (Vector& t : delta) {
    for (int j = 0; j < d; ++j) t(j) = kTokenSigma * rng.NextGaussian();
  }
  LearnResult result;
  std::vector<Matrix> inputs, answers;
  // Asks the 2H queries of pair (x, z) for each z, after `prefix`.
  auto ask = [&](std::vector<Matrix> prefix, const Vector& at,
                 const std::vector<Vector>& zs)
      -> absl::StatusOr<std::vector<std::vector<double>>> {
    std::vector<Matrix> seqs = std::move(prefix);
    const size_t first = seqs.size();
    for (const Vector& z : zs) {
      for (int m = 1; m <= 2 * heads; ++m) seqs.push_back(Tokens(z, m, at));
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, seqs));
    std::vector<std::vector<double>> values;
    for (size_t p = 0; p < zs.size(); ++p) {
      std::vector<double> f(2 * heads + 1);
      for (int m = 1; m <= 2 * heads; ++m) {
        f[m] = got[first + p * 2 * heads + m - 1](0, 0);
      }
      values.push_back(std::move(f));
    }
    inputs.insert(inputs.end(), seqs.begin(), seqs.end());
    answers.insert(answers.end(), got.begin(), got.end());
    if (first > 0) values.push_back({got[0](0, 0)});  // the anchor
    return values;
  };
  auto failed = [&](const std::string& what) {
    return absl::InternalError(absl::StrCat(
        "multihead-scalar could not separate the heads (", what,
        "): two heads may have nearly equal logit gaps on this design; "
        "try another --seed or --algo regress"));
  };
  const std::vector<std::vector<int>> perms = Permutations(heads);
  std::vector<Vector> v(heads, Vector(d));
  std::vector<Matrix> w(heads, Matrix(d, d));  // column i: Theta_h^T x_i

  // Round 1a: the anchor and the pairs delta_j at x_1.
  std::vector<Vector> zs;
  for (int j = 0; j < d; ++j) zs.push_back(x[0] + delta[j]);
  ATTN_ASSIGN_OR_RETURN(std::vector<std::vector<double>> f1,
                        ask({Tokens(x[0], 0, x[0])}, x[0], zs));
  const double anchor = f1.back()[0];
  std::vector<std::vector<HeadPoint>> single(d);
  int ref = -1;
  for (int j = 0; j < d; ++j) {
    f1[j][0] = anchor;
    single[j] = FitRational(f1[j], heads);
    if (single[j].empty()) continue;
    if (ref < 0 || WorstSigma(single[j]) < WorstSigma(single[ref])) ref = j;
  }
  if (ref < 0) return failed("no pair at x_1 had real negative poles");
  // Round 1b: the sums with the best-separated pair, chosen from round 1a's
  // answers (the labels of every other pair are read against it).
  zs.clear();
  for (int j = 0; j < d; ++j) {
    if (j != ref) zs.push_back(x[0] + delta[ref] + delta[j]);
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<std::vector<double>> f2, ask({}, x[0], zs));
  // Labelled: rows of the least squares, per head.
  std::vector<Vector> dirs;
  std::vector<std::vector<HeadPoint>> labelled;
  // The pair j each row came from (ref's own row: -1), so that a start
  // can leave one pair's labels out.
  std::vector<int> source;
  dirs.push_back(delta[ref]);
  labelled.push_back(single[ref]);
  source.push_back(-1);
  // Every pair's answers, fitted or not, for the joint fit.
  std::vector<PairAnswers> round1;
  for (int j = 0; j < d; ++j) round1.push_back({delta[j], f1[j]});
  for (int j = 0, p = 0; j < d; ++j) {
    if (j != ref) round1.push_back({delta[ref] + delta[j], f2[p++]});
  }
  int dropped = 0;
  std::vector<int> lost;  // the j whose pairs were not labelled
  // The answers and fit of each sum delta_ref + delta_j, by j.
  std::vector<std::vector<double>> sum_answers(d);
  std::vector<std::vector<HeadPoint>> summed(d);
  const std::vector<HeadPoint>& r0 = single[ref];
  for (int j = 0, p = 0; j < d; ++j) {
    if (j == ref) continue;
    f2[p][0] = anchor;
    sum_answers[j] = f2[p];
    const std::vector<HeadPoint> t = FitRational(f2[p++], heads);
    summed[j] = t;
    const std::vector<HeadPoint>& s = single[j];
    if (s.empty() || t.empty()) {
      ++dropped;
      lost.push_back(j);
      continue;
    }
    // Both maps are linear in delta: the reference's points plus delta_j's
    // are the sum's, under the right labels. Gaps are measured in the
    // points' own sensitivities, so a loosely fitted head weighs less.
    double best = std::numeric_limits<double>::infinity();
    std::vector<int> bs, bt;
    for (const auto& ps : perms) {
      for (const auto& pt : perms) {
        double cost = 0;
        for (int h = 0; h < heads; ++h) {
          const HeadPoint& a = r0[h];
          const HeadPoint& b = s[ps[h]];
          const HeadPoint& c = t[pt[h]];
          const double dl = a.logit + b.logit - c.logit;
          const double dv = a.value + b.value - c.value;
          const double sl =
              std::hypot(a.logit_sigma, b.logit_sigma, c.logit_sigma) +
              std::numeric_limits<double>::min();
          const double sv =
              std::hypot(a.value_sigma, b.value_sigma, c.value_sigma) +
              std::numeric_limits<double>::min();
          cost += (dl / sl) * (dl / sl) + (dv / sv) * (dv / sv);
        }
        if (cost < best) best = cost, bs = ps, bt = pt;
      }
    }
    if (bs.empty()) {  // every labelling's cost was NaN
      ++dropped;
      lost.push_back(j);
      continue;
    }
    std::vector<HeadPoint> ls(heads), lt(heads);
    for (int h = 0; h < heads; ++h) ls[h] = s[bs[h]], lt[h] = t[bt[h]];
    dirs.push_back(delta[j]);
    labelled.push_back(ls);
    dirs.push_back(delta[ref] + delta[j]);
    labelled.push_back(lt);
    source.push_back(j);
    source.push_back(j);
  }
  // Unweighted least squares: weighting each row by its fit's sensitivity
  // was tried and lost (the sensitivities are first-order and miss a fit
  // that converged to the wrong assignment).
  auto solve_rows = [&](const std::vector<Vector>& rows,
                        const std::vector<std::vector<HeadPoint>>& lab, int h,
                        bool logits) {
    Matrix a(static_cast<Eigen::Index>(rows.size()), d);
    Vector y(static_cast<Eigen::Index>(rows.size()));
    for (size_t i = 0; i < rows.size(); ++i) {
      const HeadPoint& pt = lab[i][h];
      a.row(i) = rows[i].transpose();
      y(i) = logits ? pt.logit : pt.value;
    }
    return Vector(a.colPivHouseholderQr().solve(y));
  };
  if (static_cast<int>(dirs.size()) < d) {
    return failed("too few pairs at x_1 had real negative poles");
  }
  // The per-pair fits, labelled, start a joint fit of (v_h, Theta_h^T x_1)
  // to every answer of round 1. The least squares over the labelled rows
  // knows nothing along a direction delta_j whose pairs were not labelled;
  // there each labelling of delta_j's own points (LooseFit) is tried as a
  // start and the best joint fit kept. When the result does not reach the
  // answers' rounding, starts that leave out one more pair's labels (a
  // mislabelled or poorly fitted pair) are tried the same way, and the
  // best fit is kept.
  auto start_from = [&](int left_out, std::vector<Vector>& vv,
                        std::vector<Vector>& uu) {
    std::vector<Vector> rows;
    std::vector<std::vector<HeadPoint>> lab;
    for (size_t k = 0; k < dirs.size(); ++k) {
      if (source[k] == left_out && left_out >= 0) continue;
      rows.push_back(dirs[k]);
      lab.push_back(labelled[k]);
    }
    vv.assign(heads, Vector());
    uu.assign(heads, Vector());
    for (int h = 0; h < heads; ++h) {
      vv[h] = solve_rows(rows, lab, h, false);
      uu[h] = solve_rows(rows, lab, h, true);
    }
    std::vector<int> missing = lost;
    if (left_out >= 0) missing.push_back(left_out);
    double fit = FitPoint(x[0], round1, &anchor, true, uu, vv);
    for (int j : missing) {
      // The part of delta_j the rows so far do not reach; the rows hold
      // delta_ref, so delta_ref + delta_j has the same part off them.
      Matrix span(d, static_cast<Eigen::Index>(rows.size()));
      for (size_t k = 0; k < rows.size(); ++k) span.col(k) = rows[k];
      const Vector reach = span * span.colPivHouseholderQr().solve(delta[j]);
      const Vector off = delta[j] - reach;
      const double along = off.dot(delta[j]);
      if (!(along > 1e-12 * delta[j].squaredNorm())) continue;
      // Points along delta_j from pair delta_j's own fit and from the sum
      // pair's: a pair whose two alpha_h are close has no fit of its own,
      // and its loose points start both heads alike.
      struct Source {
        Vector dir;
        std::vector<HeadPoint> points;
      };
      std::vector<Source> sources;
      sources.push_back(
          {delta[j], !single[j].empty() ? single[j] : LooseFit(f1[j], heads)});
      if (!sum_answers[j].empty()) {
        sources.push_back(
            {delta[ref] + delta[j],
             !summed[j].empty() ? summed[j] : LooseFit(sum_answers[j], heads)});
      }
      const std::vector<Vector> base_v = vv, base_u = uu;
      for (const Source& src : sources) {
        if (src.points.empty()) continue;
        for (const auto& perm : perms) {
          std::vector<Vector> tv = base_v, tu = base_u;
          for (int h = 0; h < heads; ++h) {
            const HeadPoint& q = src.points[perm[h]];
            tu[h] += off * ((q.logit - tu[h].dot(src.dir)) / along);
            tv[h] += off * ((q.value - tv[h].dot(src.dir)) / along);
          }
          const double r = FitPoint(x[0], round1, &anchor, true, tu, tv);
          if (r < fit) fit = r, vv = std::move(tv), uu = std::move(tu);
        }
      }
      rows.push_back(delta[j]);
    }
    return fit;
  };
  std::vector<Vector> u1;
  double fit1 = start_from(-1, v, u1);
  int left_out_tried = 0;
  for (int j = 0; j < d && !(fit1 <= kPointFitRelResid); ++j) {
    if (j == ref || std::find(lost.begin(), lost.end(), j) != lost.end()) {
      continue;
    }
    std::vector<Vector> vv, uu;
    const double r = start_from(j, vv, uu);
    ++left_out_tried;
    if (r < fit1) fit1 = r, v = std::move(vv), u1 = std::move(uu);
  }
  say(absl::StrFormat(
      "round 1: joint fit, %d pairs unlabelled, %d left-out starts, "
      "relative residual %.3e",
      static_cast<int>(lost.size()), left_out_tried, fit1));
  Vector total = Vector::Zero(d);
  for (int h = 0; h < heads; ++h) {
    w[h].col(0) = u1[h];
    total += v[h];
  }
  std::vector<Matrix> theta(heads);
  auto report = [&](int round) {
    CurvePoint point;
    point.queries = oracle.usage().queries_used - start.queries_used;
    point.tokens = oracle.usage().tokens_used - start.tokens_used;
    std::vector<double> values;
    for (const Matrix& a : answers) values.push_back(a(0, 0));
    result.hypothesis = Hypothesis(spec, theta, v);
    point.est_functional_rel_err =
        ScalarAnswerRelErr(spec, result.hypothesis, inputs, values);
    ReportCurvePoint(options, point, &result);
    say(absl::StrFormat(
        "round %d: %d queries, relative error on the answers %.3e", round,
        point.queries, point.est_functional_rel_err));
  };
  for (int h = 0; h < heads; ++h) {
    // Only Theta_h^T x_1 is known: the least-norm Theta with it.
    theta[h] = x[0] * w[h].col(0).transpose() / x[0].squaredNorm();
  }
  report(1);

  // Round 2: the other x_i, labelled by v_h.delta. At each x_i the first
  // d pairs use the fixed delta_j; a joint fit of Theta_h^T x_i (v_h
  // fixed) to their answers estimates it, from which the other d deltas
  // are chosen, one after another, to raise the smallest eigenvalue of the
  // information all the point's pairs carry on Theta_h^T x_i (see
  // PairInformation); a joint fit to all 2d pairs' answers then gives it.
  Rng pick(DeriveSeed(options.seed, RngStream::kLearner, kAdaptiveStream));
  // Asks the 2H queries of each pair (x_i, x_i + dir), appends their
  // answers to `at_point` and, for the pairs whose logits fit on their own
  // against the labelled c_h, the fitted logits to rows / lab (starts of
  // the joint fit).
  auto fit_pairs = [&](const Vector& at, const std::vector<Vector>& dirs,
                       std::vector<Vector>& rows,
                       std::vector<std::vector<HeadPoint>>& lab,
                       std::vector<PairAnswers>& at_point) -> absl::Status {
    std::vector<Matrix> seqs;
    for (const Vector& dir : dirs) {
      for (int m = 1; m <= 2 * heads; ++m) {
        seqs.push_back(Tokens(at + dir, m, at));
      }
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle, seqs));
    inputs.insert(inputs.end(), seqs.begin(), seqs.end());
    answers.insert(answers.end(), got.begin(), got.end());
    for (size_t p = 0; p < dirs.size(); ++p) {
      std::vector<double> f(2 * heads + 1);
      f[0] = total.dot(at);
      for (int m = 1; m <= 2 * heads; ++m) {
        f[m] = got[p * 2 * heads + m - 1](0, 0);
      }
      at_point.push_back({dirs[p], f});
      const std::vector<HeadPoint> start_pts = FitRational(f, heads, true);
      if (static_cast<int>(start_pts.size()) < heads) {
        ++dropped;  // a degenerate denominator: no starting logits
        continue;
      }
      std::vector<double> c(heads);
      for (int h = 0; h < heads; ++h) c[h] = v[h].dot(dirs[p]);
      const double pole_free = total.dot(at + dirs[p]);
      // The heads' c_h are known and labelled: each assignment of the
      // starting logits to them is refined, the best fit kept.
      double best = kInf;
      std::vector<HeadPoint> l;
      for (const auto& perm : perms) {
        std::vector<HeadPoint> trial(heads);
        for (int h = 0; h < heads; ++h) trial[h] = start_pts[perm[h]];
        const double r = RefineLogits(f, pole_free, c, trial);
        if (r < best) best = r, l = std::move(trial);
      }
      if (l.empty()) {
        ++dropped;
        continue;
      }
      rows.push_back(dirs[p]);
      lab.push_back(std::move(l));
    }
    return absl::OkStatus();
  };
  // The joint fit at x_i from the per-pair fits' least squares, and, when
  // that does not reach the answers' rounding, also from `fallback`;
  // the better fit is kept in u.
  auto fit_point = [&](const Vector& at,
                       const std::vector<PairAnswers>& at_point,
                       const std::vector<Vector>& rows,
                       const std::vector<std::vector<HeadPoint>>& lab,
                       const std::vector<Vector>& fallback,
                       std::vector<Vector>& u) {
    std::vector<Vector> fixed_v = v;
    double fit = kInf;
    if (!rows.empty()) {
      for (int h = 0; h < heads; ++h) u[h] = solve_rows(rows, lab, h, true);
      fit = FitPoint(at, at_point, nullptr, false, u, fixed_v);
    }
    if (!(fit <= kPointFitRelResid)) {
      std::vector<Vector> other = fallback;
      const double r = FitPoint(at, at_point, nullptr, false, other, fixed_v);
      if (r < fit || !std::isfinite(fit)) fit = r, u = std::move(other);
    }
    return fit;
  };
  double worst_point_fit = 0;
  for (int i = 1; i < d; ++i) {
    std::vector<Vector> rows;
    std::vector<std::vector<HeadPoint>> lab;
    std::vector<PairAnswers> at_point;
    ATTN_RETURN_IF_ERROR(fit_pairs(x[i], delta, rows, lab, at_point));
    // The fallback start: the least-norm Theta_h with the columns found so
    // far, at x_i.
    Matrix seen(d, i);
    for (int k = 0; k < i; ++k) seen.col(k) = x[k];
    const Vector coef = seen.colPivHouseholderQr().solve(x[i]);
    std::vector<Vector> predicted(heads);
    for (int h = 0; h < heads; ++h) predicted[h] = w[h].leftCols(i) * coef;
    std::vector<Vector> u(heads, Vector::Zero(d));
    fit_point(x[i], at_point, rows, lab, predicted, u);
    Matrix info = Matrix::Zero(heads * d, heads * d);
    for (const PairAnswers& p : at_point) {
      const Matrix pi = PairInformation(u, v, total, x[i], p.dir);
      if (pi.allFinite()) info += pi;
    }
    std::vector<Vector> chosen;
    for (int k = 0; k < d; ++k) {
      double best = -kInf;
      Vector best_dir = -delta[k];
      Matrix best_info = Matrix::Zero(heads * d, heads * d);
      for (int c = 0; c < kAdaptiveCandidates; ++c) {
        Vector g(d);
        for (int j = 0; j < d; ++j) g(j) = pick.NextGaussian();
        g /= g.norm();
        for (double t : kAdaptiveScales) {
          const Vector dir = kTokenSigma * t * g;
          const Matrix pi = PairInformation(u, v, total, x[i], dir);
          const double score = SmallestEigenvalue(info + pi);
          if (score > best) best = score, best_dir = dir, best_info = pi;
        }
      }
      chosen.push_back(best_dir);
      info += best_info;
    }
    ATTN_RETURN_IF_ERROR(fit_pairs(x[i], chosen, rows, lab, at_point));
    std::vector<Vector> first_half = u;
    const double fit = fit_point(x[i], at_point, rows, lab, first_half, u);
    worst_point_fit = std::max(worst_point_fit, fit);
    for (int h = 0; h < heads; ++h) w[h].col(i) = u[h];
  }
  say(absl::StrFormat(
      "round 2: joint fits at each point, worst relative residual %.3e",
      worst_point_fit));
  Matrix xs(d, d);
  for (int i = 0; i < d; ++i) xs.col(i) = x[i];
  for (int h = 0; h < heads; ++h) {
    // Theta_h^T X = W_h.
    theta[h] = xs.transpose().colPivHouseholderQr().solve(w[h].transpose());
  }
  say(absl::StrFormat(
      "%d of %d pairs dropped (no fit with real negative poles)", dropped,
      pairs));
  if (heads * (d * d + d) <= kMaxPolishParams) {
    std::vector<double> values;
    for (const Matrix& a : answers) values.push_back(a(0, 0));
    const double before = SquaredResidual(theta, v, inputs, values);
    const int steps = Polish(inputs, values, theta, v);
    say(absl::StrFormat(
        "polish: %d steps, squared residual on the answers %.3e -> %.3e", steps,
        before, SquaredResidual(theta, v, inputs, values)));
  }
  report(2);
  return result;
}

}  // namespace attnoracle
