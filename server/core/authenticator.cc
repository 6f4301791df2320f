#include "server/core/authenticator.h"

#include "absl/strings/str_cat.h"
#include "common/challenge_config.h"
#include "common/hashing.h"
#include "common/message_quote.h"
#include "common/status_macros.h"
#include "server/core/clock.h"

namespace attnoracle {
namespace {

constexpr size_t kTokenBytes = 24;
constexpr char kTokenPrefix[] = "ao_";

}  // namespace

Authenticator::Authenticator(Store* store, std::string admin_token,
                             OpenLearnerOptions open_learners)
    : store_(store),
      admin_token_hash_(admin_token.empty() ? "" : Sha256(admin_token)),
      open_learners_(open_learners) {}

absl::Status Authenticator::Load() {
  if (open_learners_.enabled && competition_mode()) {
    return absl::InvalidArgumentError(
        "open learner names (--open_learner_ids) are for open mode; a "
        "competition knows its learners by their tokens");
  }
  if (open_learners_.enabled && open_learners_.max_learners < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_open_learners = ", open_learners_.max_learners,
                     " must be at least 1"));
  }
  ATTN_ASSIGN_OR_RETURN(std::vector<LearnerRecord> learners,
                        store_->LoadLearners());
  std::vector<UsageRecord> usage;
  if (open_learners_.enabled) {
    ATTN_ASSIGN_OR_RETURN(usage, store_->LoadUsage());
  }
  absl::MutexLock lock(&mu_);
  for (LearnerRecord& r : learners) {
    hash_by_name_[r.name] = r.token_hash;
    by_token_hash_[r.token_hash] = std::move(r);
  }
  // Names that spent budget before a restart are still those learners.
  for (const UsageRecord& u : usage) {
    if (u.learner != kAnonymousLearner && !hash_by_name_.contains(u.learner)) {
      open_names_.insert(u.learner);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Principal> Authenticator::OpenLearner(
    absl::string_view name) const {
  if (!open_learners_.enabled) {
    return absl::FailedPreconditionError(
        "this server does not take learner names: every caller is "
        "\"anonymous\" (the organiser can start it with --open_learner_ids; "
        "leave out oracle-client --learner and ATTNORACLE_LEARNER)");
  }
  // The name is not repeated: it could be any bytes of any length.
  if (!ValidName(name) || name == kAnonymousLearner) {
    return absl::InvalidArgumentError(
        absl::StrCat("a learner name (oracle-client --learner or "
                     "ATTNORACLE_LEARNER) must be 1 to 64 characters of "
                     "[a-z0-9._-] and not \"",
                     kAnonymousLearner, "\""));
  }
  const std::string learner(name);
  absl::MutexLock lock(&mu_);
  if (hash_by_name_.contains(learner)) {
    return absl::PermissionDeniedError(
        absl::StrCat("\"", learner,
                     "\" is a registered learner of a competition on this "
                     "database; choose another name"));
  }
  if (!open_names_.contains(learner)) {
    if (open_names_.size() >=
        static_cast<size_t>(open_learners_.max_learners)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this server takes at most ", open_learners_.max_learners,
          " learner names and has them all; use one of them, or ask the "
          "organiser to raise --max_open_learners"));
    }
    open_names_.insert(learner);
  }
  return Principal{learner, Role::kLearner};
}

absl::Status Authenticator::Refresh() {
  ATTN_ASSIGN_OR_RETURN(std::vector<LearnerRecord> learners,
                        store_->LoadLearners());
  std::map<std::string, LearnerRecord> by_token_hash;
  std::map<std::string, std::string> hash_by_name;
  for (LearnerRecord& r : learners) {
    hash_by_name[r.name] = r.token_hash;
    by_token_hash[r.token_hash] = std::move(r);
  }
  absl::MutexLock lock(&mu_);
  // Replaced whole: a re-issued token's old hash must stop working.
  by_token_hash_.swap(by_token_hash);
  hash_by_name_.swap(hash_by_name);
  return absl::OkStatus();
}

absl::StatusOr<Principal> Authenticator::Authenticate(
    absl::string_view token, std::optional<absl::string_view> learner) const {
  if (!competition_mode()) {
    if (learner.has_value()) return OpenLearner(*learner);
    return Principal{kAnonymousLearner, Role::kLearner};
  }
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this server runs a competition: send 'authorization: Bearer TOKEN' "
        "(oracle-client --token or ATTNORACLE_TOKEN)");
  }
  const std::string hash = Sha256(token);
  if (ConstantTimeEquals(hash, admin_token_hash_)) {
    return Principal{"", Role::kAdmin};
  }
  absl::MutexLock lock(&mu_);
  auto it = by_token_hash_.find(hash);
  if (it == by_token_hash_.end()) {
    return absl::UnauthenticatedError("the token is not valid");
  }
  if (it->second.revoked) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the token of learner \"", it->second.name, "\" was revoked"));
  }
  return Principal{it->second.name, Role::kLearner};
}

absl::StatusOr<std::string> Authenticator::Register(const std::string& name) {
  if (!ValidName(name) || name == kAnonymousLearner) {
    return absl::InvalidArgumentError(
        absl::StrCat("learner name ", QuoteForMessage(name),
                     " must be 1 to 64 characters of [a-z0-9._-] and not \"",
                     kAnonymousLearner, "\""));
  }
  const std::string token = kTokenPrefix + HexEncode(RandomBytes(kTokenBytes));
  LearnerRecord record{name, Sha256(token), Role::kLearner, false, NowUnixMs()};
  absl::MutexLock lock(&mu_);
  if (auto known = hash_by_name_.find(name); known != hash_by_name_.end()) {
    auto old = by_token_hash_.find(known->second);
    if (!old->second.revoked) {
      return absl::AlreadyExistsError(absl::StrCat(
          "learner \"", name,
          "\" already exists (to give it a new token, revoke it first)"));
    }
    ATTN_RETURN_IF_ERROR(store_->ReissueLearner(name, record.token_hash));
    // The same learner: only its token changes.
    record.role = old->second.role;
    record.created_ms = old->second.created_ms;
    by_token_hash_.erase(old);
    known->second = record.token_hash;
    by_token_hash_[record.token_hash] = std::move(record);
    return token;
  }
  ATTN_RETURN_IF_ERROR(store_->InsertLearner(record));
  hash_by_name_[name] = record.token_hash;
  by_token_hash_[record.token_hash] = std::move(record);
  return token;
}

absl::Status Authenticator::Revoke(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = hash_by_name_.find(name);
  if (it == hash_by_name_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no learner ", QuoteForMessage(name)));
  }
  ATTN_RETURN_IF_ERROR(store_->UpdateRevoked(name, true));
  by_token_hash_[it->second].revoked = true;
  return absl::OkStatus();
}

absl::Status Authenticator::CheckLearner(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  if (!hash_by_name_.contains(name)) {
    return absl::NotFoundError(
        absl::StrCat("no learner ", QuoteForMessage(name)));
  }
  return absl::OkStatus();
}

}  // namespace attnoracle
