// Classes through the real services in process: a revoked learner
// registered again gets a new token and keeps its records, across a
// restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/competition_fixture.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::Bearer;
using ::attnoracle::test::CompetitionTest;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::Session;
using ::attnoracle::test::SmallConfig;
using ::attnoracle::test::SmallSequences;
using ::testing::HasSubstr;

// ---- Competition mode --------------------------------------------------

class CompetitionClassTest : public CompetitionTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CompetitionTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(CreateChallenge(SmallConfig(kCh)));
  }
  static constexpr char kCh[] = "class";
};

TEST_F(CompetitionClassTest,
       RegisterAfterRevokeIssuesANewTokenAndKeepsTheRecords) {
  const std::string old_token = RegisterToken("alice");
  const Session old_alice = As(Bearer(old_token));
  const std::vector<Matrix> x = SmallSequences(2, 3, 1);
  ASSERT_TRUE(old_alice.Query(kCh, x).ok());
  ASSERT_TRUE(old_alice.Submit(kCh, HiddenSecret(kCh)).ok());
  ASSERT_TRUE(Admin().Revoke("alice").ok());

  absl::StatusOr<v1::RegisterLearnerResponse> again = Admin().Register("alice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->learner(), "alice");
  EXPECT_NE(again->token(), old_token);
  const Session alice = As(Bearer(again->token()));

  auto expect_records_kept = [&] {
    const absl::Status old = old_alice.GetUsage(kCh).status();
    EXPECT_EQ(old.code(), absl::StatusCode::kUnauthenticated) << old;
    absl::StatusOr<v1::Usage> usage = alice.GetUsage(kCh);
    ASSERT_TRUE(usage.ok()) << usage.status();
    EXPECT_EQ(usage->queries_used(), 2u);
    EXPECT_EQ(usage->tokens_used(), 6u);
    absl::StatusOr<v1::GetTranscriptResponse> page = alice.Transcript(kCh);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->entries_size(), 1);
    EXPECT_EQ(page->entries(0).request(), EncodeMatrices(x));
    absl::StatusOr<v1::GetLeaderboardResponse> board = alice.Leaderboard(kCh);
    ASSERT_TRUE(board.ok()) << board.status();
    ASSERT_EQ(board->entries_size(), 1);
    EXPECT_EQ(board->entries(0).learner(), "alice");
  };
  ASSERT_NO_FATAL_FAILURE(expect_records_kept());
  // The new token charges the same learner.
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(1, 1, 2)).ok());
  EXPECT_EQ(alice.GetUsage(kCh)->queries_used(), 3u);

  // An active learner is still ALREADY_EXISTS; its token keeps working.
  absl::StatusOr<v1::RegisterLearnerResponse> active =
      Admin().Register("alice");
  EXPECT_EQ(active.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(active.status()),
              HasSubstr("\"alice\" already exists"));
  EXPECT_TRUE(alice.GetUsage(kCh).ok());

  // Stored: after a restart the old token is dead and the new one is alice.
  ASSERT_NO_FATAL_FAILURE(Restart());
  const absl::Status old = old_alice.GetUsage(kCh).status();
  EXPECT_EQ(old.code(), absl::StatusCode::kUnauthenticated) << old;
  absl::StatusOr<v1::Usage> usage = alice.GetUsage(kCh);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used(), 3u);
  EXPECT_EQ(alice.Transcript(kCh)->entries_size(), 2);

  // Revoked again, the second token dies too, and a third can be issued.
  ASSERT_TRUE(Admin().Revoke("alice").ok());
  EXPECT_EQ(alice.GetUsage(kCh).status().code(),
            absl::StatusCode::kUnauthenticated);
  const Session third = Register("alice");
  EXPECT_EQ(third.GetUsage(kCh)->queries_used(), 3u);
}

}  // namespace
}  // namespace attnoracle
