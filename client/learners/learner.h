// Learners: algorithms that recover a hidden layer through a QueryOracle.
//
//   absl::StatusOr<LearnResult> r = RunLearner("probe", oracle, options);
//   // r->hypothesis is ready to submit.
//
// A learner uses only the oracle's answers and its public ChallengeInfo;
// progress (budget spent, current loss) goes to options.progress.
#ifndef ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_
#define ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/learners/query_oracle.h"
#include "common/layer_params.h"

namespace attnoracle {

struct LearnOptions {
  uint64_t seed = 1;  // every random choice of the learner derives from it
  // Tokens the learner may spend; 0 means the learner's default (probe:
  // what its design needs, or under noise all that is left of the budget;
  // regress: 2,000). Never more than is left of the budget: RunLearner caps
  // a larger request and says so (LearnResult::budget_capped).
  uint64_t max_tokens = 0;
  // Wall-clock limit for optimisation, in seconds (regress).
  double time_limit_seconds = 60;
  std::ostream* progress = nullptr;  // null: silent
};

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

struct LearnResult {
  LayerParams hypothesis;
  std::vector<CurvePoint> curve;  // may be empty
  // options.max_tokens asked for more than was left of the budget when the
  // run started; the run spent at most what was left.
  bool budget_capped = false;
};

// The names RunLearner knows.
inline constexpr std::array<const char*, 2> kLearnerNames = {"probe",
                                                             "regress"};

// Exact algebraic recovery of single-head softmax attention (full-sequence
// or last-position readout, with or without causal mask; averaging under
// noise). FAILED_PRECONDITION for specs it cannot solve (several heads,
// biases, out_dim or value_dim < d_model).
[[nodiscard]] absl::StatusOr<LearnResult> LearnProbe(
    QueryOracle& oracle, const LearnOptions& options);

// Fits any spec by optimisation on random queries with analytic gradients.
[[nodiscard]] absl::StatusOr<LearnResult> LearnRegress(
    QueryOracle& oracle, const LearnOptions& options);

// Dispatch by name (kLearnerNames). INVALID_ARGUMENT for an unknown name,
// listing the known ones. A max_tokens above what is left of the budget is
// capped to it, with a line on options.progress and budget_capped set.
[[nodiscard]] absl::StatusOr<LearnResult> RunLearner(
    const std::string& algo, QueryOracle& oracle, const LearnOptions& options);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_LEARNER_H_
