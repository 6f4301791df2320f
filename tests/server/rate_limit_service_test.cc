// Rate limits end to end in process: the server's refusal carries a retry
// hint through gRPC's trailing metadata into the client's status, and a
// learner's RemoteOracle waits and gets through. The hint crosses the same
// way for every kind of RPC: unary on either service, and the final status
// of a server stream.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <vector>

#include "attnoracle/v1/admin.grpc.pb.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/admin_client.h"
#include "client/learners/query_oracle.h"
#include "client/oracle_client.h"
#include "common/grpc/grpc_status.h"
#include "common/retry_hint.h"
#include "server/service/oracle_server.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

constexpr char kRated[] = "rated";
constexpr double kRequestsPerSecond = 20;

class RateLimitServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string config = test::TempPath("config", ".textproto");
    std::ofstream(config) << "challenge { id: \"rated\" spec { d_model: 4 "
                             "heads: 1 } prior { seed: 5 } policy { limits { "
                             "max_requests_per_second: "
                          << kRequestsPerSecond << " request_burst: 1 } } }";
    ServerOptions options;
    options.listen_address = "";
    options.config_path = config;
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<OracleClient>(server_->InProcessChannel(),
                                             ClientOptions{});
  }

  std::vector<Matrix> OneSequence() {
    Rng rng(3);
    return {test::RandomMatrix(rng, 2, 4)};
  }

  std::unique_ptr<OracleServer> server_;
  std::unique_ptr<OracleClient> client_;
};

TEST_F(RateLimitServiceTest, RefusalCarriesTheRetryHint) {
  ASSERT_TRUE(client_->Query(kRated, OneSequence()).ok());
  absl::StatusOr<QueryAnswer> refused = client_->Query(kRated, OneSequence());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("retry after"));
  std::optional<absl::Duration> wait = RetryAfter(refused.status());
  ASSERT_TRUE(wait.has_value());
  EXPECT_GT(*wait, absl::ZeroDuration());
  EXPECT_LE(*wait, absl::Seconds(1 / kRequestsPerSecond));
  // Refused requests are not charged.
  absl::StatusOr<Usage> usage = client_->GetUsage(kRated);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->queries_used, 1u);
}

TEST_F(RateLimitServiceTest, RemoteOracleWaitsAndGetsThrough) {
  RemoteOracle oracle(client_.get(), kRated);
  ASSERT_TRUE(oracle.Init().ok());
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::vector<Matrix>> y = oracle.Query(OneSequence());
    ASSERT_TRUE(y.ok()) << i << ": " << y.status();
  }
  EXPECT_EQ(oracle.usage().queries_used, 5u);
}

TEST(RetryHintTest, RoundTripsAndIgnoresGarbage) {
  const absl::Status refused = absl::ResourceExhaustedError("slow down");
  EXPECT_EQ(RetryAfter(refused), std::nullopt);
  EXPECT_EQ(RetryAfter(WithRetryAfter(refused, absl::Microseconds(1500))),
            absl::Milliseconds(2));
  EXPECT_EQ(RetryAfter(WithRetryAfterMs(refused, "250")),
            absl::Milliseconds(250));
  for (const char* garbage :
       {"", "-5", "12ms", "1e3", "99999999999999999999"}) {
    EXPECT_EQ(RetryAfter(WithRetryAfterMs(refused, garbage)), std::nullopt)
        << garbage;
  }
  // An OK status carries no hint.
  EXPECT_EQ(RetryAfter(WithRetryAfterMs(absl::OkStatus(), "5")), std::nullopt);
}

// Stand-ins for the services whose handlers finish with a rate-limited core
// status, through the edge's one conversion; today's core only limits
// Query, so these are the other kinds of call a limit could refuse.
constexpr char kSlowDown[] = "slow down";
constexpr absl::Duration kHintedWait = absl::Milliseconds(40);

absl::Status Throttled() {
  return WithRetryAfter(absl::ResourceExhaustedError(kSlowDown), kHintedWait);
}

class ThrottledOracle final : public v1::Oracle::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const v1::GetUsageRequest*,
                                     v1::Usage*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(Throttled(), *context));
    return reactor;
  }
};

class ThrottledAdmin final : public v1::Admin::Service {
 public:
  grpc::Status RevokeLearner(grpc::ServerContext* context,
                             const v1::RevokeLearnerRequest*,
                             v1::RevokeLearnerResponse*) override {
    return ToGrpcStatus(Throttled(), *context);
  }
  // One entry, then the refusal as the stream's final status.
  grpc::Status ExportTranscripts(
      grpc::ServerContext* context, const v1::ExportTranscriptsRequest*,
      grpc::ServerWriter<v1::TranscriptEntry>* writer) override {
    writer->Write(v1::TranscriptEntry());
    return ToGrpcStatus(Throttled(), *context);
  }
  // A refusal without a hint stays without one.
  grpc::Status SetPhase(grpc::ServerContext* context,
                        const v1::SetPhaseRequest*,
                        v1::ChallengeInfo*) override {
    return ToGrpcStatus(absl::NotFoundError("no such challenge"), *context);
  }
};

class RetryHintEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&oracle_);
    builder.RegisterService(&admin_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  static void ExpectThrottled(const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_EQ(status.message(), kSlowDown);
    EXPECT_EQ(RetryAfter(status), kHintedWait) << status;
  }

  ThrottledOracle oracle_;
  ThrottledAdmin admin_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RetryHintEdgeTest, TheEdgeSendsTheHintAsTrailingMetadata) {
  auto stub = v1::Admin::NewStub(channel_);
  grpc::ClientContext context;
  v1::RevokeLearnerResponse response;
  const grpc::Status status =
      stub->RevokeLearner(&context, v1::RevokeLearnerRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto hint = trailers.find(kRetryAfterMsMetadata);
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "40");
  // Code and message alone do not carry it; the call's context does.
  EXPECT_EQ(RetryAfter(FromGrpcStatus(status)), std::nullopt);
  ExpectThrottled(FromGrpcStatus(status, context));
}

TEST_F(RetryHintEdgeTest, OracleClientKeepsTheHintBeyondQuery) {
  OracleClient client(channel_, ClientOptions{});
  ExpectThrottled(client.GetUsage("any").status());
}

TEST_F(RetryHintEdgeTest, AdminClientKeepsTheHintOnUnaryAndStreamingCalls) {
  AdminClient client(channel_, ClientOptions{});
  ExpectThrottled(client.RevokeLearner("alice"));
  int entries = 0;
  ExpectThrottled(client.ExportTranscripts("any", [&](const TranscriptEntry&) {
    ++entries;
    return absl::OkStatus();
  }));
  EXPECT_EQ(entries, 1);
  const absl::Status not_found =
      client.SetPhase("any", Phase::kClosed).status();
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RetryAfter(not_found), std::nullopt);
}

}  // namespace
}  // namespace attnoracle
