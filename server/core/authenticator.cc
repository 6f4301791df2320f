#include "server/core/authenticator.h"

#include "absl/strings/str_cat.h"
#include "common/challenge_config.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "server/core/clock.h"

namespace attnoracle {
namespace {

constexpr size_t kTokenBytes = 24;
constexpr char kTokenPrefix[] = "ao_";

}  // namespace

Authenticator::Authenticator(Store* store, std::string admin_token)
    : store_(store),
      admin_token_hash_(admin_token.empty() ? "" : Sha256(admin_token)) {}

absl::Status Authenticator::Load() {
  ATTN_ASSIGN_OR_RETURN(std::vector<LearnerRecord> learners,
                        store_->LoadLearners());
  absl::MutexLock lock(&mu_);
  for (LearnerRecord& r : learners) {
    hash_by_name_[r.name] = r.token_hash;
    by_token_hash_[r.token_hash] = std::move(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<Principal> Authenticator::Authenticate(
    absl::string_view token) const {
  if (!competition_mode()) return Principal{kAnonymousLearner, Role::kLearner};
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
        absl::StrCat("learner name \"", name,
                     "\" must be 1 to 64 characters of [a-z0-9._-] and not \"",
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
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  ATTN_RETURN_IF_ERROR(store_->UpdateRevoked(name, true));
  by_token_hash_[it->second].revoked = true;
  return absl::OkStatus();
}

absl::Status Authenticator::CheckLearner(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  if (!hash_by_name_.contains(name)) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  return absl::OkStatus();
}

}  // namespace attnoracle
