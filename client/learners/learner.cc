#include "client/learners/learner.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {

absl::StatusOr<LearnResult> RunLearner(const std::string& algo,
                                       QueryOracle& oracle,
                                       const LearnOptions& options) {
  if (algo == "probe") return LearnProbe(oracle, options);
  if (algo == "regress") return LearnRegress(oracle, options);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown learner \"", algo, "\"; known: probe, regress"));
}

}  // namespace attnoracle
