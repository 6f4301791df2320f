#include "server/core/challenge_registry.h"

#include "absl/strings/str_cat.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/status_macros.h"

namespace attnoracle {

ChallengeInfo Challenge::Info() const {
  return ChallengeInfo{config.id,        config.title,  config.description,
                       config.spec,      config.policy, phase,
                       /*commitment=*/""};
}

absl::Status ChallengeRegistry::Add(const ChallengeConfig& raw) {
  ATTN_ASSIGN_OR_RETURN(ChallengeConfig config, ResolveChallenge(raw));
  auto challenge = std::make_shared<Challenge>();
  challenge->secret = DrawSecret(config.spec, config.prior);
  challenge->noise_seed = DeriveSeed(config.prior.seed, RngStream::kNoise, 0);
  challenge->config = std::move(config);
  const std::string id = challenge->config.id;
  absl::MutexLock lock(&mu_);
  if (!challenges_.emplace(id, std::move(challenge)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("challenge \"", id, "\" already exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Challenge>> ChallengeRegistry::Find(
    const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = challenges_.find(id);
  if (it == challenges_.end()) {
    return absl::NotFoundError(absl::StrCat("no challenge \"", id, "\""));
  }
  return it->second;
}

std::vector<std::shared_ptr<const Challenge>> ChallengeRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<const Challenge>> out;
  out.reserve(challenges_.size());
  for (const auto& [id, challenge] : challenges_) out.push_back(challenge);
  return out;
}

}  // namespace attnoracle
