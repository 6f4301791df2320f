// What the published scalar-readout learners (scalar-exact, sign-bisect,
// ffn-antisymmetric, scalar-lowrank, multihead-scalar) and the exact
// full-output heads-pencil need from a challenge before they spend
// anything, and their refusals when it falls short.
//
//   ScalarDesign design{.learner = "scalar-exact", .solves = "...",
//                       .max_heads = 1};
//   std::string why = ScalarChallengeProblem(oracle.info(), design);
//   if (!why.empty()) return RefuseScalarChallenge(oracle.info(), design, why);
//
// Their designs decode exact answers of one softmax attention layer read out
// as one number at the last position (or, with full_output, at every
// position).
#ifndef ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_
#define ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/learners/query_oracle.h"

namespace attnoracle {

// One learner's design: its name and claim for the refusal message, and
// what it asks of the challenge beyond the checks every design shares.
struct ScalarDesign {
  const char* learner = "";  // "scalar-exact"
  // What it solves, from what answers ("one softmax head ... values").
  const char* solves = "";
  // The answer form the design reads, and the note in parentheses after a
  // wrong one ("policy.answers" when empty).
  Answers answers = Answers::kValues;
  const char* answers_note = "";
  // Refuse answers rounded below float64 (policy.precision).
  bool float64 = false;
  // Heads the design separates; 0 for any number.
  int max_heads = 0;
  // The layer ends in a ReLU FFN block (spec.ffn) instead of having none.
  bool ffn = false;
  // Two-token queries (policy.limits.max_tokens_per_sequence >= 2).
  bool two_tokens = false;
  // Every position read out, d_model numbers each, without a mask, instead
  // of one number at the last position.
  bool full_output = false;
  // Least policy.limits.max_abs_input the design's inputs need; 0: none.
  double min_abs_input = 0;
  // Appended to the refusal after "Nothing was spent" ("; --algo ...").
  const char* after_refusal = "";
};

// Empty when the challenge offers chosen queries answered in the design's
// form without noise, from one softmax layer (no biases, residual, stack,
// tied or shared keys; an FFN block exactly when the design has one) read
// out as one number at the last position (full_output: d_model numbers at
// every position, no mask), within the design's limits;
// otherwise why not, as a clause naming the field ("its answers are noisy
// (policy.noise_sigma > 0) ...").
std::string ScalarChallengeProblem(const ChallengeInfo& info,
                                   const ScalarDesign& design);

// FAILED_PRECONDITION saying what the design solves, which challenge does
// not qualify and `why`.
absl::Status RefuseScalarChallenge(const ChallengeInfo& info,
                                   const ScalarDesign& design,
                                   const std::string& why);

// OK when this run may still spend `queries` and `tokens`; otherwise
// RESOURCE_EXHAUSTED naming the learner's need (`need`, e.g. "needs 20
// queries (36 tokens) for d_model 4") against what is left.
absl::Status CheckDesignBudget(const Usage& usage, uint64_t queries,
                               uint64_t tokens, const std::string& need);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_
