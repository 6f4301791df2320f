// SubmissionBook over a MemoryStore and an in-memory SqliteStore alike: the
// limit counts stored and reserved submissions, a place not stored is given
// back, each learner's best and count match what was stored whatever the
// order, a challenge's submissions are read from the store once (and again
// after a failed read), and on a SQLite file the counts survive a restart.
#include "server/core/submission_book.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/core/memory_store.h"
#include "server/core/sqlite_store.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::ForwardingStore;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::TempDbPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCh[] = "ch";
constexpr char kOther[] = "other";

Score ScoreOf(double functional_rel_err, uint64_t tokens_used = 0) {
  Score s;
  s.functional_rel_err = functional_rel_err;
  s.tokens_used = tokens_used;
  return s;
}

// A learner's standing, flattened so a failure prints what differs.
struct Seen {
  std::string learner;
  uint64_t best_id = 0;
  uint32_t submissions = 0;
  friend bool operator==(const Seen&, const Seen&) = default;
  friend void PrintTo(const Seen& s, std::ostream* os) {
    *os << s.learner << ": best #" << s.best_id << " of " << s.submissions;
  }
};

// Every learner's standing on `challenge`, by learner; fails the test when
// they cannot be read.
std::vector<Seen> StandingsOf(const SubmissionBook& book,
                              const std::string& challenge,
                              Headline headline = Headline::kFunctionalRelErr) {
  absl::StatusOr<std::vector<Standing>> standings =
      book.Standings(challenge, headline);
  EXPECT_TRUE(standings.ok()) << standings.status();
  std::vector<Seen> out;
  for (const Standing& s : standings.value_or(std::vector<Standing>{})) {
    out.push_back({s.best.learner, s.best.id, s.submissions});
  }
  std::sort(out.begin(), out.end(),
            [](const Seen& a, const Seen& b) { return a.learner < b.learner; });
  return out;
}

// Reserves and stores one submission; returns its id (0 on failure, which
// fails the test).
uint64_t Submit(SubmissionBook& book, const std::string& challenge,
                const std::string& learner, const Score& score,
                int64_t created_ms = 0, uint32_t max_submissions = 0,
                Headline headline = Headline::kFunctionalRelErr) {
  absl::StatusOr<SubmissionBook::Slot> slot =
      book.Reserve(challenge, headline, learner, max_submissions);
  EXPECT_TRUE(slot.ok()) << slot.status();
  if (!slot.ok()) return 0;
  absl::StatusOr<SubmissionRecord> stored =
      book.Insert(*std::move(slot), score, created_ms);
  EXPECT_TRUE(stored.ok()) << stored.status();
  if (!stored.ok()) return 0;
  EXPECT_EQ(stored->challenge_id, challenge);
  EXPECT_EQ(stored->learner, learner);
  EXPECT_EQ(stored->created_ms, created_ms);
  return stored->id;
}

// Counts LoadSubmissions calls; fails the next `fail_loads` of them, and
// every InsertSubmission while `fail_inserts` is set.
class ObservedStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::StatusOr<SubmissionRecord> InsertSubmission(
      const SubmissionRecord& record) override {
    if (fail_inserts.load()) {
      return absl::UnavailableError("disk I/O error (injected)");
    }
    return ForwardingStore::InsertSubmission(record);
  }
  absl::StatusOr<std::vector<SubmissionRecord>> LoadSubmissions(
      const std::string& challenge_id) override {
    loads.fetch_add(1);
    if (fail_loads.load() > 0) {
      fail_loads.fetch_sub(1);
      return absl::UnavailableError("database is locked (injected)");
    }
    return ForwardingStore::LoadSubmissions(challenge_id);
  }

  std::atomic<int> loads{0};
  std::atomic<int> fail_loads{0};
  std::atomic<bool> fail_inserts{false};
};

struct StoreKind {
  std::string name;
  std::function<std::unique_ptr<Store>()> open;
};

void PrintTo(const StoreKind& k, std::ostream* os) { *os << k.name; }

class SubmissionBookTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  SubmissionBookTest()
      : inner_(GetParam().open()), store_(inner_.get()), book_(&store_) {}

  std::unique_ptr<Store> inner_;
  ObservedStore store_;
  SubmissionBook book_;
};

INSTANTIATE_TEST_SUITE_P(
    Stores, SubmissionBookTest,
    ::testing::Values(
        StoreKind{"Memory", [] { return std::make_unique<MemoryStore>(); }},
        StoreKind{
            "Sqlite",
            [] { return std::unique_ptr<Store>(OpenStoreOrDie(":memory:")); }}),
    [](const ::testing::TestParamInfo<StoreKind>& info) {
      return info.param.name;
    });

TEST_P(SubmissionBookTest, LimitCountsStoredAndReservedSubmissions) {
  constexpr uint32_t kLimit = 2;
  absl::StatusOr<SubmissionBook::Slot> first =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", kLimit);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->earlier(), 0u);
  {
    absl::StatusOr<SubmissionBook::Slot> second =
        book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", kLimit);
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->earlier(), 1u);

    absl::StatusOr<SubmissionBook::Slot> third =
        book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", kLimit);
    EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(MessageOf(third.status()),
              "submission limit reached: 2 submissions per learner on \"ch\"");
    // Other learners and other challenges have their own counts.
    absl::StatusOr<SubmissionBook::Slot> bob =
        book_.Reserve(kCh, Headline::kFunctionalRelErr, "bob", kLimit);
    ASSERT_TRUE(bob.ok()) << bob.status();
    EXPECT_EQ(bob->earlier(), 0u);
    absl::StatusOr<SubmissionBook::Slot> elsewhere =
        book_.Reserve(kOther, Headline::kFunctionalRelErr, "alice", kLimit);
    ASSERT_TRUE(elsewhere.ok()) << elsewhere.status();
    EXPECT_EQ(elsewhere->earlier(), 0u);
  }  // second, bob and elsewhere are dropped unused: their places come back

  ASSERT_TRUE(book_.Insert(*std::move(first), ScoreOf(0.5), 1).ok());
  EXPECT_THAT(StandingsOf(book_, kCh), ElementsAre(Seen{"alice", 1, 1}));
  EXPECT_THAT(StandingsOf(book_, kOther), IsEmpty());
  absl::StatusOr<SubmissionBook::Slot> again =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", kLimit);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->earlier(), 1u);
  ASSERT_TRUE(book_.Insert(*std::move(again), ScoreOf(0.4), 2).ok());
  EXPECT_EQ(book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", kLimit)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(StandingsOf(book_, kCh), ElementsAre(Seen{"alice", 2, 2}));
}

TEST_P(SubmissionBookTest, ZeroMaxSubmissionsIsUnlimited) {
  constexpr int kSubmissions = 5;
  for (int i = 0; i < kSubmissions; ++i) {
    absl::StatusOr<SubmissionBook::Slot> slot =
        book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 0);
    ASSERT_TRUE(slot.ok()) << slot.status();
    EXPECT_EQ(slot->earlier(), static_cast<uint32_t>(i));
    ASSERT_TRUE(book_.Insert(*std::move(slot), ScoreOf(1), i).ok());
  }
  // Equal scores: the earliest is the best.
  EXPECT_THAT(StandingsOf(book_, kCh), ElementsAre(Seen{"alice", 1, 5}));
}

TEST_P(SubmissionBookTest, StandingsKeepEachLearnersBestAndCount) {
  // alice: the best is neither the first nor the last; carol: equal errors,
  // fewer tokens wins; dave: equal errors and tokens, earlier wins.
  EXPECT_EQ(Submit(book_, kCh, "alice", ScoreOf(0.5), 10), 1u);
  EXPECT_EQ(Submit(book_, kCh, "alice", ScoreOf(0.1), 11), 2u);
  EXPECT_EQ(Submit(book_, kCh, "bob", ScoreOf(0.2), 12), 3u);
  EXPECT_EQ(Submit(book_, kCh, "alice", ScoreOf(0.3), 13), 4u);
  EXPECT_EQ(Submit(book_, kCh, "carol", ScoreOf(0.2, 5), 14), 5u);
  EXPECT_EQ(Submit(book_, kCh, "carol", ScoreOf(0.2, 3), 15), 6u);
  EXPECT_EQ(Submit(book_, kCh, "dave", ScoreOf(0.2, 3), 20), 7u);
  EXPECT_EQ(Submit(book_, kCh, "dave", ScoreOf(0.2, 3), 16), 8u);
  EXPECT_EQ(Submit(book_, kOther, "alice", ScoreOf(0.9), 17), 9u);
  const std::vector<Seen> expected = {
      {"alice", 2, 3}, {"bob", 3, 1}, {"carol", 6, 2}, {"dave", 8, 2}};
  EXPECT_EQ(StandingsOf(book_, kCh), expected);
  EXPECT_THAT(StandingsOf(book_, kOther), ElementsAre(Seen{"alice", 9, 1}));

  // A new book over the same store reads the same standings from it.
  SubmissionBook fresh(&store_);
  EXPECT_EQ(StandingsOf(fresh, kCh), expected);
}

// On a sign challenge the best is the lowest sign disagreement, whatever
// the functional error (which the output scale, not identifiable from
// signs, can make large for a right hypothesis).
TEST_P(SubmissionBookTest, SignChallengesKeepTheLowestSignDisagreement) {
  const Headline sign = Headline::kSignDisagreement;
  Score agrees = ScoreOf(0.9);
  agrees.sign_disagreement = 0.01;
  Score disagrees = ScoreOf(0.1);
  disagrees.sign_disagreement = 0.2;
  EXPECT_EQ(Submit(book_, kCh, "alice", agrees, 10, 0, sign), 1u);
  EXPECT_EQ(Submit(book_, kCh, "alice", disagrees, 11, 0, sign), 2u);
  EXPECT_EQ(Submit(book_, kCh, "bob", disagrees, 12, 0, sign), 3u);
  EXPECT_EQ(Submit(book_, kCh, "bob", agrees, 13, 0, sign), 4u);
  EXPECT_THAT(StandingsOf(book_, kCh, sign),
              ElementsAre(Seen{"alice", 1, 2}, Seen{"bob", 4, 2}));
  SubmissionRecord a{1, kCh, "alice", agrees, 10};
  SubmissionRecord b{2, kCh, "alice", disagrees, 11};
  EXPECT_TRUE(BetterSubmission(a, b, sign));
  EXPECT_FALSE(BetterSubmission(a, b, Headline::kFunctionalRelErr));
}

TEST_P(SubmissionBookTest, SubmissionsAlreadyStoredCountTowardsTheLimit) {
  for (const char* learner : {"alice", "alice", "bob"}) {
    ASSERT_TRUE(
        inner_
            ->InsertSubmission(SubmissionRecord{0, kCh, learner, ScoreOf(1), 0})
            .ok());
  }
  EXPECT_EQ(book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 2)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  absl::StatusOr<SubmissionBook::Slot> bob =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "bob", 2);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->earlier(), 1u);
}

TEST_P(SubmissionBookTest, EachChallengeIsReadFromTheStoreOnce) {
  Submit(book_, kCh, "alice", ScoreOf(0.5));
  Submit(book_, kCh, "bob", ScoreOf(0.5));
  StandingsOf(book_, kCh);
  EXPECT_EQ(book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 1)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store_.loads.load(), 1);
  StandingsOf(book_, kOther);
  Submit(book_, kOther, "alice", ScoreOf(0.5));
  EXPECT_EQ(store_.loads.load(), 2);
}

TEST_P(SubmissionBookTest, AFailedReadIsTriedAgain) {
  ASSERT_TRUE(
      inner_->InsertSubmission(SubmissionRecord{0, kCh, "alice", ScoreOf(1), 0})
          .ok());
  store_.fail_loads = 2;
  absl::StatusOr<SubmissionBook::Slot> refused =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(refused.status()), HasSubstr("injected"));
  EXPECT_EQ(book_.Standings(kCh, Headline::kFunctionalRelErr).status().code(),
            absl::StatusCode::kUnavailable);
  // Nothing half-read was kept: the stored submission still counts.
  EXPECT_EQ(book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 1)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(StandingsOf(book_, kCh), ElementsAre(Seen{"alice", 1, 1}));
  EXPECT_EQ(store_.loads.load(), 3);
}

TEST_P(SubmissionBookTest, AFailedInsertGivesThePlaceBack) {
  absl::StatusOr<SubmissionBook::Slot> slot =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 1);
  ASSERT_TRUE(slot.ok()) << slot.status();
  store_.fail_inserts = true;
  absl::StatusOr<SubmissionRecord> failed =
      book_.Insert(*std::move(slot), ScoreOf(0.5), 0);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(StandingsOf(book_, kCh), IsEmpty());
  store_.fail_inserts = false;
  absl::StatusOr<SubmissionBook::Slot> retry =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 1);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->earlier(), 0u);
}

TEST_P(SubmissionBookTest, AMovedSlotIsGivenBackOnce) {
  absl::StatusOr<SubmissionBook::Slot> a =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 2);
  absl::StatusOr<SubmissionBook::Slot> b =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 2);
  ASSERT_TRUE(a.ok() && b.ok());
  *b = *std::move(a);  // b's place comes back; a's moves into b
  EXPECT_EQ(book_.Insert(*std::move(a), ScoreOf(1), 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<SubmissionBook::Slot> c =
      book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 2);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->earlier(), 1u);
  EXPECT_EQ(book_.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 2)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_P(SubmissionBookTest, EmptyChallengeIdIsInvalidArgument) {
  EXPECT_EQ(book_.Reserve("", Headline::kFunctionalRelErr, "alice", 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(book_.Standings("", Headline::kFunctionalRelErr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SubmissionBookFileTest, CountsAndBestSurviveARestart) {
  const std::string path = TempDbPath();
  std::vector<Seen> before;
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    SubmissionBook book(store.get());
    for (double err : {0.3, 0.1, 0.2}) {
      Submit(book, kCh, "alice", ScoreOf(err), 0, 3);
    }
    Submit(book, kCh, "bob", ScoreOf(0.5), 0, 3);
    before = StandingsOf(book, kCh);
    ASSERT_EQ(before, (std::vector<Seen>{{"alice", 2, 3}, {"bob", 4, 1}}));
  }
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  SubmissionBook book(store.get());
  EXPECT_EQ(StandingsOf(book, kCh), before);
  EXPECT_EQ(book.Reserve(kCh, Headline::kFunctionalRelErr, "alice", 3)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  absl::StatusOr<SubmissionBook::Slot> bob =
      book.Reserve(kCh, Headline::kFunctionalRelErr, "bob", 3);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->earlier(), 1u);
}

}  // namespace
}  // namespace attnoracle
