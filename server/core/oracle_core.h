// OracleCore: answers learners' queries against hidden layers, enforcing each
// challenge's limits and budgets, and scores their submissions. Knows
// nothing of gRPC.
//
//   OracleCore core(&registry, &ledger);
//   absl::StatusOr<QueryResult> r = core.Query("anonymous", "tiny-d4", inputs,
//       [&](size_t i, int rows, int cols) { return MutableMatrixProto(...); });
//   absl::StatusOr<SubmitResult> s = core.Submit("anonymous", "tiny-d4", h);
//
// Thread-safe; the registry and ledger must outlive it.
#ifndef ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
#define ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/tensor.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/scorer.h"

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

  // Scores `hypothesis` against the challenge's secret (Scorer), with the
  // learner's usage at this moment. Errors: NOT_FOUND unknown challenge;
  // FAILED_PRECONDITION challenge not open; INVALID_ARGUMENT the hypothesis
  // does not fit the spec (CheckParams; the message names the field and
  // never carries a secret value). On OK the result carries a new
  // submission id. The first submission to a challenge builds its scorer.
  [[nodiscard]] absl::StatusOr<SubmitResult> Submit(
      const std::string& learner, const std::string& challenge_id,
      const LayerParams& hypothesis);

 private:
  // The cached scorer for `challenge`, built (under scorers_mu_, so once)
  // on first use.
  std::shared_ptr<const Scorer> ScorerFor(
      const std::shared_ptr<const Challenge>& challenge);

  const ChallengeRegistry* registry_;
  Ledger* ledger_;

  absl::Mutex scorers_mu_;
  std::map<std::string, std::shared_ptr<const Scorer>> scorers_
      ABSL_GUARDED_BY(scorers_mu_);
  std::atomic<uint64_t> next_submission_id_{1};
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
