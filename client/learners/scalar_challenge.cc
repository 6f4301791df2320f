#include "client/learners/scalar_challenge.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {

std::string ScalarChallengeProblem(const ChallengeInfo& info,
                                   const ScalarDesign& design) {
  const LayerSpec& spec = info.spec;
  const AccessPolicy& policy = info.policy;
  if (!AllowsQueries(policy)) {
    return "it answers random examples only (policy.access "
           "ACCESS_EXAMPLES), and the design needs inputs of its choosing";
  }
  if (policy.answers != design.answers) {
    return absl::StrCat(
        "it answers in the form ", AnswersName(policy.answers), " (",
        *design.answers_note != '\0' ? design.answers_note : "policy.answers",
        ")");
  }
  if (policy.noise_sigma > 0) {
    return "its answers are noisy (policy.noise_sigma > 0), and the design "
           "decodes each answer once, exactly";
  }
  if (design.float64 && policy.precision != Precision::kFloat64) {
    return "its answers are rounded below float64 (policy.precision)";
  }
  if (design.full_output) {
    if (spec.readout != Readout::kAll || OutputDim(spec) != spec.d_model) {
      return "its output is not d_model numbers at every position "
             "(spec.readout READOUT_ALL, spec.out_dim d_model)";
    }
    if (spec.mask != Mask::kNone) {
      return "it masks the scores (spec.mask), and the design reads every "
             "position attending to every token";
    }
  } else if (spec.readout != Readout::kLast || OutputDim(spec) != 1) {
    return design.ffn && spec.has_ffn
               ? "its output is not one number read at the last position "
                 "(spec.readout READOUT_LAST, spec.ffn.out_dim 1)"
               : "its output is not one number read at the last position "
                 "(spec.readout READOUT_LAST, spec.out_dim 1)";
  }
  if (design.max_heads > 0 && spec.heads > design.max_heads) {
    return design.max_heads == 1
               ? absl::StrCat("it has ", spec.heads, " heads (spec.heads)")
               : absl::StrCat("it has ", spec.heads,
                              " heads (spec.heads), "
                              "above ",
                              design.max_heads);
  }
  if (spec.biases) return "it has biases (spec.biases)";
  if (design.ffn) {
    if (spec.layers > 1 || spec.residual ||
        spec.attention != Attention::kSoftmax) {
      return "it is not one softmax layer without residual (spec.layers, "
             "spec.residual, spec.attention)";
    }
    if (!spec.has_ffn) {
      return "it has no FFN block (spec.ffn); --algo scalar-exact solves it";
    }
  } else if (!IsSingleSoftmaxLayer(spec)) {
    return "it is not one softmax layer without residual or FFN block "
           "(spec.layers, spec.residual, spec.ffn, spec.attention)";
  }
  if (spec.tie_qk) return "it ties wk to wq (spec.tie_qk)";
  if (KvGroupSize(spec) > 1) {
    return "its heads share keys and values (spec.kv_heads)";
  }
  if (design.two_tokens && policy.limits.max_tokens_per_sequence < 2) {
    return "it answers one-token sequences only "
           "(policy.limits.max_tokens_per_sequence < 2)";
  }
  if (policy.limits.max_abs_input < design.min_abs_input) {
    return absl::StrCat("its inputs are limited below ", design.min_abs_input,
                        " (policy.limits.max_abs_input)");
  }
  return "";
}

absl::Status RefuseScalarChallenge(const ChallengeInfo& info,
                                   const ScalarDesign& design,
                                   const std::string& why) {
  return absl::FailedPreconditionError(
      absl::StrCat("the ", design.learner, " learner solves ", design.solves,
                   "; challenge \"", info.id, "\" does not qualify: ", why,
                   ". Nothing was spent", design.after_refusal, "."));
}

absl::Status CheckDesignBudget(const Usage& usage, uint64_t queries,
                               uint64_t tokens, const std::string& need) {
  if (usage.queries_left >= queries && usage.tokens_left >= tokens) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      need, "; this run may spend ", usage.queries_left, " queries and ",
      usage.tokens_left,
      " tokens (budget or --max_queries/--max_tokens). Nothing was spent."));
}

}  // namespace attnoracle
