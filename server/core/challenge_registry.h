// ChallengeRegistry: the challenges a server hosts, each with its secret.
//
//   ChallengeRegistry registry;
//   absl::Status s = registry.Add(config);   // draws the secret from the prior
//   absl::StatusOr<std::shared_ptr<const Challenge>> c =
//   registry.Find("tiny-d4");
//
// Thread-safe. Challenges are immutable once added; a caller holding a
// shared_ptr keeps a consistent view even if the registry changes.
#ifndef ATTNORACLE_SERVER_CORE_CHALLENGE_REGISTRY_H_
#define ATTNORACLE_SERVER_CORE_CHALLENGE_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"

namespace attnoracle {

struct Challenge {
  ChallengeConfig config;  // resolved
  LayerParams secret;
  Phase phase = Phase::kOpen;
  uint64_t noise_seed = 0;

  ChallengeInfo Info() const;
};

class ChallengeRegistry {
 public:
  // Resolves `config` and draws its secret. INVALID_ARGUMENT for a bad config,
  // ALREADY_EXISTS when the id is taken.
  [[nodiscard]] absl::Status Add(const ChallengeConfig& config);

  // NOT_FOUND naming the id when there is no such challenge.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Challenge>> Find(
      const std::string& id) const;

  // Every challenge, ordered by id.
  std::vector<std::shared_ptr<const Challenge>> List() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Challenge>> challenges_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_CHALLENGE_REGISTRY_H_
