// OracleClient: the C++ API over the Oracle service, for the CLI and for
// learners. Every call carries a deadline; errors come back as absl::Status
// with the server's code and message.
//
//   auto client = OracleClient::Connect({.server = "127.0.0.1:50051"});
//   absl::StatusOr<ChallengeInfo> info = client->Describe("tiny-d4");
//   absl::StatusOr<QueryAnswer> a = client->Query("tiny-d4", {x});
//
// Thread-safe: calls may run concurrently on one client.
#ifndef ATTNORACLE_CLIENT_ORACLE_CLIENT_H_
#define ATTNORACLE_CLIENT_ORACLE_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/tensor.h"

namespace attnoracle {

struct ClientOptions {
  std::string server = "127.0.0.1:50051";
  // Deadline of every call.
  std::chrono::milliseconds deadline = std::chrono::seconds(30);
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
};

struct QueryAnswer {
  std::vector<Matrix> outputs;  // one per sequence
  Usage usage;                  // after the query
  uint64_t first_query_index = 0;
};

class OracleClient {
 public:
  // An insecure channel to options.server (connects lazily).
  static std::unique_ptr<OracleClient> Connect(const ClientOptions& options);
  OracleClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  [[nodiscard]] absl::StatusOr<std::vector<ChallengeInfo>> ListChallenges();
  [[nodiscard]] absl::StatusOr<ChallengeInfo> Describe(
      const std::string& challenge_id);
  // Answers for every sequence (each n x d_model), or the server's refusal.
  [[nodiscard]] absl::StatusOr<QueryAnswer> Query(
      const std::string& challenge_id, std::span<const Matrix> sequences);
  [[nodiscard]] absl::StatusOr<Usage> GetUsage(const std::string& challenge_id);
  // Sends `hypothesis` (as factors) to be scored against the secret.
  // INVALID_ARGUMENT naming the field when it does not fit the spec,
  // NOT_FOUND for an unknown challenge, FAILED_PRECONDITION when the
  // challenge is not open.
  [[nodiscard]] absl::StatusOr<SubmitResult> Submit(
      const std::string& challenge_id, const LayerParams& hypothesis);

 private:
  void Prepare(grpc::ClientContext* context) const;

  std::unique_ptr<v1::Oracle::Stub> stub_;
  ClientOptions options_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_ORACLE_CLIENT_H_
