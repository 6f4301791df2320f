#include "server/core/challenge.h"

#include "common/hashing.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"

namespace attnoracle {

Challenge::Challenge(ChallengeConfig config, std::string nonce,
                     int64_t created_ms, Phase phase)
    : config_(std::move(config)),
      nonce_(std::move(nonce)),
      created_ms_(created_ms),
      phase_(phase),
      shared_(MakeSecret(0)) {}

void Challenge::BeginAnswer() const {
  absl::MutexLock lock(&answers_mu_);
  ++answers_in_flight_;
}

void Challenge::EndAnswer() const {
  absl::MutexLock lock(&answers_mu_);
  --answers_in_flight_;
}

void Challenge::WaitForAnswers() const {
  absl::MutexLock lock(&answers_mu_);
  answers_mu_.Await(absl::Condition(
      +[](int64_t* in_flight) { return *in_flight == 0; },
      &answers_in_flight_));
}

std::shared_ptr<const Secret> Challenge::MakeSecret(
    uint64_t stream_index) const {
  LayerParams params = DrawSecret(config_.spec, config_.prior, stream_index);
  std::string commitment = Commitment(params, nonce_);
  Scorer scorer(config_.spec, config_.prior.seed, params, config_.policy);
  return std::make_shared<const Secret>(Secret{stream_index, std::move(params),
                                               std::move(commitment),
                                               std::move(scorer)});
}

uint64_t Challenge::NoiseSeedFor(const std::string& learner) const {
  return DeriveSeed(config_.prior.seed, RngStream::kNoise,
                    learner.empty() ? 0 : LearnerStreamIndex(learner));
}

std::shared_ptr<const Secret> Challenge::SecretFor(
    const std::string& learner) const {
  if (!config_.per_learner_secrets || learner.empty()) return shared_;
  {
    absl::MutexLock lock(&mu_);
    auto it = per_learner_.find(learner);
    if (it != per_learner_.end()) return it->second;
  }
  // Drawn outside the lock; two racing callers draw the same secret.
  std::shared_ptr<const Secret> secret =
      MakeSecret(LearnerStreamIndex(learner));
  absl::MutexLock lock(&mu_);
  return per_learner_.emplace(learner, std::move(secret)).first->second;
}

ChallengeInfo Challenge::InfoFor(const std::string& learner) const {
  ChallengeInfo info;
  info.id = config_.id;
  info.title = config_.title;
  info.description = config_.description;
  info.spec = config_.spec;
  info.policy = config_.policy;
  info.phase = phase();
  info.scoring = config_.scoring;
  info.per_learner_secrets = config_.per_learner_secrets;
  // With per-learner secrets the organiser has no single secret to commit to.
  if (!config_.per_learner_secrets || !learner.empty()) {
    info.commitment = SecretFor(learner)->commitment;
  }
  return info;
}

}  // namespace attnoracle
