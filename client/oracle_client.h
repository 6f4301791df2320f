// OracleClient: the C++ API over the Oracle service, for the CLI and for
// learners. Every call carries a deadline; errors come back as absl::Status
// with the server's code and message, and a rate-limited refusal with the
// server's RetryAfter() hint (common/retry_hint.h).
//
//   auto client = OracleClient::Connect({.server = "127.0.0.1:50051"});
//   absl::StatusOr<ChallengeInfo> info = client->Describe("tiny-d4");
//   absl::StatusOr<QueryAnswer> a = client->Query("tiny-d4", {x});
//   absl::StatusOr<RevealedChallenge> r = client->GetReveal("tiny-d4");
//
// Thread-safe: calls may run concurrently on one client.
#ifndef ATTNORACLE_CLIENT_ORACLE_CLIENT_H_
#define ATTNORACLE_CLIENT_ORACLE_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/connection.h"
#include "client/leaderboard_entry.h"
#include "client/revealed_challenge.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/tensor.h"
#include "common/transcript.h"

namespace attnoracle {

struct QueryAnswer {
  // One per sequence; under ANSWERS_TOP_K rows x 2k (index, value) pairs
  // (common/answer.h), and top_k is true.
  std::vector<Matrix> outputs;
  Usage usage;  // after the query
  uint64_t first_query_index = 0;
  bool top_k = false;
};

// Random examples and their answers (Sample).
struct SampleAnswer {
  std::vector<Matrix> inputs;      // drawn by the server, tokens x d_model
  std::vector<Matrix> outputs;     // as QueryAnswer's
  Usage usage;                     // after the sample
  uint64_t first_query_index = 0;  // the sequence index of inputs[0]
  bool top_k = false;
};

class OracleClient {
 public:
  // A channel to options.server, over TLS when options.tls.enabled
  // (connects lazily: a refused handshake fails the first call).
  static std::unique_ptr<OracleClient> Connect(const ClientOptions& options);
  OracleClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  [[nodiscard]] absl::StatusOr<std::vector<ChallengeInfo>> ListChallenges();
  [[nodiscard]] absl::StatusOr<ChallengeInfo> Describe(
      const std::string& challenge_id);
  // Answers for every sequence (each n x d_model), or the server's refusal.
  [[nodiscard]] absl::StatusOr<QueryAnswer> Query(
      const std::string& challenge_id, std::span<const Matrix> sequences);
  // The caller's next `count` random examples, answered and charged like a
  // query of `count` sequences; FAILED_PRECONDITION on a challenge that
  // offers none, INVALID_ARGUMENT for count 0 or over a per-request limit.
  [[nodiscard]] absl::StatusOr<SampleAnswer> Sample(
      const std::string& challenge_id, uint32_t count);
  [[nodiscard]] absl::StatusOr<Usage> GetUsage(const std::string& challenge_id);
  // Sends `hypothesis` (as factors) to be scored against the secret.
  // INVALID_ARGUMENT naming the field when it does not fit the spec,
  // NOT_FOUND for an unknown challenge, FAILED_PRECONDITION when the
  // challenge is not open.
  [[nodiscard]] absl::StatusOr<SubmitResult> Submit(
      const std::string& challenge_id, const LayerParams& hypothesis);
  // Every learner's best submission, best first (by functional error, then
  // tokens used, then time).
  [[nodiscard]] absl::StatusOr<std::vector<LeaderboardEntry>> GetLeaderboard(
      const std::string& challenge_id);
  // The caller's whole transcript on the challenge in index order, fetched
  // page by page. DATA_LOSS when the server's pages do not add up.
  [[nodiscard]] absl::StatusOr<std::vector<TranscriptEntry>> GetTranscript(
      const std::string& challenge_id);
  // After the reveal: the caller's secret, nonce and seeds, or (admin only)
  // those of `learner`. FAILED_PRECONDITION before the reveal. The secret
  // is checked against the revealed config's spec (or, when the server
  // sends no config, against DescribeChallenge's); a secret that does not
  // fit comes back as DATA_LOSS.
  [[nodiscard]] absl::StatusOr<RevealedChallenge> GetReveal(
      const std::string& challenge_id, const std::string& learner = "");

 private:
  std::unique_ptr<v1::Oracle::Stub> stub_;
  ClientOptions options_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_ORACLE_CLIENT_H_
