// Several replicas behind one client channel: a target of several addresses
// spreads calls round robin over in-process servers on loopback ports, reads
// survive the loss of one replica through the channel's retry policy, and
// calls that charge (Query) are never retried. Plus the refusals of targets
// that are not one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/connection.h"
#include "client/oracle_client.h"
#include "server/service/oracle_server.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

constexpr char kChallenge[] = "tiny-d4";
constexpr int kDModel = 4;

std::unique_ptr<OracleServer> StartReplica() {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.db_path = ":memory:";
  options.collect_metrics = true;
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Calls of `method` (its name, e.g. "ListChallenges") the replica finished,
// whatever their code.
uint64_t CallsOf(const OracleServer& server, absl::string_view method) {
  uint64_t calls = 0;
  for (const auto& [key, count] : server.metrics()->Read().rpcs) {
    if (absl::EndsWith(key.first, absl::StrCat("/", method))) calls += count;
  }
  return calls;
}

// The anonymous learner's queries charged by this replica alone.
uint64_t QueriesCharged(const OracleServer& server) {
  ClientOptions options;
  options.server = absl::StrCat("127.0.0.1:", server.port());
  absl::StatusOr<Usage> usage =
      OracleClient::Connect(options)->GetUsage(kChallenge);
  EXPECT_TRUE(usage.ok()) << usage.status();
  return usage.ok() ? usage->queries_used : 0;
}

std::string TargetOf(const std::vector<const OracleServer*>& servers) {
  std::string target = "ipv4:";
  for (size_t i = 0; i < servers.size(); ++i) {
    absl::StrAppend(&target, i == 0 ? "" : ",",
                    "127.0.0.1:", servers[i]->port());
  }
  return target;
}

std::vector<Matrix> OneToken() { return {Matrix::Ones(1, kDModel)}; }

TEST(ReplicasTest, CallsSpreadOverEveryAddress) {
  std::unique_ptr<OracleServer> a = StartReplica();
  std::unique_ptr<OracleServer> b = StartReplica();
  ASSERT_TRUE(a && b);
  ClientOptions options;
  options.server = TargetOf({a.get(), b.get()});
  ASSERT_TRUE(CheckServerTarget(options.server).ok());
  std::unique_ptr<OracleClient> client = OracleClient::Connect(options);

  // The channel connects to each address on its own; until both are ready,
  // round robin has only one to pick. Each is then picked in turn.
  constexpr int kMaxCalls = 200;
  int calls = 0;
  while (calls < kMaxCalls && (CallsOf(*a, "ListChallenges") < 5 ||
                               CallsOf(*b, "ListChallenges") < 5)) {
    ASSERT_TRUE(client->ListChallenges().ok());
    ++calls;
  }
  EXPECT_GE(CallsOf(*a, "ListChallenges"), 5u);
  EXPECT_GE(CallsOf(*b, "ListChallenges"), 5u);
  EXPECT_EQ(CallsOf(*a, "ListChallenges") + CallsOf(*b, "ListChallenges"),
            static_cast<uint64_t>(calls));

  // Both ready now: queries alternate, each charged on the replica that
  // answered it and nowhere else.
  constexpr int kQueries = 10;
  for (int i = 0; i < kQueries; ++i) {
    absl::StatusOr<QueryAnswer> answer = client->Query(kChallenge, OneToken());
    ASSERT_TRUE(answer.ok()) << answer.status();
  }
  const uint64_t on_a = QueriesCharged(*a);
  const uint64_t on_b = QueriesCharged(*b);
  EXPECT_EQ(on_a + on_b, static_cast<uint64_t>(kQueries));
  EXPECT_GE(on_a, 3u);
  EXPECT_GE(on_b, 3u);
}

TEST(ReplicasTest, ReadsSurviveAReplicaShutdownAndQueriesAreChargedOnce) {
  std::unique_ptr<OracleServer> a = StartReplica();
  std::unique_ptr<OracleServer> b = StartReplica();
  ASSERT_TRUE(a && b);
  ClientOptions options;
  options.server = TargetOf({a.get(), b.get()});
  options.deadline = std::chrono::seconds(10);
  std::unique_ptr<OracleClient> client = OracleClient::Connect(options);
  for (int i = 0; i < 200 && CallsOf(*b, "ListChallenges") == 0; ++i) {
    ASSERT_TRUE(client->ListChallenges().ok());
  }
  ASSERT_GT(CallsOf(*b, "ListChallenges"), 0u);

  b->Shutdown(std::chrono::milliseconds(0));
  b->Wait();
  constexpr int kReads = 20;
  for (int i = 0; i < kReads; ++i) {
    absl::StatusOr<std::vector<ChallengeInfo>> list = client->ListChallenges();
    ASSERT_TRUE(list.ok()) << "read " << i << ": " << list.status();
    absl::StatusOr<Usage> usage = client->GetUsage(kChallenge);
    ASSERT_TRUE(usage.ok()) << "read " << i << ": " << usage.status();
  }

  // A query that met the dead replica fails and is not sent again; one that
  // met the live one is answered and charged there once.
  const uint64_t a_before = QueriesCharged(*a);
  constexpr int kQueries = 10;
  uint64_t answered = 0;
  for (int i = 0; i < kQueries; ++i) {
    absl::StatusOr<QueryAnswer> answer = client->Query(kChallenge, OneToken());
    if (answer.ok()) {
      ++answered;
    } else {
      EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable)
          << answer.status();
    }
  }
  EXPECT_GT(answered, 0u);
  EXPECT_EQ(QueriesCharged(*a) - a_before, answered);
}

// A replica that refuses everything as UNAVAILABLE and counts the attempts
// it saw, method by method.
class UnavailableOracle final : public v1::Oracle::Service {
 public:
  grpc::Status ListChallenges(grpc::ServerContext*,
                              const v1::ListChallengesRequest*,
                              v1::ListChallengesResponse*) override {
    ++list_calls;
    return Refuse();
  }
  grpc::Status GetUsage(grpc::ServerContext*, const v1::GetUsageRequest*,
                        v1::Usage*) override {
    ++usage_calls;
    return Refuse();
  }
  grpc::Status Query(grpc::ServerContext*, const v1::QueryRequest*,
                     v1::QueryResponse*) override {
    ++query_calls;
    return Refuse();
  }
  grpc::Status Sample(grpc::ServerContext*, const v1::SampleRequest*,
                      v1::SampleResponse*) override {
    ++sample_calls;
    return Refuse();
  }
  grpc::Status Submit(grpc::ServerContext*, const v1::SubmitRequest*,
                      v1::SubmitResponse*) override {
    ++submit_calls;
    return Refuse();
  }

  std::atomic<int> list_calls{0};
  std::atomic<int> usage_calls{0};
  std::atomic<int> query_calls{0};
  std::atomic<int> sample_calls{0};
  std::atomic<int> submit_calls{0};

 private:
  static grpc::Status Refuse() {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "replica draining");
  }
};

TEST(ReplicasTest, ReadsAreRetriedAndChargingCallsAreNot) {
  UnavailableOracle service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.server = absl::StrCat("ipv4:127.0.0.1:", port);
  std::unique_ptr<OracleClient> client = OracleClient::Connect(options);

  EXPECT_EQ(client->ListChallenges().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(service.list_calls.load(), kReadMaxAttempts);
  EXPECT_EQ(client->GetUsage(kChallenge).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(service.usage_calls.load(), kReadMaxAttempts);

  EXPECT_EQ(client->Query(kChallenge, OneToken()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(service.query_calls.load(), 1);
  EXPECT_EQ(client->Sample(kChallenge, 1).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(service.sample_calls.load(), 1);
  server->Shutdown();
}

TEST(ReplicasTest, ServiceConfigNamesExactlyTheReads) {
  const std::string& json = ChannelServiceConfigJson();
  EXPECT_THAT(json, HasSubstr("\"round_robin\""));
  for (const char* read :
       {"ListChallenges", "DescribeChallenge", "GetUsage", "GetLeaderboard",
        "GetTranscript", "GetReveal", "Check"}) {
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"method\":\"", read, "\"")));
  }
  for (const char* charging :
       {"\"Query\"", "QueryStream", "Sample", "Submit", "CreateChallenge",
        "SetPhase", "RegisterLearner", "RevokeLearner", "GrantBudget",
        "ExportTranscripts"}) {
    EXPECT_THAT(json, ::testing::Not(HasSubstr(charging)));
  }
}

TEST(ReplicasTest, GoodTargetsPass) {
  for (const char* target :
       {"127.0.0.1:50051", "localhost:7001", "[::1]:7001",
        "ipv4:127.0.0.1:7001,127.0.0.1:7002", "ipv4:10.0.0.1:1",
        "ipv6:[::1]:7001,[::1]:7002", "dns:///oracle.example.org:443",
        "unix:/run/attnoracle.sock"}) {
    EXPECT_TRUE(CheckServerTarget(target).ok())
        << target << ": " << CheckServerTarget(target);
  }
}

TEST(ReplicasTest, BadTargetsAreRefusedNamingTheFlag) {
  struct Case {
    const char* target;
    const char* why;
  };
  for (const Case& c : std::vector<Case>{
           {"", "is empty"},
           {"ipv4:", "lists no address"},
           {"ipv4:127.0.0.1:7001,", "has an empty address"},
           {"ipv4:,127.0.0.1:7001", "has an empty address"},
           {"ipv4:127.0.0.1", "not an IPv4 address with a port"},
           {"ipv4:127.0.0.1:7001,localhost:7002",
            "\"localhost:7002\", which is not an IPv4 address"},
           {"ipv4:[::1]:7001", "not an IPv4 address"},
           {"ipv6:::1:7001", "not an [IPv6] address"},
           {"ipv4:127.0.0.1:0", "not an IPv4 address with a port"},
           {"ipv4:127.0.0.1:70000", "not an IPv4 address with a port"},
           {"127.0.0.1:7001,127.0.0.1:7002", "without gRPC's ipv4:"},
           {"garbage", "is not HOST:PORT"},
           {":7001", "is not HOST:PORT"},
           {"localhost:http", "no port in 1..65535"},
           {"localhost:", "no port in 1..65535"},
           {"local host:7001", "blank or control character"},
           {"dns:", "names no address after its scheme"},
       }) {
    const absl::Status status = CheckServerTarget(c.target);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.target;
    EXPECT_THAT(status.message(), HasSubstr("--server")) << c.target;
    EXPECT_THAT(status.message(), HasSubstr(c.why)) << c.target;
  }
}

TEST(ReplicasTest, ClientOnABadTargetReportsTheTarget) {
  ClientOptions options;
  options.server = "ipv4:127.0.0.1:7001,";
  options.deadline = std::chrono::seconds(5);
  absl::Status status =
      OracleClient::Connect(options)->ListChallenges().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--server"));
  EXPECT_THAT(status.message(), HasSubstr("has an empty address"));
}

}  // namespace
}  // namespace attnoracle
