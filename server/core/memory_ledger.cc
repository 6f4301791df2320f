#include "server/core/memory_ledger.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {

absl::StatusOr<ChargeReceipt> MemoryLedger::Charge(const LedgerKey& key,
                                                   const Budget& budget,
                                                   uint64_t queries,
                                                   uint64_t tokens) {
  absl::MutexLock lock(&mu_);
  Counters& used = used_[key];
  const Usage before = UsageOf(used.queries, used.tokens, budget);
  if (queries > before.queries_left || tokens > before.tokens_left) {
    return absl::ResourceExhaustedError(
        absl::StrCat("budget exhausted: the request needs ", queries,
                     " queries and ", tokens, " tokens; ", before.queries_left,
                     " queries and ", before.tokens_left, " tokens are left"));
  }
  const uint64_t first = used.queries;
  used.queries += queries;
  used.tokens += tokens;
  return ChargeReceipt{UsageOf(used.queries, used.tokens, budget), first};
}

absl::StatusOr<Usage> MemoryLedger::GetUsage(const LedgerKey& key,
                                             const Budget& budget) const {
  absl::MutexLock lock(&mu_);
  auto it = used_.find(key);
  if (it == used_.end()) return UsageOf(0, 0, budget);
  return UsageOf(it->second.queries, it->second.tokens, budget);
}

}  // namespace attnoracle
