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
#include "client/learners/scalar_challenge.h"
#include "client/learners/scalar_head_reader.h"
#include "client/learners/scalar_learner.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Entries of x1 = e_j + u_k stay within this share of max_abs_input.
constexpr double kExactHeadroom = 0.5;

const ScalarDesign kExactDesign{
    .learner = "scalar-exact",
    .solves =
        "one softmax head without biases read out as one number at the "
        "last position, from chosen queries answered with exact float64 "
        "values",
    .float64 = true,
    .max_heads = 1,
    .two_tokens = true,
    .min_abs_input = 2,
    .after_refusal = "; --algo regress fits any spec"};

LayerParams ExactHypothesis(const LayerSpec& spec, const Matrix& w,
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

class ScalarExact : public ScalarLearner {
 public:
  ScalarExact(QueryOracle& oracle, const LearnOptions& options)
      : ScalarLearner(oracle, options, kExactDesign) {}

  absl::StatusOr<LearnResult> Run();
};

absl::StatusOr<LearnResult> ScalarExact::Run() {
  ATTN_RETURN_IF_ERROR(CheckChallenge());
  const uint64_t queries = static_cast<uint64_t>(d_) * d_ + d_;
  const uint64_t tokens = 2 * static_cast<uint64_t>(d_) * d_ + d_;
  ATTN_RETURN_IF_ERROR(
      CheckBudget(queries, tokens,
                  absl::StrCat("scalar-exact needs ", queries, " queries (",
                               tokens, " tokens) for d_model ", d_)));
  LearnResult result;

  // v from the one-token queries e_j.
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                        QueryInBatches(oracle_, BasisTokenQueries(d_)));
  Vector v(d_);
  for (int j = 0; j < d_; ++j) v(j) = answers[j](0, 0);
  if (v.norm() == 0) {
    // Every answer is then 0 whatever W is: the zero function is exact.
    Say("v = 0: the layer answers 0 everywhere");
  }
  Say(absl::StrCat("v from ", d_, " one-token queries"));

  const double max_scale =
      kExactHeadroom * oracle_.info().policy.limits.max_abs_input;
  const ScoreReaderHooks hooks = CurveReportingHooks(
      [this] { return Spent(); }, options_, &result,
      [this](int j, double scale, double heldout) {
        Say(absl::StrFormat(
            "column %d of W from %d two-token queries at |u| = %.3g; the "
            "hypothesis before them missed their answers by %.3g (relative "
            "squared error)",
            j, d_, scale, heldout));
      });
  const ScalarHeadAnswers answer = [&](const std::vector<Matrix>& seqs)
      -> absl::StatusOr<std::vector<double>> {
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> got,
                          QueryInBatches(oracle_, seqs));
    std::vector<double> values;
    for (const Matrix& a : got) values.push_back(a(0, 0));
    return values;
  };
  ATTN_ASSIGN_OR_RETURN(ScoreReadout readout,
                        ReadScoreMatrix(v, max_scale, rng_, answer, hooks));
  const Matrix& w = readout.w;
  result.hypothesis = ExactHypothesis(spec_, w, v);
  // The finished hypothesis against every answer it was decoded from: a fit
  // check (0 up to rounding when the answers are the model's).
  CurvePoint last = Spent();
  last.est_functional_rel_err = readout.fit_rel_err;
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
