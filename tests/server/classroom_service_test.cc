// Classes through the real services in process. Open mode with learner
// names (ServerOptions::open_learners): each name its own budget, usage and
// transcript, anonymous callers still one learner, bad names refused with
// their code and without being repeated, the cap on names (across a
// restart), names ignored where tokens decide and refused when the option
// is off. Competition mode: a revoked learner registered again gets a new
// token and keeps its records, across a restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
using ::testing::Not;

// A built-in challenge with a class-sized budget: 64 queries, 256 tokens.
constexpr char kTiny[] = "tiny-d4";
constexpr uint64_t kTinyBudgetQueries = 64;

// The learner names of a transcript's entries.
std::vector<std::string> LearnersOf(const Session& session) {
  absl::StatusOr<v1::GetTranscriptResponse> page = session.Transcript(kTiny);
  EXPECT_TRUE(page.ok()) << page.status();
  std::vector<std::string> out;
  if (page.ok()) {
    for (const v1::TranscriptEntry& e : page->entries()) {
      out.push_back(e.learner());
    }
  }
  return out;
}

uint64_t QueriesUsed(const Session& session) {
  absl::StatusOr<v1::Usage> usage = session.GetUsage(kTiny);
  EXPECT_TRUE(usage.ok()) << usage.status();
  return usage.ok() ? usage->queries_used() : 0;
}

// An open-mode server whose callers may name themselves; at most
// `max_learners` names unless a test sets another cap and restarts.
class ClassroomTest : public CompetitionTest {
 protected:
  void SetUp() override {
    options_.listen_address = "";
    options_.db_path = test::TempDbPath();
    options_.open_learners.enabled = true;
    ASSERT_NO_FATAL_FAILURE(Start());
  }

  Session Learner(const std::string& name) const { return As("").Named(name); }
};

TEST_F(ClassroomTest, EachNameHasItsOwnBudgetUsageAndTranscript) {
  EXPECT_FALSE(server_->competition_mode());
  const Session alice = Learner("alice");
  const Session bob = Learner("bob");
  // Alice spends the whole budget; bob and the anonymous learner still
  // have theirs.
  ASSERT_TRUE(alice
                  .Query(kTiny, SmallSequences(
                                    static_cast<int>(kTinyBudgetQueries), 1, 1))
                  .ok());
  const absl::Status spent =
      alice.Query(kTiny, SmallSequences(1, 1, 2)).status();
  EXPECT_EQ(spent.code(), absl::StatusCode::kResourceExhausted) << spent;

  const std::vector<Matrix> bob_x = SmallSequences(2, 3, 3);
  ASSERT_TRUE(bob.Query(kTiny, bob_x).ok());
  ASSERT_TRUE(bob.QueryOverStream(kTiny, SmallSequences(1, 1, 4)).ok());
  EXPECT_EQ(QueriesUsed(alice), kTinyBudgetQueries);
  EXPECT_EQ(QueriesUsed(bob), 3u);
  EXPECT_EQ(QueriesUsed(As("")), 0u);

  EXPECT_THAT(LearnersOf(alice), testing::ElementsAre("alice"));
  EXPECT_THAT(LearnersOf(bob), testing::ElementsAre("bob", "bob"));
  absl::StatusOr<v1::GetTranscriptResponse> bobs = bob.Transcript(kTiny);
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_EQ(bobs->entries(0).request(), EncodeMatrices(bob_x));
  EXPECT_THAT(LearnersOf(As("")), testing::IsEmpty());

  // A submission is the name's, on the leaderboard.
  ASSERT_TRUE(bob.Submit(kTiny, HiddenSecret(kTiny)).ok());
  absl::StatusOr<v1::GetLeaderboardResponse> board = alice.Leaderboard(kTiny);
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_EQ(board->entries_size(), 1);
  EXPECT_EQ(board->entries(0).learner(), "bob");
}

TEST_F(ClassroomTest, CallersWithoutANameShareTheAnonymousLearner) {
  ASSERT_TRUE(As("").Query(kTiny, SmallSequences(2, 1, 1)).ok());
  ASSERT_TRUE(As(Bearer("any")).Query(kTiny, SmallSequences(1, 1, 2)).ok());
  EXPECT_EQ(QueriesUsed(As("")), 3u);
  EXPECT_THAT(LearnersOf(As(Bearer("other"))),
              testing::ElementsAre(kAnonymousLearner, kAnonymousLearner));
  EXPECT_EQ(QueriesUsed(Learner("carol")), 0u);
}

TEST_F(ClassroomTest, BadNamesAreInvalidArgumentAndNotRepeated) {
  const std::string marker = "zq-marker";
  for (const std::string& bad :
       {std::string(""), std::string("Alice"), std::string("a b"),
        std::string("al/ice"), std::string(65, 'a'),
        std::string(kAnonymousLearner), marker + std::string(1000, 'Q')}) {
    SCOPED_TRACE(bad.substr(0, 80));
    const Session caller = Learner(bad);
    for (const absl::Status& s :
         {caller.List().status(), caller.GetUsage(kTiny).status(),
          caller.Query(kTiny, SmallSequences(1, 1, 1)).status(),
          caller.QueryOverStream(kTiny, SmallSequences(1, 1, 1)).status()}) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
      EXPECT_THAT(MessageOf(s), HasSubstr("[a-z0-9._-]"));
      EXPECT_THAT(MessageOf(s), HasSubstr("--learner"));
      EXPECT_THAT(MessageOf(s), Not(HasSubstr(marker)));
    }
  }
  // Nothing was charged, to anyone.
  EXPECT_EQ(QueriesUsed(As("")), 0u);
  absl::StatusOr<v1::GetLeaderboardResponse> board = As("").Leaderboard(kTiny);
  ASSERT_TRUE(board.ok()) << board.status();
  EXPECT_EQ(board->entries_size(), 0);
}

TEST_F(ClassroomTest, NewNamesBeyondTheCapAreResourceExhausted) {
  options_.open_learners.max_learners = 2;
  ASSERT_NO_FATAL_FAILURE(Restart());
  ASSERT_TRUE(Learner("alice").Query(kTiny, SmallSequences(1, 1, 1)).ok());
  ASSERT_TRUE(Learner("bob").List().ok());

  const absl::Status third = Learner("carol").GetUsage(kTiny).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  EXPECT_THAT(MessageOf(third), HasSubstr("at most 2 learner names"));
  EXPECT_THAT(MessageOf(third), HasSubstr("--max_open_learners"));
  // Names already taken, and callers without one, go on.
  EXPECT_TRUE(Learner("bob").Query(kTiny, SmallSequences(1, 1, 2)).ok());
  EXPECT_TRUE(Learner("alice").GetUsage(kTiny).ok());
  EXPECT_TRUE(As("").Query(kTiny, SmallSequences(1, 1, 3)).ok());

  // After a restart the names with usage are still taken, and keep it.
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(Learner("dave").List().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(QueriesUsed(Learner("alice")), 1u);
  EXPECT_EQ(QueriesUsed(Learner("bob")), 1u);
}

TEST_F(ClassroomTest, NamesKeepTheirUsageAcrossARestart) {
  ASSERT_TRUE(Learner("alice").Query(kTiny, SmallSequences(3, 1, 1)).ok());
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(QueriesUsed(Learner("alice")), 3u);
  EXPECT_EQ(QueriesUsed(As("")), 0u);
}

TEST_F(ClassroomTest, BadOptionsAreRefusedAtStart) {
  server_.reset();
  ServerOptions no_names = options_;
  no_names.open_learners.max_learners = 0;
  absl::StatusOr<std::unique_ptr<OracleServer>> s =
      OracleServer::BuildAndStart(no_names);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(s.status()), HasSubstr("max_open_learners = 0"));

  ServerOptions competition = options_;
  competition.admin_token = test::kAdminToken;
  s = OracleServer::BuildAndStart(competition);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(s.status()), HasSubstr("open mode"));
}

// Open mode as before: a caller without a name is anonymous, and a name is
// refused rather than silently charged to the anonymous learner.
class OpenModeWithoutNamesTest : public CompetitionTest {
 protected:
  void SetUp() override {
    options_.listen_address = "";
    options_.db_path = test::TempDbPath();
    ASSERT_NO_FATAL_FAILURE(Start());
  }
};

TEST_F(OpenModeWithoutNamesTest, NamesAreFailedPrecondition) {
  const Session named = As("").Named("alice");
  for (const absl::Status& s :
       {named.List().status(),
        named.Query(kTiny, SmallSequences(1, 1, 1)).status(),
        named.QueryOverStream(kTiny, SmallSequences(1, 1, 1)).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(MessageOf(s), HasSubstr("--open_learner_ids"));
  }
  ASSERT_TRUE(As("").Query(kTiny, SmallSequences(2, 1, 1)).ok());
  EXPECT_EQ(QueriesUsed(As(Bearer("anything"))), 2u);
  EXPECT_THAT(LearnersOf(As("")), testing::ElementsAre(kAnonymousLearner));
}

// ---- Competition mode --------------------------------------------------

class CompetitionClassTest : public CompetitionTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CompetitionTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(CreateChallenge(SmallConfig(kCh)));
  }
  static constexpr char kCh[] = "class";
};

TEST_F(CompetitionClassTest, NamesAreIgnoredWhereTokensDecide) {
  const Session alice = Register("alice");
  ASSERT_TRUE(Register("bob").GetUsage(kCh).ok());
  ASSERT_TRUE(alice.Named("bob").Query(kCh, SmallSequences(1, 1, 1)).ok());
  ASSERT_TRUE(
      alice.Named("Not A Name").Query(kCh, SmallSequences(1, 1, 2)).ok());
  absl::StatusOr<v1::Usage> usage = alice.GetUsage(kCh);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used(), 2u);
  EXPECT_EQ(As(Bearer("")).Named("alice").GetUsage(kCh).status().code(),
            absl::StatusCode::kUnauthenticated);
}

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

// A database that served a competition, then a class: the registered names
// stay their learners', not anyone's who types them.
TEST_F(CompetitionClassTest, RegisteredNamesAreNotOpenNames) {
  ASSERT_TRUE(Register("alice").Query(kCh, SmallSequences(1, 1, 1)).ok());
  server_.reset();
  options_.admin_token = "";
  options_.open_learners.enabled = true;
  ASSERT_NO_FATAL_FAILURE(Start());
  const absl::Status s = As("").Named("alice").GetUsage(kCh).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(MessageOf(s), HasSubstr("registered learner"));
  absl::StatusOr<v1::Usage> carol = As("").Named("carol").GetUsage(kCh);
  ASSERT_TRUE(carol.ok()) << carol.status();
  EXPECT_EQ(carol->queries_used(), 0u);
}

}  // namespace
}  // namespace attnoracle
