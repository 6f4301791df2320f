// OracleCore: answers learners' queries against hidden layers, enforcing each
// challenge's limits and budgets. Knows nothing of gRPC.
//
//   OracleCore core(&registry, &ledger);
//   absl::StatusOr<QueryResult> r = core.Query("anonymous", "tiny-d4", inputs,
//       [&](size_t i, int rows, int cols) { return MutableMatrixProto(...); });
//
// Thread-safe; the registry and ledger must outlive it.
#ifndef ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
#define ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/challenge_config.h"
#include "common/tensor.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"

namespace attnoracle {

struct QueryResult {
  Usage usage;  // after this request
  uint64_t first_query_index = 0;
};

// Gives the storage for the answer to sequence `index`, rows x cols; the
// returned map must stay valid until Query returns.
using OutputAllocator =
    std::function<MatrixMap(size_t index, int rows, int cols)>;

class OracleCore {
 public:
  OracleCore(const ChallengeRegistry* registry, Ledger* ledger);

  std::vector<ChallengeInfo> ListChallenges() const;
  // NOT_FOUND for an unknown id.
  [[nodiscard]] absl::StatusOr<ChallengeInfo> DescribeChallenge(
      const std::string& id) const;

  // Answers every sequence or none. Errors, all charging nothing:
  // NOT_FOUND unknown challenge; FAILED_PRECONDITION challenge not open;
  // INVALID_ARGUMENT no sequences, a sequence of the wrong width, a limit
  // exceeded, a non-finite or too large input (the message names the
  // sequence and token); RESOURCE_EXHAUSTED the request does not fit in what
  // is left of the budget. On OK the charge was committed before any answer
  // was written.
  [[nodiscard]] absl::StatusOr<QueryResult> Query(
      const std::string& learner, const std::string& challenge_id,
      std::span<const ConstMatrixMap> sequences,
      const OutputAllocator& allocate_output);

  // NOT_FOUND for an unknown challenge.
  [[nodiscard]] absl::StatusOr<Usage> GetUsage(
      const std::string& learner, const std::string& challenge_id) const;

 private:
  const ChallengeRegistry* registry_;
  Ledger* ledger_;
};

// INVALID_ARGUMENT naming the first offending sequence or token when
// `sequences` break `config`'s shape or limits; OK otherwise. Returns the
// token count through `tokens`.
[[nodiscard]] absl::Status ValidateSequences(
    const ChallengeConfig& config, std::span<const ConstMatrixMap> sequences,
    uint64_t* tokens);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
