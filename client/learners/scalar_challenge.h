// What the published scalar-readout learners (scalar-lowrank,
// multihead-scalar) need from a challenge before they spend anything.
//
//   std::string why = ScalarChallengeProblem(oracle.info());
//   if (!why.empty()) return absl::FailedPreconditionError(...why...);
//
// Their designs decode exact answered values of one softmax attention layer
// read out as one number at the last position.
#ifndef ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_
#define ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_

#include <string>

#include "client/learners/query_oracle.h"

namespace attnoracle {

// Empty when the challenge offers chosen queries answered with noise-free
// values of one softmax layer (no biases, residual, FFN block, stack, tied
// or shared keys) with READOUT_LAST and out_dim 1; otherwise why not, as a
// clause naming the field ("policy.noise_sigma is 0.1 ...").
std::string ScalarChallengeProblem(const ChallengeInfo& info);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_SCALAR_CHALLENGE_H_
