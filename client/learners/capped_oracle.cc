#include "client/learners/capped_oracle.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace attnoracle {

CappedOracle::CappedOracle(QueryOracle& inner, uint64_t max_queries,
                           uint64_t max_tokens)
    : inner_(inner),
      max_queries_(max_queries),
      max_tokens_(max_tokens),
      start_(inner.usage()) {}

absl::Status CappedOracle::Check(uint64_t queries, uint64_t tokens) const {
  const Usage now = inner_.usage();
  const uint64_t spent_queries = now.queries_used - start_.queries_used;
  const uint64_t spent_tokens = now.tokens_used - start_.tokens_used;
  if (max_queries_ > 0 && spent_queries + queries > max_queries_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this run's cap of ", max_queries_, " queries (--max_queries) is ",
        spent_queries, " spent; a request of ", queries,
        " more sequences would pass it"));
  }
  if (max_tokens_ > 0 && spent_tokens + tokens > max_tokens_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this run's cap of ", max_tokens_, " tokens (--max_tokens) is ",
        spent_tokens, " spent; a request of ", tokens,
        " more tokens would pass it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Matrix>> CappedOracle::Query(
    std::span<const Matrix> sequences) {
  uint64_t tokens = 0;
  for (const Matrix& x : sequences) tokens += static_cast<uint64_t>(x.rows());
  if (absl::Status s = Check(sequences.size(), tokens); !s.ok()) return s;
  return inner_.Query(sequences);
}

absl::StatusOr<Examples> CappedOracle::Sample(int count) {
  const uint64_t n = static_cast<uint64_t>(std::max(count, 0));
  const uint64_t tokens =
      n * static_cast<uint64_t>(std::max(0, info().policy.examples.tokens));
  if (absl::Status s = Check(n, tokens); !s.ok()) return s;
  return inner_.Sample(count);
}

Usage CappedOracle::usage() const {
  Usage u = inner_.usage();
  if (max_queries_ > 0) {
    const uint64_t spent = u.queries_used - start_.queries_used;
    u.queries_left = std::min(u.queries_left, max_queries_ - spent);
  }
  if (max_tokens_ > 0) {
    const uint64_t spent = u.tokens_used - start_.tokens_used;
    u.tokens_left = std::min(u.tokens_left, max_tokens_ - spent);
  }
  return u;
}

}  // namespace attnoracle
