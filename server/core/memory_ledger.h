// MemoryLedger: a Ledger in process memory. Charges are lost on exit.
// Thread-safe; one mutex, held for a map lookup and two additions.
#ifndef ATTNORACLE_SERVER_CORE_MEMORY_LEDGER_H_
#define ATTNORACLE_SERVER_CORE_MEMORY_LEDGER_H_

#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/ledger.h"

namespace attnoracle {

class MemoryLedger final : public Ledger {
 public:
  absl::StatusOr<ChargeReceipt> Charge(const LedgerKey& key,
                                       const Budget& budget, uint64_t queries,
                                       uint64_t tokens) override;
  absl::StatusOr<Usage> GetUsage(const LedgerKey& key,
                                 const Budget& budget) const override;

 private:
  struct Counters {
    uint64_t queries = 0;
    uint64_t tokens = 0;
  };
  mutable absl::Mutex mu_;
  std::map<LedgerKey, Counters> used_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_MEMORY_LEDGER_H_
