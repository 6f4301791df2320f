// The scalar-exact learner (Bhattamishra, Shah, Hahn, Kanade): exact
// recovery of the scalar last-token model
//   f(X) = sum_i softmax(s)_i v^T x_i,   s_i = x_i^T W x_N,
// in exactly d^2 + d queries, the counting bound of the model.
//
// A lone token attends to itself, so the one-token query e_j answers v_j.
// A two-token query [x1; x2] (x2 last) answers
//   f = v.x2 + sigmoid(s1 - s2) (v.x1 - v.x2),  s1 - s2 = (x1 - x2)^T W x2,
// so with x2 = e_j and x1 = e_j + u_k the answer gives p = sigmoid(u_k^T W
// e_j), and the logit log(p / (1 - p)) = u_k^T W e_j. d such queries with
// linearly independent u_k give the column W e_j.
//
// Precision: p and 1 - p are each computed as a difference of the answer
// with a known value ((f - v.x2) and (v.x1 - f)), never as 1 - p, so a p
// near 1 keeps its relative precision; the u_k are drawn with |v.u_k| not
// small against |v| |u_k|, and scaled so that the logits stay of order one
// (column 0 at unit scale, later columns from the norms already read).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// The u_k are redrawn until |v.u_k| >= kMinValueAlignment |v| |u_k|, so the
// decoded weight p is never a ratio of two tiny differences.
constexpr double kMinValueAlignment = 0.2;
// Root mean square logit u_k^T W e_j aimed at: well inside the sigmoid's
// sensitive range (p between 0.1 and 0.9 for most queries).
constexpr double kTargetRmsLogit = 1.0;
// Entries of x1 = e_j + u_k stay within this share of max_abs_input.
constexpr double kInputHeadroom = 0.5;

absl::Status CheckSolvable(const ChallengeInfo& info) {
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  std::string why;
  if (!AllowsQueries(policy)) {
    why = "it answers random examples only (policy.access ACCESS_EXAMPLES)";
  } else if (policy.answers != Answers::kValues) {
    why = absl::StrCat("it answers in the form ", AnswersName(policy.answers),
                       ", not values");
  } else if (policy.noise_sigma > 0 ||
             policy.precision != Precision::kFloat64) {
    why = "its answers are noisy or rounded below float64";
  } else if (spec.readout != Readout::kLast || OutputDim(spec) != 1) {
    why =
        "its output is not one number read at the last position "
        "(spec.readout READOUT_LAST, spec.out_dim 1)";
  } else if (spec.heads != 1) {
    why = absl::StrCat("it has ", spec.heads, " heads");
  } else if (spec.biases) {
    why = "it has biases";
  } else if (!IsSingleSoftmaxLayer(spec)) {
    why = "it is not one softmax layer without residual or FFN block";
  } else if (spec.tie_qk) {
    why = "it ties wk to wq";
  } else if (policy.limits.max_tokens_per_sequence < 2) {
    why =
        "it answers one-token sequences only "
        "(policy.limits.max_tokens_per_sequence < 2)";
  } else if (policy.limits.max_abs_input < 2) {
    why = "its inputs are limited below 2 (policy.limits.max_abs_input)";
  }
  if (why.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the scalar-exact learner solves one softmax head without biases read "
      "out as one number at the last position, from chosen queries answered "
      "with exact float64 values; challenge \"",
      info.id, "\" does not qualify: ", why,
      ". Nothing was spent; --algo regress fits any spec."));
}

LayerParams Hypothesis(const LayerSpec& spec, const Matrix& w,
                       const Vector& v) {
  HeadParams head;
  // The layer's scores are x_N^T theta x_i (queries from the last token),
  // so theta = W^T.
  head.wq = w.transpose() / spec.score_scale;
  head.wk = Matrix::Identity(spec.d_model, spec.d_model);
  head.wv = v;  // d x 1
  head.wo = Matrix::Ones(1, 1);
  LayerParams params;
  params.heads.push_back(std::move(head));
  return params;
}

// f for a two-token query [x1; x2] under (w, v).
double Predict(const Matrix& w, const Vector& v, const Vector& x1,
               const Vector& x2) {
  const double logit = (x1 - x2).dot(w * x2);
  const double p = 1 / (1 + std::exp(-logit));
  return v.dot(x2) + p * (v.dot(x1) - v.dot(x2));
}

class ScalarExact {
 public:
  ScalarExact(QueryOracle& oracle, const LearnOptions& options)
      : oracle_(oracle),
        options_(options),
        spec_(oracle.info().spec),
        d_(spec_.d_model),
        start_(oracle.usage()),
        rng_(DeriveSeed(options.seed, RngStream::kLearner, 0)) {}

  absl::StatusOr<LearnResult> Run();

 private:
  void Say(const std::string& line) {
    if (options_.progress != nullptr) {
      *options_.progress << "scalar-exact: " << line << "\n";
    }
  }
  CurvePoint Spent() const {
    const Usage now = oracle_.usage();
    CurvePoint point;
    point.queries = now.queries_used - start_.queries_used;
    point.tokens = now.tokens_used - start_.tokens_used;
    return point;
  }
  // d directions (columns) u_k of norm `scale`, each with |v.u_k| >=
  // kMinValueAlignment |v| |u_k|, linearly independent.
  Matrix DrawDirections(const Vector& v, double scale);

  QueryOracle& oracle_;
  const LearnOptions& options_;
  const LayerSpec& spec_;
  const int d_;
  const Usage start_;
  Rng rng_;
};

Matrix ScalarExact::DrawDirections(const Vector& v, double scale) {
  Matrix u(d_, d_);
  for (;;) {
    for (int k = 0; k < d_; ++k) {
      Vector r(d_);
      do {
        for (int i = 0; i < d_; ++i) r(i) = rng_.NextGaussian();
      } while (std::abs(v.dot(r)) < kMinValueAlignment * v.norm() * r.norm());
      u.col(k) = r * (scale / r.norm());
    }
    // Gaussian draws are independent almost surely; the check costs nothing
    // against a wasted column.
    const Eigen::JacobiSVD<Matrix> svd(u);
    const Vector sv = svd.singularValues();
    if (sv(d_ - 1) > 1e-3 * sv(0)) return u;
  }
}

absl::StatusOr<LearnResult> ScalarExact::Run() {
  ATTN_RETURN_IF_ERROR(CheckSolvable(oracle_.info()));
  const uint64_t queries = static_cast<uint64_t>(d_) * d_ + d_;
  const uint64_t tokens = 2 * static_cast<uint64_t>(d_) * d_ + d_;
  const Usage usage = oracle_.usage();
  if (usage.queries_left < queries || usage.tokens_left < tokens) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "scalar-exact needs ", queries, " queries (", tokens,
        " tokens) for d_model ", d_, "; this run may spend ",
        usage.queries_left, " queries and ", usage.tokens_left,
        " tokens (budget or --max_queries/--max_tokens). Nothing was spent."));
  }
  LearnResult result;

  // v from the one-token queries e_j.
  std::vector<Matrix> sequences;
  for (int j = 0; j < d_; ++j) {
    sequences.push_back(Matrix::Zero(1, d_));
    sequences.back()(0, j) = 1;
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle_, sequences));
  Vector v(d_);
  for (int j = 0; j < d_; ++j) v(j) = answers[j](0, 0);
  if (v.norm() == 0) {
    // Every answer is then 0 whatever W is: the zero function is exact.
    Say("v = 0: the layer answers 0 everywhere");
  }
  Matrix w = Matrix::Zero(d_, d_);
  Say(absl::StrCat("v from ", d_, " one-token queries"));

  const double max_scale =
      kInputHeadroom * oracle_.info().policy.limits.max_abs_input;
  double column_norm_sum = 0;
  struct Asked {
    Vector x1, x2;
    double f;
  };
  std::vector<Asked> asked;
  for (int j = 0; j < d_; ++j) {
    // Logits u^T W e_j have root mean square |u| |W e_j| / sqrt(d) for
    // random directions; the columns read so far stand in for |W e_j|.
    double scale = 1;
    if (j > 0 && column_norm_sum > 0) {
      scale = kTargetRmsLogit * std::sqrt(static_cast<double>(d_)) /
              (column_norm_sum / j);
    }
    scale = std::min(scale, max_scale);
    const Matrix u =
        DrawDirections(v.norm() > 0 ? v : Vector::Ones(d_).eval(), scale);
    const Vector x2 = Vector::Unit(d_, j);
    sequences.clear();
    for (int k = 0; k < d_; ++k) {
      Matrix x(2, d_);
      x.row(0) = (x2 + u.col(k)).transpose();
      x.row(1) = x2.transpose();
      sequences.push_back(std::move(x));
    }
    const CurvePoint before = Spent();
    ATTN_ASSIGN_OR_RETURN(answers, QueryInBatches(oracle_, sequences));
    // The hypothesis so far (W's unread columns 0) predicts this round's
    // answers before they are decoded: a held-out estimate of its error.
    double residual = 0, total = 0;
    Vector logits(d_);
    for (int k = 0; k < d_; ++k) {
      const Vector x1 = x2 + u.col(k);
      const double f = answers[k](0, 0);
      asked.push_back({x1, x2, f});
      const double r = f - Predict(w, v, x1, x2);
      residual += r * r;
      total += f * f;
      // p = (f - v.x2) / (v.x1 - v.x2), 1 - p = (v.x1 - f) / (v.x1 - v.x2).
      const double above = f - v.dot(x2);
      const double below = v.dot(x1) - f;
      if (v.norm() == 0) {
        logits(k) = 0;
        continue;
      }
      if (!(above / (above + below) > 0) || !(below / (above + below) > 0)) {
        return absl::InternalError(absl::StrCat(
            "a two-token answer fell outside the segment its tokens' values "
            "span (column ",
            j, ", direction ", k,
            "): the answers are not those of the scalar last-token model"));
      }
      logits(k) = std::log(above / below);
    }
    w.col(j) = u.transpose().colPivHouseholderQr().solve(logits);
    column_norm_sum += w.col(j).norm();
    CurvePoint point = before;
    point.est_functional_rel_err = total > 0 ? residual / total : 0;
    point.heldout_answer_rel_err = point.est_functional_rel_err;
    ReportCurvePoint(options_, point, &result);
    Say(absl::StrFormat(
        "column %d of W from %d two-token queries at |u| = %.3g; the "
        "hypothesis before them missed their answers by %.3g (relative "
        "squared error)",
        j, d_, scale, point.est_functional_rel_err));
  }
  result.hypothesis = Hypothesis(spec_, w, v);
  // The finished hypothesis against every answer it was decoded from: a fit
  // check (0 up to rounding when the answers are the model's).
  double residual = 0, total = 0;
  for (const Asked& a : asked) {
    const double r = a.f - Predict(w, v, a.x1, a.x2);
    residual += r * r;
    total += a.f * a.f;
  }
  CurvePoint last = Spent();
  last.est_functional_rel_err = total > 0 ? residual / total : 0;
  ReportCurvePoint(options_, last, &result);
  Say(absl::StrFormat(
      "done: %d queries, %d tokens (d^2 + d = %d); relative squared "
      "residual on its own answers %.3g",
      last.queries, last.tokens, queries, last.est_functional_rel_err));
  return result;
}

}  // namespace

absl::StatusOr<LearnResult> LearnScalarExact(QueryOracle& oracle,
                                             const LearnOptions& options) {
  return ScalarExact(oracle, options).Run();
}

}  // namespace attnoracle
