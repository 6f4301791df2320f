// ChallengeRegistry: the challenges a server hosts, kept in the Store so
// that a restart serves the very same hidden layers.
//
//   ChallengeRegistry registry(&store);
//   absl::Status s = registry.Load();                // what the store holds
//   s = registry.Ensure(config);                     // from a config file
//   absl::StatusOr<std::shared_ptr<Challenge>> c = registry.Find("tiny-d4");
//
// Thread-safe. The store must outlive the registry.
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
#include "server/core/challenge.h"
#include "server/core/store.h"

namespace attnoracle {

class ChallengeRegistry {
 public:
  explicit ChallengeRegistry(Store* store);

  // Loads every challenge the store holds. INTERNAL when a stored config no
  // longer parses.
  [[nodiscard]] absl::Status Load();
  // Applies what other servers sharing the store changed: adds challenges
  // it holds that this registry lacks, and moves phases forward to the
  // stored ones (waiting, as SetPhase does, for answers in flight).
  [[nodiscard]] absl::Status Refresh();

  // Creates the challenge (fresh random nonce, phase open) and stores it.
  // INVALID_ARGUMENT for a bad config, ALREADY_EXISTS when the id is taken.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<Challenge>> Create(
      const ChallengeConfig& config);

  // Creates the challenge unless the store already has it; an existing one
  // must have exactly this configuration (FAILED_PRECONDITION otherwise: a
  // hidden layer never changes under a running competition).
  [[nodiscard]] absl::Status Ensure(const ChallengeConfig& config);

  // NOT_FOUND naming the id when there is no such challenge.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<Challenge>> Find(
      const std::string& id) const;

  // Phases only move forward: open -> closed -> revealed (open -> revealed
  // closes on the way). FAILED_PRECONDITION for a step back; the new phase
  // is stored before it takes effect.
  [[nodiscard]] absl::Status SetPhase(const std::string& id, Phase phase);

  // Every challenge, ordered by id.
  std::vector<std::shared_ptr<Challenge>> List() const;

 private:
  Store* store_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Challenge>> challenges_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_CHALLENGE_REGISTRY_H_
