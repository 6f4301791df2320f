// Rate limits end to end in process: the server's refusal carries a retry
// hint through gRPC's trailing metadata into the client's status, and a
// learner's RemoteOracle waits and gets through.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <vector>

#include "client/learners/query_oracle.h"
#include "client/oracle_client.h"
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

}  // namespace
}  // namespace attnoracle
