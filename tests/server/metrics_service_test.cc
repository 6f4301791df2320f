// Metrics through the real gRPC services (in process): every call counted
// by method and status code and timed, answers and refusals per learner,
// and nothing counted when metrics are off.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "client/oracle_client.h"
#include "server/service/oracle_server.h"

namespace attnoracle {
namespace {

constexpr char kDescribe[] = "/attnoracle.v1.Oracle/DescribeChallenge";
constexpr char kQuery[] = "/attnoracle.v1.Oracle/Query";

std::unique_ptr<OracleServer> Start(bool collect) {
  ServerOptions options;
  options.listen_address = "";
  options.db_path = ":memory:";
  options.collect_metrics = collect;
  auto server = OracleServer::BuildAndStart(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(MetricsServiceTest, CountsAndTimesEveryCallByMethodAndCode) {
  std::unique_ptr<OracleServer> server = Start(/*collect=*/true);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->metrics(), nullptr);
  OracleClient client(server->InProcessChannel(), ClientOptions{});
  ASSERT_TRUE(client.Describe("tiny-d4").ok());
  EXPECT_EQ(client.Describe("no-such").status().code(),
            absl::StatusCode::kNotFound);
  Matrix x = Matrix::Zero(2, 4);
  x(0, 0) = 1;
  const std::vector<Matrix> good = {x};
  const std::vector<Matrix> narrow = {Matrix::Zero(1, 3)};
  ASSERT_TRUE(client.Query("tiny-d4", good).ok());
  EXPECT_EQ(client.Query("tiny-d4", narrow).status().code(),
            absl::StatusCode::kInvalidArgument);

  const ServerMetrics::Snapshot s = server->metrics()->Read();
  EXPECT_EQ(s.rpcs.at({kDescribe, "OK"}), 1u);
  EXPECT_EQ(s.rpcs.at({kDescribe, "NOT_FOUND"}), 1u);
  EXPECT_EQ(s.rpcs.at({kQuery, "OK"}), 1u);
  EXPECT_EQ(s.rpcs.at({kQuery, "INVALID_ARGUMENT"}), 1u);
  EXPECT_EQ(s.rpc_seconds.at(kQuery).count, 2u);
  EXPECT_GT(s.rpc_seconds.at(kQuery).sum, 0);
  const ServerMetrics::LearnerCounts& anonymous =
      s.learners.at({"tiny-d4", "anonymous"});
  EXPECT_EQ(anonymous.queries, 1u);
  EXPECT_EQ(anonymous.tokens, 2u);
  EXPECT_EQ(s.refused.at({"tiny-d4", "anonymous", "INVALID_ARGUMENT"}), 1u);
  EXPECT_EQ(s.commit_entries.sum, 1);
}

TEST(MetricsServiceTest, OffByDefault) {
  std::unique_ptr<OracleServer> server = Start(/*collect=*/false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->metrics(), nullptr);
  OracleClient client(server->InProcessChannel(), ClientOptions{});
  EXPECT_TRUE(client.ListChallenges().ok());
}

}  // namespace
}  // namespace attnoracle
