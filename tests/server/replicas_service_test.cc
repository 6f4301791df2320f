// Two OracleServers on one PostgreSQL database, as two replicas: both start
// at once with the same challenges; what an admin does through one (a new
// challenge, a learner, a grant, a revocation, a phase change) and a
// learner's submission reach the other within 2 x refresh_ms (plus the
// reload's own time); after a close through one, the other answers
// nothing more, at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "tests/postgres_cluster.h"
#include "tests/server/competition_fixture.h"

namespace attnoracle::test {
namespace {

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr int kRefreshMs = 200;
// What a reload may take beyond the bound on a loaded 2-core machine.
constexpr absl::Duration kReloadAllowance = absl::Milliseconds(300);

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen_address = "";
    options.db_path = PostgresEnvironment::cluster().NewDatabase();
    options.admin_token = kAdminToken;
    options.refresh_ms = kRefreshMs;
    // Both at once on the empty database: the schema and the built-in
    // challenges are created by one, and the other loads and compares.
    absl::StatusOr<std::unique_ptr<OracleServer>> a, b;
    std::thread other([&] { b = OracleServer::BuildAndStart(options); });
    a = OracleServer::BuildAndStart(options);
    other.join();
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = *std::move(a);
    b_ = *std::move(b);
    channel_a_ = a_->InProcessChannel();
    channel_b_ = b_->InProcessChannel();
  }

  Session OnA(const std::string& authorization) const {
    return Session([this] { return channel_a_; }, authorization);
  }
  Session OnB(const std::string& authorization) const {
    return Session([this] { return channel_b_; }, authorization);
  }

  // Waits until `seen` holds and returns how long that took; fails the
  // test past the bound the README states.
  absl::Duration SeenWithin(const std::function<bool()>& seen,
                            const std::string& what) const {
    const absl::Time start = absl::Now();
    const absl::Duration bound =
        2 * absl::Milliseconds(kRefreshMs) + kReloadAllowance;
    while (!seen()) {
      if (absl::Now() - start > 5 * bound) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    const absl::Duration took = absl::Now() - start;
    EXPECT_LE(took, bound) << what << " took " << took;
    std::printf("%s reached the other replica in %s\n", what.c_str(),
                absl::FormatDuration(took).c_str());
    return took;
  }

  std::unique_ptr<OracleServer> a_, b_;
  std::shared_ptr<grpc::Channel> channel_a_, channel_b_;
};

TEST_F(ReplicasTest, AdminActionsOnOneReachTheOther) {
  const Session admin_a = OnA(Bearer(kAdminToken));
  ASSERT_TRUE(admin_a.Create(SmallConfig("rep")).ok());
  absl::StatusOr<v1::RegisterLearnerResponse> alice = admin_a.Register("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  const Session alice_b = OnB(Bearer(alice->token()));
  const std::vector<Matrix> x = SmallSequences(2, 3, 1);
  SeenWithin([&] { return alice_b.Query("rep", x).ok(); },
             "a new challenge and a new learner");

  // Usage and grants are read from the database: exact at once.
  ASSERT_TRUE(OnA(Bearer(alice->token())).Query("rep", x).ok());
  absl::StatusOr<v1::Usage> usage = alice_b.GetUsage("rep");
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used(), 4u);
  ASSERT_TRUE(admin_a.Grant("rep", "alice", 10, 0).ok());
  usage = alice_b.GetUsage("rep");
  EXPECT_EQ(usage->queries_left(), 40u + 10u - 4u);

  // A submission through B reaches A's leaderboard (read once first).
  ASSERT_TRUE(OnA(Bearer(alice->token())).Leaderboard("rep").ok());
  const LayerParams& secret =
      (*b_->registry().Find("rep"))->SecretFor("")->params;
  ASSERT_TRUE(alice_b.Submit("rep", secret).ok());
  SeenWithin(
      [&] {
        absl::StatusOr<v1::GetLeaderboardResponse> board =
            OnA(Bearer(alice->token())).Leaderboard("rep");
        return board.ok() && board->entries_size() == 1;
      },
      "a submission");

  // A revocation through A locks alice out of B.
  ASSERT_TRUE(admin_a.Revoke("alice").ok());
  SeenWithin(
      [&] {
        return alice_b.Query("rep", x).status().code() ==
               absl::StatusCode::kUnauthenticated;
      },
      "a revocation");
}

TEST_F(ReplicasTest, AfterACloseOnOneTheOtherAnswersNothingMore) {
  const Session admin_a = OnA(Bearer(kAdminToken));
  ASSERT_TRUE(admin_a.Create(SmallConfig("rep")).ok());
  absl::StatusOr<v1::RegisterLearnerResponse> bob = admin_a.Register("bob");
  ASSERT_TRUE(bob.ok()) << bob.status();
  const Session bob_b = OnB(Bearer(bob->token()));
  const std::vector<Matrix> x = SmallSequences(1, 2, 3);
  SeenWithin([&] { return bob_b.Query("rep", x).ok(); }, "a new learner");

  ASSERT_TRUE(admin_a.SetPhase("rep", v1::PHASE_CLOSED).ok());
  // At once, before any refresh: the database refuses the reservation.
  const absl::Status refused = bob_b.Query("rep", x).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  // Worded as A refuses it, from its own view of the phase.
  const absl::Status refused_on_a =
      OnA(Bearer(bob->token())).Query("rep", x).status();
  EXPECT_EQ(refused_on_a.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(), refused_on_a.message());
  EXPECT_EQ(refused.message(),
            "challenge \"rep\" is closed; answering needs it open");
  // And B's own view of the phase follows.
  SeenWithin(
      [&] { return (*b_->registry().Find("rep"))->phase() == Phase::kClosed; },
      "a phase change");
  absl::StatusOr<v1::Usage> usage = bob_b.GetUsage("rep");
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used(), 1u);
}

}  // namespace
}  // namespace attnoracle::test
