#include "client/learners/learner.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace attnoracle {

absl::StatusOr<LearnResult> RunLearner(const std::string& algo,
                                       QueryOracle& oracle,
                                       const LearnOptions& options) {
  absl::StatusOr<LearnResult> (*learn)(QueryOracle&, const LearnOptions&) =
      nullptr;
  if (algo == "probe") learn = LearnProbe;
  if (algo == "regress") learn = LearnRegress;
  if (learn == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown learner \"", algo,
                     "\"; known: ", absl::StrJoin(kLearnerNames, ", ")));
  }
  // The learners never spend more than is left anyway; the cap is made
  // explicit so a budget study does not mistake it for the spend it asked.
  LearnOptions capped = options;
  const uint64_t left = oracle.usage().tokens_left;
  const bool over = options.max_tokens > left;
  if (over) {
    // max_tokens 0 would mean the learner's default; the learner finds
    // nothing left either way.
    capped.max_tokens = left;
    if (options.progress != nullptr) {
      *options.progress << "learn: asked for " << options.max_tokens
                        << (options.max_tokens == 1 ? " token" : " tokens")
                        << " but only " << left << (left == 1 ? " is" : " are")
                        << " left; this run spends at most " << left << "\n";
    }
  }
  absl::StatusOr<LearnResult> result = learn(oracle, capped);
  if (result.ok()) result->budget_capped = over;
  return result;
}

}  // namespace attnoracle
