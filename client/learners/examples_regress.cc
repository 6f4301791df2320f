// The examples-regress learner: the practical reference for Chen & Li's
// random-example setting. Their algorithm runs in (dk)^{O(m^3)} time; this
// one fits the layer by least squares on the examples the server draws
// (LearnRegress, which samples when the policy offers only examples). It
// checks the challenge is such a setting before anything is spent, then
// delegates.
#include <string>

#include "absl/strings/str_cat.h"
#include "client/learners/learner.h"

namespace attnoracle {

absl::StatusOr<LearnResult> LearnExamplesRegress(QueryOracle& oracle,
                                                 const LearnOptions& options) {
  const ChallengeInfo& info = oracle.info();
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  std::string why;
  if (policy.access != Access::kExamples) {
    why =
        "it offers chosen queries (policy.access is not ACCESS_EXAMPLES); "
        "use --algo regress or a query learner";
  } else if (policy.answers != Answers::kValues) {
    why = absl::StrCat("it answers in the form ", AnswersName(policy.answers),
                       " (policy.answers), and the fit needs values");
  } else if (spec.readout == Readout::kLast && spec.out_dim != 1) {
    why =
        "it is read out at the last position as a vector (spec.readout "
        "READOUT_LAST with spec.out_dim above 1): neither Chen & Li's scalar "
        "nor their full-sequence setting";
  } else if (!IsSingleSoftmaxLayer(spec)) {
    why =
        "it is not one softmax layer without residual or FFN block "
        "(spec.layers, spec.residual, spec.ffn, spec.attention)";
  }
  if (!why.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "examples-regress fits one softmax attention layer (scalar "
        "last-token or full-sequence output) from random examples answered "
        "with values; challenge \"",
        info.id, "\" does not qualify: ", why, "; nothing was spent"));
  }
  if (options.progress != nullptr) {
    *options.progress << "examples-regress: least squares on random "
                         "examples (regress)"
                      << std::endl;
  }
  return LearnRegress(oracle, options);
}

}  // namespace attnoracle
