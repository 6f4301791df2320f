// The ffn-antisymmetric learner (Bhattamishra, Shah, Hahn, Kanade): exact
// recovery of a one-layer transformer with one softmax head read at the last
// position and a ReLU FFN block without biases or residual, scalar output:
//   f(X) = g(a(X)),  a(X) = sum_i softmax(s)_i x_i,  s_i = x_i^T W x_N,
//   g(a) = sum_k c_k relu(a.m_k),  m_k = (Omega W1) e_k,  c_k = w2_k.
//
// Attention: negating every token leaves the scores unchanged and negates
// a(X), and relu(y) - relu(-y) = y, so f(X) - f(-X) = v'.a(X) with v' =
// sum_k c_k m_k: the scalar attention model. v' comes from the 2d one-token
// queries +-e_j and W from ReadScoreMatrix (shared with scalar-exact) on
// pairs of queries X, -X: 2d + 2d^2 queries.
//
// Units: a one-token query answers g(x) itself, positively homogeneous and
// linear on each cone of the arrangement of the hyperplanes x.m_k = 0. A
// path from b through a to -b (two segments, a and b gaussian) crosses
// every hyperplane once. Its kinks are found by a search on the path (a
// piece's two end slopes meet at a single kink, verified by one more query;
// otherwise the piece is split), then each cone's gradient G from d + 1
// queries in it. Across kink k the gradient jumps by D_k = +-c_k m_k; the
// sign of dir.D_k is the sign of c_k. Which side of a hyperplane is active
// is not visible locally (relu(y) and relu(-y) differ by the linear y): the
// set S of units active at b is the one with sum_{k in S} D_k = -G(b),
// found by enumerating 2^(K - rank) choices (K units found) and solving for
// the rest. docs/REPRODUCTION.md has the derivation and the counts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_head_reader.h"
#include "client/learners/scalar_learner.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// One-token points are scaled so their largest entry is this share of
// max_abs_input (g is positively homogeneous: the answer is scaled back).
constexpr double kFfnHeadroom = 0.5;
// Step in path parameter (the path's segments have parameter length 1) for
// one-sided slopes.
constexpr double kSlopeStep = 1e-5;
// Relative tolerance (against the path's value scale) for "the piece is
// linear" and "the single kink predicted is there".
constexpr double kKinkTolerance = 1e-8;
// Splits of one piece before the search gives up.
constexpr int kMaxSearchDepth = 50;
// Perturbation (relative to |x|) for a cone's gradient; shrunk by
// kStepShrink when the gradient does not reproduce g(x).
constexpr double kConeStep = 1e-3;
constexpr double kStepShrink = 100;
constexpr int kConeTries = 4;
// Hidden units beyond d_model the orientation search may enumerate
// (2^this linear solves of size d_model).
constexpr int kMaxEnumeratedUnits = 20;
// An enumerated orientation is accepted when every solved indicator is
// within this of 0 or 1.
constexpr double kIndicatorTolerance = 1e-4;

const ScalarDesign kFfnDesign{
    .learner = "ffn-antisymmetric",
    .solves =
        "one softmax head read out at the last position followed by a "
        "ReLU FFN block without biases or residual and one output, from "
        "chosen queries answered with exact float64 values",
    .float64 = true,
    .max_heads = 1,
    .ffn = true,
    .two_tokens = true,
    .min_abs_input = 2,
    .after_refusal = "; --algo regress fits any spec"};

// Beyond the shared checks: the FFN block's own shape.
std::string FfnProblem(const LayerSpec& spec) {
  if (spec.ffn.biases || spec.ffn.residual) {
    return "its FFN block has biases or a residual (spec.ffn)";
  }
  if (spec.head_dim != spec.d_model || spec.value_dim < spec.d_model ||
      spec.out_dim < spec.d_model) {
    return "its head_dim differs from d_model or its value_dim or out_dim is "
           "below d_model";
  }
  if (spec.ffn.hidden - spec.d_model > kMaxEnumeratedUnits) {
    return absl::StrCat("its FFN has more than d_model + ", kMaxEnumeratedUnits,
                        " hidden units (spec.ffn.hidden ", spec.ffn.hidden,
                        "): the units' orientations would "
                        "need 2^",
                        spec.ffn.hidden - spec.d_model, " trials");
  }
  return "";
}

// A kink of g on the path: its place and the gradient jump across it.
struct Kink {
  double t;
  Vector jump;  // G after - G before, in the direction of travel
  Vector dir;   // direction of travel
};

class FfnAntisymmetric : public ScalarLearner {
 public:
  FfnAntisymmetric(QueryOracle& oracle, const LearnOptions& options)
      : ScalarLearner(oracle, options, kFfnDesign),
        hidden_(spec_.ffn.hidden),
        input_scale_(kFfnHeadroom * oracle.info().policy.limits.max_abs_input) {
  }

  absl::StatusOr<LearnResult> Run();

 private:
  // g at each point, from one-token queries scaled into the input limits.
  absl::StatusOr<std::vector<double>> G(const std::vector<Vector>& xs);
  absl::StatusOr<double> G1(const Vector& x) {
    ATTN_ASSIGN_OR_RETURN(std::vector<double> g, G({x}));
    return g[0];
  }
  // The kinks of g on the segment p0 -> p1 (parameter t in [0, 1]).
  absl::Status FindKinks(const Vector& p0, const Vector& p1,
                         std::vector<double>* ts);
  absl::Status Search(const Vector& p0, const Vector& p1, double l, double r,
                      double gl, double gr, double sl, double sr, int depth,
                      std::vector<double>* ts);
  // The gradient of g on the cone holding x.
  absl::StatusOr<Vector> ConeGradient(const Vector& x);

  const int hidden_;
  const double input_scale_;
  double value_scale_ = 0;  // typical |g| on the path, for tolerances
  // Every one-token point asked and g there, for the fit check.
  std::vector<std::pair<Vector, double>> seen_;
};

absl::StatusOr<std::vector<double>> FfnAntisymmetric::G(
    const std::vector<Vector>& xs) {
  std::vector<Matrix> sequences;
  std::vector<double> factors;
  for (const Vector& x : xs) {
    const double m = x.cwiseAbs().maxCoeff();
    const double factor = m > 0 ? input_scale_ / m : 1;
    factors.push_back(factor);
    sequences.push_back((x * factor).transpose());
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle_, sequences));
  std::vector<double> g;
  for (size_t i = 0; i < xs.size(); ++i) {
    g.push_back(answers[i](0, 0) / factors[i]);
    seen_.emplace_back(xs[i], g.back());
  }
  return g;
}

absl::Status FfnAntisymmetric::FindKinks(const Vector& p0, const Vector& p1,
                                         std::vector<double>* ts) {
  const Vector step = p1 - p0;
  ATTN_ASSIGN_OR_RETURN(std::vector<double> g, G({p0, p0 + kSlopeStep * step,
                                                  p1 - kSlopeStep * step, p1}));
  const double sl = (g[1] - g[0]) / kSlopeStep;
  const double sr = (g[3] - g[2]) / kSlopeStep;
  return Search(p0, p1, 0, 1, g[0], g[3], sl, sr, 0, ts);
}

absl::Status FfnAntisymmetric::Search(const Vector& p0, const Vector& p1,
                                      double l, double r, double gl, double gr,
                                      double sl, double sr, int depth,
                                      std::vector<double>* ts) {
  const double tol = kKinkTolerance * value_scale_;
  if (std::abs(sl - sr) <= tol && std::abs(gr - gl - sl * (r - l)) <= tol) {
    return absl::OkStatus();  // linear: no kink
  }
  if (std::abs(sl - sr) > tol) {
    const double t = (gr - gl + sl * l - sr * r) / (sl - sr);
    if (t > l + kSlopeStep && t < r - kSlopeStep) {
      // A single kink at t puts [l, t] on the left line and [t, r] on the
      // right one. With several kinks t may still fall on a line (left of
      // the first kink, where both lines meet), but the slope on one side
      // of t then is not that line's.
      const Vector step = p1 - p0;
      ATTN_ASSIGN_OR_RETURN(std::vector<double> g,
                            G({p0 + (t - kSlopeStep) * step, p0 + t * step,
                               p0 + (t + kSlopeStep) * step}));
      const double st_left = (g[1] - g[0]) / kSlopeStep;
      const double st_right = (g[2] - g[1]) / kSlopeStep;
      if (std::abs(g[1] - (gl + sl * (t - l))) <= tol &&
          std::abs(st_left - sl) <= tol && std::abs(st_right - sr) <= tol) {
        ts->push_back(t);
        return absl::OkStatus();
      }
    }
  }
  if (depth >= kMaxSearchDepth || r - l < 4 * kSlopeStep) {
    return absl::InternalError(
        "the kink search on a path found pieces narrower than its slope "
        "step: g is not a sum of ReLU units of the declared architecture, "
        "or two hyperplanes nearly meet on the path");
  }
  // Split near the middle; a kink within one step of the split shows as
  // unequal slopes on its two sides, and the split moves.
  for (int attempt = 0;; ++attempt) {
    const double m = l + (r - l) * (0.5 + 0.2 * (rng_.NextUniform() - 0.5));
    const Vector step = p1 - p0;
    ATTN_ASSIGN_OR_RETURN(std::vector<double> g,
                          G({p0 + (m - kSlopeStep) * step, p0 + m * step,
                             p0 + (m + kSlopeStep) * step}));
    const double sm_left = (g[1] - g[0]) / kSlopeStep;
    const double sm_right = (g[2] - g[1]) / kSlopeStep;
    if (std::abs(sm_left - sm_right) > tol && attempt < 3) continue;
    ATTN_RETURN_IF_ERROR(
        Search(p0, p1, l, m, gl, g[1], sl, sm_left, depth + 1, ts));
    return Search(p0, p1, m, r, g[1], gr, sm_right, sr, depth + 1, ts);
  }
}

absl::StatusOr<Vector> FfnAntisymmetric::ConeGradient(const Vector& x) {
  double eps = kConeStep * x.norm();
  for (int attempt = 0; attempt < kConeTries; ++attempt, eps /= kStepShrink) {
    std::vector<Vector> points = {x};
    for (int i = 0; i < d_; ++i)
      points.push_back(x + eps * Vector::Unit(d_, i));
    ATTN_ASSIGN_OR_RETURN(std::vector<double> g, G(points));
    Vector grad(d_);
    for (int i = 0; i < d_; ++i) grad(i) = (g[i + 1] - g[0]) / eps;
    // g is linear on the cone and positively homogeneous, so grad.x = g(x)
    // unless a perturbed point left the cone.
    if (std::abs(grad.dot(x) - g[0]) <=
        1e-6 * std::max(value_scale_, grad.norm() * x.norm())) {
      return grad;
    }
  }
  return absl::InternalError(
      "no step kept a cone's perturbed points in the cone: g is not a sum "
      "of ReLU units of the declared architecture");
}

absl::StatusOr<LearnResult> FfnAntisymmetric::Run() {
  ATTN_RETURN_IF_ERROR(CheckChallenge(FfnProblem(spec_)));
  // The attention's part is fixed; the units' search is adaptive: at least
  // the cones' gradients, (hidden + 1) (d + 1), and the paths' 8 slope
  // queries.
  const uint64_t attention_queries =
      2 * static_cast<uint64_t>(d_) * d_ + 2 * static_cast<uint64_t>(d_);
  const uint64_t least_queries =
      attention_queries + static_cast<uint64_t>(hidden_ + 1) * (d_ + 1) + 8;
  const uint64_t least_tokens =
      least_queries + 2 * static_cast<uint64_t>(d_) * d_;
  ATTN_RETURN_IF_ERROR(CheckBudget(
      least_queries, least_tokens,
      absl::StrCat("ffn-antisymmetric needs at least ", least_queries,
                   " queries (", least_tokens, " tokens) for d_model ", d_,
                   " and ", hidden_, " hidden units")));
  LearnResult result;

  // v' = sum_k c_k m_k from f(e_j) - f(-e_j).
  std::vector<Vector> basis;
  for (int j = 0; j < d_; ++j) basis.push_back(Vector::Unit(d_, j));
  for (int j = 0; j < d_; ++j) basis.push_back(-Vector::Unit(d_, j));
  ATTN_ASSIGN_OR_RETURN(std::vector<double> gb, G(basis));
  Vector v(d_);
  for (int j = 0; j < d_; ++j) v(j) = gb[j] - gb[d_ + j];
  Say(absl::StrCat("v' = Omega W1 W2 from ", 2 * d_, " one-token queries"));

  // W from the antisymmetric part, asked as pairs X, -X.
  const double max_scale =
      kFfnHeadroom * oracle_.info().policy.limits.max_abs_input;
  const ScoreReaderHooks hooks = CurveReportingHooks(
      [this] { return Spent(); }, options_, &result,
      [this](int j, double scale, double heldout) {
        Say(absl::StrFormat(
            "column %d of W from %d pairs of two-token queries at |u| = %.3g; "
            "the antisymmetric part before them missed by %.3g (relative "
            "squared error)",
            j, d_, scale, heldout));
      });
  const ScalarHeadAnswers answer = [&](const std::vector<Matrix>& seqs)
      -> absl::StatusOr<std::vector<double>> {
    std::vector<Matrix> both = seqs;
    for (const Matrix& x : seqs) both.push_back(-x);
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle_, both));
    std::vector<double> values;
    for (size_t i = 0; i < seqs.size(); ++i) {
      values.push_back(got[i](0, 0) - got[seqs.size() + i](0, 0));
    }
    return values;
  };
  ATTN_ASSIGN_OR_RETURN(ScoreReadout readout,
                        ReadScoreMatrix(v, max_scale, rng_, answer, hooks));

  // The units from the kinks of g on the path b -> a -> -b.
  Vector a(d_), b(d_);
  for (int i = 0; i < d_; ++i) a(i) = rng_.NextGaussian();
  for (int i = 0; i < d_; ++i) b(i) = rng_.NextGaussian();
  value_scale_ = 0;
  for (int j = 0; j < 2 * d_; ++j) {
    value_scale_ = std::max(value_scale_, std::abs(gb[j]));
  }
  value_scale_ *= std::sqrt(static_cast<double>(d_)) * (a.norm() + b.norm());
  const CurvePoint units_start = Spent();
  std::vector<Vector> region_points;  // in order of travel
  std::vector<Vector> region_dirs;    // direction of travel into the region
  const Vector segments[2][2] = {{b, a}, {a, -b}};
  for (int s = 0; s < 2; ++s) {
    const Vector& p0 = segments[s][0];
    const Vector& p1 = segments[s][1];
    std::vector<double> ts;
    ATTN_RETURN_IF_ERROR(FindKinks(p0, p1, &ts));
    std::sort(ts.begin(), ts.end());
    ts.insert(ts.begin(), 0);
    ts.push_back(1);
    // The cone holding a ends the first segment and starts the second.
    for (size_t i = s == 0 ? 0 : 1; i + 1 < ts.size(); ++i) {
      region_points.push_back(p0 + 0.5 * (ts[i] + ts[i + 1]) * (p1 - p0));
      region_dirs.push_back(p1 - p0);
    }
  }
  std::vector<Vector> grads;
  for (const Vector& x : region_points) {
    ATTN_ASSIGN_OR_RETURN(Vector grad, ConeGradient(x));
    grads.push_back(std::move(grad));
  }
  const int units = static_cast<int>(grads.size()) - 1;
  if (units > hidden_) {
    return absl::InternalError(absl::StrCat("the path crossed ", units,
                                            " kinks, more than the ", hidden_,
                                            " hidden units the spec declares"));
  }
  Matrix jumps(d_, units);
  std::vector<double> signs(units);  // sign of c_k
  for (int k = 0; k < units; ++k) {
    jumps.col(k) = grads[k + 1] - grads[k];
    signs[k] = region_dirs[k + 1].dot(jumps.col(k)) >= 0 ? 1 : -1;
  }
  // Units active at b: the set S with sum_{k in S} D_k = -G(b).
  const Vector target = -grads.front();
  Eigen::ColPivHouseholderQR<Matrix> qr(jumps);
  const int rank = static_cast<int>(qr.rank());
  std::vector<int> basis_cols, free_cols;
  for (int i = 0; i < units; ++i) {
    (i < rank ? basis_cols : free_cols)
        .push_back(qr.colsPermutation().indices()(i));
  }
  Matrix basis_jumps(d_, rank);
  for (int i = 0; i < rank; ++i) basis_jumps.col(i) = jumps.col(basis_cols[i]);
  const Eigen::ColPivHouseholderQR<Matrix> basis_qr(basis_jumps);
  double best_dev = 1e300;
  std::vector<bool> active(units, false);
  const uint64_t trials = uint64_t{1} << free_cols.size();
  for (uint64_t mask = 0; mask < trials; ++mask) {
    Vector rest = target;
    for (size_t i = 0; i < free_cols.size(); ++i) {
      if (mask >> i & 1) rest -= jumps.col(free_cols[i]);
    }
    const Vector y = basis_qr.solve(rest);
    double dev = (basis_jumps * y - rest).norm() / (target.norm() + 1e-300);
    for (int i = 0; i < rank; ++i) {
      dev = std::max(dev, std::min(std::abs(y(i)), std::abs(y(i) - 1)));
    }
    if (dev < best_dev) {
      best_dev = dev;
      for (size_t i = 0; i < free_cols.size(); ++i) {
        active[free_cols[i]] = (mask >> i & 1) != 0;
      }
      for (int i = 0; i < rank; ++i) active[basis_cols[i]] = y(i) > 0.5;
    }
  }
  if (!(best_dev <= kIndicatorTolerance)) {
    return absl::InternalError(absl::StrFormat(
        "no orientation of the %d units found reproduces the gradient at the "
        "path's start (best indicator deviation %.3g): g is not a sum of "
        "ReLU units of the declared architecture",
        units, best_dev));
  }

  // c_k m_k = -D_k for the units active at b, D_k otherwise; each unit is
  // written as |c_k| |m_k| sign(c_k) relu(x.m_k / |m_k|).
  LayerParams params;
  HeadParams head;
  // The layer's scores are x_N^T theta x_i (queries from the last token),
  // so theta = W^T.
  head.wq = readout.w.transpose() / spec_.score_scale;
  head.wk = Matrix::Identity(d_, d_);
  head.wv = Matrix::Identity(d_, spec_.value_dim);
  head.wo = Matrix::Identity(spec_.value_dim, spec_.out_dim);
  params.heads.push_back(std::move(head));
  params.ffn.w1 = Matrix::Zero(spec_.out_dim, hidden_);
  params.ffn.w2 = Matrix::Zero(hidden_, 1);
  for (int k = 0; k < units; ++k) {
    const Vector cm = active[k] ? Vector(-jumps.col(k)) : Vector(jumps.col(k));
    const double norm = cm.norm();
    if (norm == 0) continue;
    params.ffn.w1.block(0, k, d_, 1) = cm * (signs[k] / norm);
    params.ffn.w2(k, 0) = signs[k] * norm;
  }
  // The units against every one-token answer: a fit check.
  double residual = 0, total = 0;
  for (const auto& [x, g] : seen_) {
    double predicted = 0;
    for (int k = 0; k < units; ++k) {
      predicted +=
          params.ffn.w2(k, 0) *
          std::max(0.0, x.dot(params.ffn.w1.block(0, k, d_, 1).col(0)));
    }
    residual += (g - predicted) * (g - predicted);
    total += g * g;
  }
  result.hypothesis = std::move(params);
  CurvePoint last = Spent();
  last.est_functional_rel_err =
      std::max(readout.fit_rel_err, total > 0 ? residual / total : 0);
  ReportCurvePoint(options_, last, &result);
  Say(absl::StrFormat(
      "%d of %d units from %d one-token queries on a path (%d orientation "
      "trials)",
      units, hidden_, last.queries - units_start.queries,
      static_cast<int>(trials)));
  Say(absl::StrFormat(
      "done: %d queries, %d tokens (counting bound d^2 + hidden d = %d); "
      "relative squared residual on its own answers %.3g",
      last.queries, last.tokens, d_ * d_ + hidden_ * d_,
      last.est_functional_rel_err));
  return result;
}

}  // namespace

absl::StatusOr<LearnResult> LearnFfnAntisymmetric(QueryOracle& oracle,
                                                  const LearnOptions& options) {
  return FfnAntisymmetric(oracle, options).Run();
}

}  // namespace attnoracle
