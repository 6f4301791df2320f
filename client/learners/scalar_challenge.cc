#include "client/learners/scalar_challenge.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {

std::string ScalarChallengeProblem(const ChallengeInfo& info) {
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  if (!AllowsQueries(policy)) {
    return "it answers random examples only (policy.access "
           "ACCESS_EXAMPLES), and the design needs inputs of its choosing";
  }
  if (policy.answers != Answers::kValues) {
    return absl::StrCat("it answers in the form ", AnswersName(policy.answers),
                        " (policy.answers), and the design decodes whole "
                        "answered values");
  }
  if (policy.noise_sigma > 0) {
    return "its answers carry noise (policy.noise_sigma > 0), and the "
           "design decodes each answer once, exactly";
  }
  if (spec.readout != Readout::kLast || spec.out_dim != 1) {
    return "it is not read out as one number at the last position "
           "(spec.readout READOUT_LAST with spec.out_dim 1)";
  }
  if (spec.biases) return "it has biases (spec.biases)";
  if (!IsSingleSoftmaxLayer(spec)) {
    return "it is not one softmax layer without residual or FFN block "
           "(spec.layers, spec.residual, spec.ffn, spec.attention)";
  }
  if (spec.tie_qk) return "it ties wk to wq (spec.tie_qk)";
  if (KvGroupSize(spec) > 1) {
    return "its heads share keys and values (spec.kv_heads)";
  }
  return "";
}

}  // namespace attnoracle
