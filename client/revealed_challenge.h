// RevealedChallenge: what GetReveal discloses once a challenge is revealed,
// as domain types: everything needed to recompute the commitment and to
// replay a learner's transcript (client/verify.h).
//
//   absl::StatusOr<RevealedChallenge> r = client->GetReveal("tiny-d4");
//   Matrix y = Forward(r->config.spec, r->secret, x);
#ifndef ATTNORACLE_CLIENT_REVEALED_CHALLENGE_H_
#define ATTNORACLE_CLIENT_REVEALED_CHALLENGE_H_

#include <cstdint>
#include <string>

#include "common/challenge_config.h"
#include "common/layer_params.h"

namespace attnoracle {

struct RevealedChallenge {
  ChallengeConfig config;  // resolved: spec and policy with defaults filled
  LayerParams secret;      // the caller's (or the named learner's) secret
  std::string nonce;       // raw bytes of the commitment's nonce
  uint64_t prior_seed = 0;
  uint64_t noise_seed = 0;  // the learner's: keys the noise of its answers
  std::string commitment;   // raw SHA-256, as the server says it published it
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_REVEALED_CHALLENGE_H_
