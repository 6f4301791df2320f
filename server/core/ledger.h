// Ledger: the budgets learners spend. The interface the core owns; the
// in-memory implementation is MemoryLedger, durable stores come later.
//
//   absl::StatusOr<Charge> c = ledger.Charge({"tiny-d4", "anonymous"},
//                                            budget, /*queries=*/2,
//                                            /*tokens=*/8);
#ifndef ATTNORACLE_SERVER_CORE_LEDGER_H_
#define ATTNORACLE_SERVER_CORE_LEDGER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/access_policy.h"

namespace attnoracle {

struct LedgerKey {
  std::string challenge_id;
  std::string learner;
  friend auto operator<=>(const LedgerKey&, const LedgerKey&) = default;
};

struct ChargeReceipt {
  Usage usage;                     // after the charge
  uint64_t first_query_index = 0;  // queries used before the charge
};

// Implementations are thread-safe.
class Ledger {
 public:
  virtual ~Ledger() = default;

  // Atomically charges `queries` sequences and `tokens` tokens if both fit in
  // what is left of `budget`. RESOURCE_EXHAUSTED, charging nothing, when
  // either does not. When this returns OK the charge is as durable as the
  // implementation promises.
  [[nodiscard]] virtual absl::StatusOr<ChargeReceipt> Charge(
      const LedgerKey& key, const Budget& budget, uint64_t queries,
      uint64_t tokens) = 0;

  // Current usage against `budget` (zero for an unseen key).
  [[nodiscard]] virtual absl::StatusOr<Usage> GetUsage(
      const LedgerKey& key, const Budget& budget) const = 0;
};

// Usage from raw counters and a budget.
Usage UsageOf(uint64_t queries_used, uint64_t tokens_used,
              const Budget& budget);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_LEDGER_H_
