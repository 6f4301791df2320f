// Reading the score matrix W of a scalar last-token head
//   h(X) = sum_i softmax(s)_i v^T x_i,   s_i = x_i^T W x_N,
// from two-token queries once v is known: the construction the scalar-exact
// and ffn-antisymmetric learners share.
//
//   ScoreReaderHooks hooks;  // optional progress callbacks
//   absl::StatusOr<ScoreReadout> r =
//       ReadScoreMatrix(v, max_scale, rng, answer, hooks);
//   // r->w is W (d x d).
//
// `answer` returns h on each two-token sequence it is given: scalar-exact
// asks the oracle, ffn-antisymmetric asks it twice (X and -X) and takes the
// difference.
#ifndef ATTNORACLE_CLIENT_LEARNERS_SCALAR_HEAD_READER_H_
#define ATTNORACLE_CLIENT_LEARNERS_SCALAR_HEAD_READER_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "client/learners/learner.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/rng.h"
#include "common/tensor.h"

namespace attnoracle {

// h on each sequence (2 x d_model, the last row the query token).
using ScalarHeadAnswers = std::function<absl::StatusOr<std::vector<double>>(
    const std::vector<Matrix>& sequences)>;

struct ScoreReaderHooks {
  // Before column j's d queries are asked.
  std::function<void(int column)> before_column = nullptr;
  // After column j is decoded: the directions' norm and the relative squared
  // error with which the hypothesis before the round (unread columns 0)
  // predicted the round's answers.
  std::function<void(int column, double scale, double heldout_rel_err)>
      after_column = nullptr;
};

struct ScoreReadout {
  Matrix w;  // d x d
  // Relative squared residual of the finished (w, v) on every answer read.
  double fit_rel_err = 0;
};

// h for a two-token query [x1; x2] under (w, v).
double PredictTwoToken(const Matrix& w, const Vector& v, const Vector& x1,
                       const Vector& x2);

// Reads W column by column with d two-token queries each (x2 = e_j, x1 =
// e_j + u_k), d^2 answers in all. Directions are scaled so the logits stay of
// order one, never past `max_scale` per direction norm. INTERNAL when an
// answer falls outside the segment its tokens' values span (the answers are
// not those of the model); `answer`'s errors are passed on.
[[nodiscard]] absl::StatusOr<ScoreReadout> ReadScoreMatrix(
    const Vector& v, double max_scale, Rng& rng,
    const ScalarHeadAnswers& answer, const ScoreReaderHooks& hooks);

// Hooks that add one curve point per column to `result` (the spend
// `spent` returns before the column's queries, the held-out error as the
// estimate) and then call `say_column` with the column, scale and error.
// `spent` and `result` must outlive the hooks.
ScoreReaderHooks CurveReportingHooks(
    std::function<CurvePoint()> spent, const LearnOptions& options,
    LearnResult* result,
    std::function<void(int column, double scale, double heldout_rel_err)>
        say_column);

// The d one-token queries [e_1] .. [e_d], each 1 x d: a lone token attends
// to itself, so [e_j] answers row j of the heads' summed value-output map.
std::vector<Matrix> BasisTokenQueries(int d);

// The head of a scalar last-token readout with scores x_N^T theta x_i and
// value v: theta's top min(head_dim, d_model) singular pairs split evenly
// between wq (over score_scale) and wk, zero-padded to head_dim; wv's first
// column v and wo's first entry 1, the rest 0.
HeadParams ScalarHeadFromScores(const LayerSpec& spec, const Matrix& theta,
                                const Vector& v);

// Relative squared error of the hypothesis' first output on `inputs`
// against `answers` (the absolute squared error when every answer is 0).
double ScalarAnswerRelErr(const LayerSpec& spec, const LayerParams& hypothesis,
                          const std::vector<Matrix>& inputs,
                          const std::vector<double>& answers);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_SCALAR_HEAD_READER_H_
