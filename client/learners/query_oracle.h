// QueryOracle: what a learner may ask. Learners depend on this small
// interface only, so the same learner runs against the real server
// (RemoteOracle) and, in tests, against a local layer with no network
// (LocalOracle).
//
//   RemoteOracle oracle(&client, "single-head-d16");
//   absl::Status s = oracle.Init();
//   absl::StatusOr<std::vector<Matrix>> y = oracle.Query(sequences);
//
// Not thread-safe.
#ifndef ATTNORACLE_CLIENT_LEARNERS_QUERY_ORACLE_H_
#define ATTNORACLE_CLIENT_LEARNERS_QUERY_ORACLE_H_

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/oracle_client.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/tensor.h"

namespace attnoracle {

// Random examples (Sample): inputs drawn by the server and their answers.
struct Examples {
  std::vector<Matrix> inputs;
  std::vector<Matrix> outputs;
};

class QueryOracle {
 public:
  virtual ~QueryOracle() = default;

  // The public description of the hidden layer (spec resolved).
  virtual const ChallengeInfo& info() const = 0;
  // One answer per sequence (each n x d_model): OutputRows(spec, n) x out_dim,
  // degraded by the policy's noise and precision. RESOURCE_EXHAUSTED when the
  // budget does not cover the request; INVALID_ARGUMENT for bad shapes.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Matrix>> Query(
      std::span<const Matrix> sequences) = 0;
  // The next `count` random examples and their answers (as Query's),
  // where the policy offers them (policy.access ACCESS_EXAMPLES or
  // ACCESS_BOTH); FAILED_PRECONDITION otherwise, and from an oracle that
  // does not implement it.
  [[nodiscard]] virtual absl::StatusOr<Examples> Sample(int count);
  // Usage after the last answered query.
  virtual Usage usage() const = 0;
};

// Sends `sequences` in as few requests as the challenge's per-request limits
// allow, and returns the answers in order. Stops at the first refusal.
[[nodiscard]] absl::StatusOr<std::vector<Matrix>> QueryInBatches(
    QueryOracle& oracle, std::span<const Matrix> sequences);

// `count` examples in as few Sample requests as the per-request limits
// allow. Stops at the first refusal.
[[nodiscard]] absl::StatusOr<Examples> SampleInBatches(QueryOracle& oracle,
                                                       uint64_t count);

// Over the network, through an OracleClient that must outlive it.
// Waits and retries when the server's rate limit refuses a request with a
// retry hint, for at most kMaxRateLimitWait in all per request.
class RemoteOracle final : public QueryOracle {
 public:
  static constexpr absl::Duration kMaxRateLimitWait = absl::Minutes(10);

  RemoteOracle(OracleClient* client, std::string challenge_id);
  // Fetches the challenge description and the current usage.
  [[nodiscard]] absl::Status Init();

  const ChallengeInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<Matrix>> Query(
      std::span<const Matrix> sequences) override;
  absl::StatusOr<Examples> Sample(int count) override;
  Usage usage() const override { return usage_; }

 private:
  OracleClient* client_;
  std::string challenge_id_;
  ChallengeInfo info_;
  Usage usage_;
};

// A known layer in process, answering exactly as the server would: the same
// access rules, request checks and limits, budget, forward pass, noise keyed
// by query index, precision and answer form, and the same examples. For tests
// and experiments.
class LocalOracle final : public QueryOracle {
 public:
  // `info.spec` must be resolved and `secret` fit it.
  LocalOracle(ChallengeInfo info, LayerParams secret, uint64_t noise_seed);

  const ChallengeInfo& info() const override { return info_; }
  absl::StatusOr<std::vector<Matrix>> Query(
      std::span<const Matrix> sequences) override;
  // The examples the server would draw for this noise seed.
  absl::StatusOr<Examples> Sample(int count) override;
  Usage usage() const override;
  const LayerParams& secret() const { return secret_; }
  // Requests answered so far.
  int requests() const { return requests_; }

 private:
  ChallengeInfo info_;
  LayerParams secret_;
  uint64_t noise_seed_;
  uint64_t queries_used_ = 0;
  uint64_t tokens_used_ = 0;
  int requests_ = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_QUERY_ORACLE_H_
