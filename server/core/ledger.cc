#include "server/core/ledger.h"

#include <algorithm>

namespace attnoracle {

Usage UsageOf(uint64_t queries_used, uint64_t tokens_used,
              const Budget& budget) {
  return Usage{queries_used, tokens_used,
               budget.queries - std::min(queries_used, budget.queries),
               budget.tokens - std::min(tokens_used, budget.tokens)};
}

}  // namespace attnoracle
