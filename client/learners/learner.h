// Learners: algorithms that recover a hidden layer through a QueryOracle.
//
//   absl::StatusOr<LearnResult> r = RunLearner("probe", oracle, options);
//   // r->hypothesis is ready to submit.
//
// A learner uses only the oracle's answers and its public ChallengeInfo;
// progress (budget spent, current loss) goes to options.progress.
#ifndef ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_
#define ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/learners/query_oracle.h"
#include "common/layer_params.h"

namespace attnoracle {

// One point of a learning curve, estimated on the learner's side.
struct CurvePoint {
  // Spent by this run up to the point (not the challenge's total use).
  uint64_t tokens = 0;
  uint64_t queries = 0;
  // The learner's estimate of the score's functional_rel_err: relative
  // mean squared error of the hypothesis' outputs against the hidden
  // layer's, the answers' noise excluded (though measured on the learner's
  // own inputs, not the server's probe set).
  double est_functional_rel_err = 0;
  // Relative squared error against answers held out of the fit, their noise
  // included: sum ||h(x) - answer||^2 / sum ||answer||^2. Empty for learners
  // that hold out no answers (probe).
  std::optional<double> heldout_answer_rel_err;
};

// Called with each point of the curve as the learner reaches it (after each
// round of queries), before the run ends: `learn --curve` prints them.
using CurveSink = std::function<void(const CurvePoint&)>;

struct LearnOptions {
  uint64_t seed = 1;  // every random choice of the learner derives from it
  // Tokens the learner may spend; 0 means the learner's default (probe:
  // what its design needs, or under noise all that is left of the budget;
  // regress: 2,000). Never more than is left of the budget: RunLearner caps
  // a larger request and says so (LearnResult::budget_capped).
  uint64_t max_tokens = 0;
  // Queries (sequences) this run may spend; 0: no cap of its own. RunLearner
  // enforces both caps: a request past either is refused before it is sent
  // (RESOURCE_EXHAUSTED), so a learner that plans past them fails rather
  // than overspends.
  uint64_t max_queries = 0;
  // Wall-clock limit for optimisation, in seconds (regress).
  double time_limit_seconds = 60;
  std::ostream* progress = nullptr;  // null: silent
  // Receives each curve point as it is reached (null: none). Learners
  // report through ReportCurvePoint rather than calling it.
  CurveSink curve_sink = nullptr;
};

struct LearnResult {
  LayerParams hypothesis;
  std::vector<CurvePoint> curve;  // may be empty
  // options.max_tokens asked for more than was left of the budget when the
  // run started; the run spent at most what was left.
  bool budget_capped = false;
};

using LearnFunction = absl::StatusOr<LearnResult> (*)(QueryOracle&,
                                                      const LearnOptions&);

// A learner RunLearner knows: its --algo name, one line on what it does and
// what it refuses, and its entry point.
struct LearnerEntry {
  const char* name;
  const char* summary;
  LearnFunction learn;
};

// Every learner, in the order `learn --help` lists them.
std::span<const LearnerEntry> Learners();
// Their names, for messages ("probe, regress, ...").
std::string LearnerNameList();
// The entry named `name`, or null.
const LearnerEntry* FindLearner(const std::string& name);

// Exact algebraic recovery of single-head softmax attention (full-sequence
// or last-position readout, with or without causal mask; averaging under
// noise). FAILED_PRECONDITION for specs it cannot solve (several heads,
// biases, out_dim or value_dim < d_model).
[[nodiscard]] absl::StatusOr<LearnResult> LearnProbe(
    QueryOracle& oracle, const LearnOptions& options);

// Fits any spec by optimisation on random queries with analytic gradients.
[[nodiscard]] absl::StatusOr<LearnResult> LearnRegress(
    QueryOracle& oracle, const LearnOptions& options);

// Bhattamishra et al.'s exact recovery of the scalar last-token model (one
// head, READOUT_LAST, out_dim 1, no biases) in exactly d^2 + d queries.
// FAILED_PRECONDITION for other specs and for answers that are not exact
// float64 values; RESOURCE_EXHAUSTED when this run may not spend d^2 + d
// queries (2d^2 + d tokens). Both before anything is spent.
[[nodiscard]] absl::StatusOr<LearnResult> LearnScalarExact(
    QueryOracle& oracle, const LearnOptions& options);

// Bhattamishra et al.'s membership-query recovery of the same model from
// sign answers (ANSWERS_SIGN): v as a unit vector (signs do not fix its
// scale) and W, each number by kBits = 40 bisection steps, (d^2 + d - 1) 40
// + 1 queries. FAILED_PRECONDITION for other specs and answer forms,
// RESOURCE_EXHAUSTED when this run may not spend that many; both before
// anything is spent.
[[nodiscard]] absl::StatusOr<LearnResult> LearnSignBisect(
    QueryOracle& oracle, const LearnOptions& options);

// Bhattamishra et al.'s low-rank scalar head: v from d one-token queries,
// then Theta (rank head_dim < d_model) by matrix sensing on 2-token
// queries, 2 (r (2d - r) + d) queries in all. FAILED_PRECONDITION unless one
// head of head_dim < d_model read out as one number at the last position
// with exact values (scalar_challenge.h); RESOURCE_EXHAUSTED up front when
// the budget or caps cannot cover the design.
[[nodiscard]] absl::StatusOr<LearnResult> LearnScalarLowRank(
    QueryOracle& oracle, const LearnOptions& options);

// After Kim, Kim, Guo: H heads read out as one number at the last position,
// from exactly 4 H d^2 - 2H + 1 queries of at most 2H + 1 tokens (a token
// repeated m times before the query token; rational interpolation in m).
// FAILED_PRECONDITION unless the challenge is such a layer with exact
// values (scalar_challenge.h) and at most 4 heads; RESOURCE_EXHAUSTED up
// front when the budget or caps cannot cover the design; INTERNAL when two
// heads cannot be told apart on the design (another seed helps).
[[nodiscard]] absl::StatusOr<LearnResult> LearnMultiheadScalar(
    QueryOracle& oracle, const LearnOptions& options);

// Beyond the papers: H softmax heads of a scalar last-token readout from
// about 1.1-1.2 times the counting bound H (d^2 + d) in one- and two-token
// queries, fitted token by token (multihead_local.cc). FAILED_PRECONDITION
// unless the challenge is such a layer with exact float64 values
// (scalar_challenge.h); RESOURCE_EXHAUSTED up front when the budget or caps
// cannot give every token as many answers as unknowns.
[[nodiscard]] absl::StatusOr<LearnResult> LearnMultiheadLocal(
    QueryOracle& oracle, const LearnOptions& options);

// Beyond the papers: two softmax heads read out at every position, with
// 2 value_dim = d_model, by linear algebra alone: S = Omega_1 + Omega_2
// from d one-token queries, the two heads' value subspaces from the pencil
// of skew forms that two-token answers define, then every weight of
// sequences of value_dim + 1 tokens, whose logs are linear measurements of
// each Theta_h (heads_pencil.cc). FAILED_PRECONDITION unless the challenge
// is such a layer with exact float64 values; RESOURCE_EXHAUSTED up front
// when the budget or caps cannot cover the least design; INTERNAL when the
// pencil does not split the heads (another seed helps).
[[nodiscard]] absl::StatusOr<LearnResult> LearnHeadsPencil(
    QueryOracle& oracle, const LearnOptions& options);

// The practical reference for Chen & Li's random examples: least squares on
// examples the server draws (LearnRegress). FAILED_PRECONDITION, before
// anything is spent, unless the policy offers examples only
// (ACCESS_EXAMPLES) answered with values and the spec is one softmax layer
// with full-sequence or scalar last-token output.
[[nodiscard]] absl::StatusOr<LearnResult> LearnExamplesRegress(
    QueryOracle& oracle, const LearnOptions& options);

// Bhattamishra et al.'s recovery of a one-layer transformer: one softmax
// head read at the last position, then a ReLU FFN block without biases or
// residual and one output. The attention from the antisymmetric part
// f(X) - f(-X) (2d^2 + 2d queries), the units up to permutation and positive
// rescaling from the kinks of one-token answers on a path (adaptive, about
// (hidden + 1)(d + 1) plus the search's queries). FAILED_PRECONDITION for
// other specs, for more than d_model + 20 hidden units and for answers that
// are not exact float64 values; RESOURCE_EXHAUSTED when this run may not
// spend the least it needs. Both before anything is spent.
[[nodiscard]] absl::StatusOr<LearnResult> LearnFfnAntisymmetric(
    QueryOracle& oracle, const LearnOptions& options);

// Dispatch by name (Learners()). INVALID_ARGUMENT for an unknown name,
// listing the known ones. A max_tokens above what is left of the budget is
// capped to it, with a line on options.progress and budget_capped set. The
// learner sees the oracle through a CappedOracle holding it to max_queries
// and max_tokens.
[[nodiscard]] absl::StatusOr<LearnResult> RunLearner(
    const std::string& algo, QueryOracle& oracle, const LearnOptions& options);

// For learners: what this run has spent since `start` (its usage when the
// run began), as a curve point without estimates.
CurvePoint SpentSince(const QueryOracle& oracle, const Usage& start);

// For learners: "learner: line" on options.progress, if any.
void SayProgress(const LearnOptions& options, const char* learner,
                 const std::string& line);

// For learners: appends `point` to result->curve and passes it to the run's
// sink, if any.
void ReportCurvePoint(const LearnOptions& options, const CurvePoint& point,
                      LearnResult* result);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_
