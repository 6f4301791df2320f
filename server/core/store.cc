#include "server/core/store.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {
namespace {

absl::Status NotShared(absl::string_view call) {
  return absl::UnimplementedError(
      absl::StrCat(call, " needs a store that servers share"));
}

}  // namespace

absl::StatusOr<UsageRecord> Store::ReserveShared(const std::string&,
                                                 const std::string&, uint64_t,
                                                 uint64_t, uint64_t, uint64_t) {
  return NotShared("ReserveShared");
}

absl::StatusOr<std::vector<absl::Status>> Store::CommitShared(
    std::span<TranscriptEntry>) {
  return NotShared("CommitShared");
}

absl::StatusOr<UsageRecord> Store::GrantShared(const std::string&,
                                               const std::string&, uint64_t,
                                               uint64_t, uint64_t, uint64_t) {
  return NotShared("GrantShared");
}

absl::StatusOr<UsageRecord> Store::LoadUsageOf(const std::string&,
                                               const std::string&) {
  return NotShared("LoadUsageOf");
}

absl::StatusOr<int64_t> Store::LoadGeneration() {
  return NotShared("LoadGeneration");
}

}  // namespace attnoracle
