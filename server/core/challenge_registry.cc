#include "server/core/challenge_registry.h"

#include "absl/strings/str_cat.h"
#include "common/hashing.h"
#include "common/message_quote.h"
#include "common/status_macros.h"
#include "server/core/clock.h"

namespace attnoracle {
namespace {

constexpr size_t kNonceBytes = 32;

// The challenge a stored record describes; INTERNAL when its configuration
// no longer parses.
absl::StatusOr<std::shared_ptr<Challenge>> FromRecord(ChallengeRecord& r) {
  absl::StatusOr<ChallengeConfig> config = ParseChallengeConfig(r.config_text);
  if (!config.ok()) {
    return absl::InternalError(
        absl::StrCat("stored challenge \"", r.id,
                     "\" does not parse: ", config.status().message()));
  }
  return std::make_shared<Challenge>(*std::move(config), std::move(r.nonce),
                                     r.created_ms, r.phase);
}

}  // namespace

ChallengeRegistry::ChallengeRegistry(Store* store) : store_(store) {}

absl::Status ChallengeRegistry::Load() {
  ATTN_ASSIGN_OR_RETURN(std::vector<ChallengeRecord> records,
                        store_->LoadChallenges());
  for (ChallengeRecord& r : records) {
    ATTN_ASSIGN_OR_RETURN(std::shared_ptr<Challenge> challenge, FromRecord(r));
    absl::MutexLock lock(&mu_);
    challenges_[challenge->id()] = std::move(challenge);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Challenge>> ChallengeRegistry::Create(
    const ChallengeConfig& raw) {
  ATTN_ASSIGN_OR_RETURN(ChallengeConfig config, ResolveChallenge(raw));
  {
    absl::MutexLock lock(&mu_);
    if (challenges_.contains(config.id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("challenge \"", config.id, "\" already exists"));
    }
  }
  ChallengeRecord record{config.id, ChallengeConfigToText(config), Phase::kOpen,
                         RandomBytes(kNonceBytes), NowUnixMs()};
  // Drawing the secret happens before the record is stored, so a challenge
  // that cannot be built is never stored.
  auto challenge = std::make_shared<Challenge>(config, record.nonce,
                                               record.created_ms, Phase::kOpen);
  absl::Status stored = store_->InsertChallenge(record);
  if (absl::IsAlreadyExists(stored)) {
    return absl::AlreadyExistsError(
        absl::StrCat("challenge \"", config.id, "\" already exists"));
  }
  ATTN_RETURN_IF_ERROR(stored);
  absl::MutexLock lock(&mu_);
  challenges_[config.id] = challenge;
  return challenge;
}

absl::Status ChallengeRegistry::Ensure(const ChallengeConfig& raw) {
  ATTN_ASSIGN_OR_RETURN(ChallengeConfig config, ResolveChallenge(raw));
  absl::StatusOr<std::shared_ptr<Challenge>> existing = Find(config.id);
  if (!existing.ok()) {
    absl::Status created = Create(config).status();
    if (!absl::IsAlreadyExists(created)) return created;
    // Another server on a shared store stored it first: compare with its.
    ATTN_RETURN_IF_ERROR(Refresh());
    existing = Find(config.id);
    if (!existing.ok()) return created;
  }
  if (ChallengeConfigToText((*existing)->config()) !=
      ChallengeConfigToText(config)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", config.id,
        "\" in the store differs from the configuration file; a hidden "
        "layer cannot change under a running challenge (use a new id or a "
        "new --db)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Challenge>> ChallengeRegistry::Find(
    const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = challenges_.find(id);
  if (it == challenges_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no challenge ", QuoteForMessage(id)));
  }
  return it->second;
}

absl::Status ChallengeRegistry::SetPhase(const std::string& id, Phase phase) {
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<Challenge> challenge, Find(id));
  // One phase change at a time, so the stored phase and the live one agree.
  absl::MutexLock lock(&mu_);
  const Phase current = challenge->phase();
  if (static_cast<int>(phase) < static_cast<int>(current)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", id, "\" is ", PhaseName(current),
        "; phases only move forward (open -> closed -> revealed)"));
  }
  if (phase == current) return absl::OkStatus();
  // Waits for queries and submissions under way in the old phase, and for
  // the durable commits of answers computed in it.
  absl::WriterMutexLock phase_lock(&challenge->phase_mutex());
  challenge->WaitForAnswers();
  ATTN_RETURN_IF_ERROR(store_->UpdatePhase(id, phase));
  challenge->set_phase(phase);
  return absl::OkStatus();
}

absl::Status ChallengeRegistry::Refresh() {
  ATTN_ASSIGN_OR_RETURN(std::vector<ChallengeRecord> records,
                        store_->LoadChallenges());
  for (ChallengeRecord& r : records) {
    absl::StatusOr<std::shared_ptr<Challenge>> known = Find(r.id);
    if (!known.ok()) {
      ATTN_ASSIGN_OR_RETURN(std::shared_ptr<Challenge> challenge,
                            FromRecord(r));
      absl::MutexLock lock(&mu_);
      challenges_.try_emplace(challenge->id(), std::move(challenge));
      continue;
    }
    std::shared_ptr<Challenge> challenge = *std::move(known);
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(r.phase) <= static_cast<int>(challenge->phase())) {
      continue;
    }
    // As SetPhase, without writing: the store has it already.
    absl::WriterMutexLock phase_lock(&challenge->phase_mutex());
    challenge->WaitForAnswers();
    challenge->set_phase(r.phase);
  }
  return absl::OkStatus();
}

std::vector<std::shared_ptr<Challenge>> ChallengeRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Challenge>> out;
  out.reserve(challenges_.size());
  for (const auto& [id, challenge] : challenges_) out.push_back(challenge);
  return out;
}

}  // namespace attnoracle
