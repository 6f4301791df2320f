// AdminClient: the C++ API over the Admin service, for organisers. Every
// call carries a deadline and the token of ClientOptions (the admin token
// where the server runs in competition mode); errors come back as
// absl::Status with the server's code and message, and a rate-limited
// refusal with the server's RetryAfter() hint (common/retry_hint.h).
//
//   auto admin = AdminClient::Connect({.token = admin_token});
//   absl::StatusOr<LearnerCredentials> c = admin->RegisterLearner("alice");
//   absl::StatusOr<ChallengeInfo> i = admin->SetPhase("tiny-d4",
//                                                    Phase::kRevealed);
//
// Thread-safe: calls may run concurrently on one client.
#ifndef ATTNORACLE_CLIENT_ADMIN_CLIENT_H_
#define ATTNORACLE_CLIENT_ADMIN_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "attnoracle/v1/admin.grpc.pb.h"
#include "client/connection.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/transcript.h"

namespace attnoracle {

// A registered learner. The token is shown only once: the server keeps its
// hash.
struct LearnerCredentials {
  std::string learner;
  std::string token;
};

class AdminClient {
 public:
  // A channel to options.server, over TLS when options.tls.enabled
  // (connects lazily: a refused handshake fails the first call).
  static std::unique_ptr<AdminClient> Connect(const ClientOptions& options);
  AdminClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  // Creates a challenge exactly as configured (the server fills defaults
  // and draws the secret). INVALID_ARGUMENT for a bad configuration,
  // ALREADY_EXISTS for a taken id.
  [[nodiscard]] absl::StatusOr<ChallengeInfo> CreateChallenge(
      const v1::ChallengeConfig& config);
  [[nodiscard]] absl::StatusOr<ChallengeInfo> CreateChallenge(
      const ChallengeConfig& config);
  // FAILED_PRECONDITION for a transition the server does not allow.
  [[nodiscard]] absl::StatusOr<ChallengeInfo> SetPhase(
      const std::string& challenge_id, Phase phase);
  [[nodiscard]] absl::StatusOr<LearnerCredentials> RegisterLearner(
      const std::string& name);
  // The learner's token stops working; its records stay.
  [[nodiscard]] absl::Status RevokeLearner(const std::string& name);
  // Adds `queries` sequences and `tokens` tokens to the learner's budget on
  // the challenge; returns the learner's usage after the grant.
  [[nodiscard]] absl::StatusOr<Usage> GrantBudget(
      const std::string& challenge_id, const std::string& learner,
      uint64_t queries, uint64_t tokens);
  // Streams every transcript entry of the challenge (learner by learner, in
  // index order) into `sink`. When `sink` returns an error the stream is
  // cancelled and that error returned. The deadline covers the whole
  // stream.
  [[nodiscard]] absl::Status ExportTranscripts(
      const std::string& challenge_id,
      const std::function<absl::Status(const TranscriptEntry&)>& sink);

 private:
  std::unique_ptr<v1::Admin::Stub> stub_;
  ClientOptions options_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_ADMIN_CLIENT_H_
