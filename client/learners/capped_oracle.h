// CappedOracle: holds one learner run to its own caps on queries and tokens
// (`learn --max_queries --max_tokens`), whatever the learner plans.
//
//   CappedOracle held(oracle, /*max_queries=*/0, /*max_tokens=*/500);
//   learner(held, options);  // a request past 500 tokens is refused unsent
//
// usage() is the inner oracle's, with queries_left and tokens_left lowered to
// what the caps leave, so a learner that plans from them stays inside.
// Not thread-safe.
#ifndef ATTNORACLE_CLIENT_LEARNERS_CAPPED_ORACLE_H_
#define ATTNORACLE_CLIENT_LEARNERS_CAPPED_ORACLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "client/learners/query_oracle.h"

namespace attnoracle {

class CappedOracle final : public QueryOracle {
 public:
  // 0 for either cap: none of its own (the budget still holds).
  CappedOracle(QueryOracle& inner, uint64_t max_queries, uint64_t max_tokens);

  const ChallengeInfo& info() const override { return inner_.info(); }
  // RESOURCE_EXHAUSTED, before anything is sent, when the request would take
  // this run past a cap.
  absl::StatusOr<std::vector<Matrix>> Query(
      std::span<const Matrix> sequences) override;
  absl::StatusOr<Examples> Sample(int count) override;
  Usage usage() const override;

 private:
  // Refuses `queries` more sequences of `tokens` tokens in all.
  absl::Status Check(uint64_t queries, uint64_t tokens) const;

  QueryOracle& inner_;
  uint64_t max_queries_;
  uint64_t max_tokens_;
  Usage start_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_CAPPED_ORACLE_H_
