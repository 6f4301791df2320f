// The Store contract, for every store a binary instantiates StoreTest with:
// every record type round trips (bytes, NULs, the full range of unsigned
// counters), CommitCharges is all or nothing, a re-issued token replaces
// only the learner's token hash, and duplicates are ALREADY_EXISTS.
#include "tests/server/store_contract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace attnoracle::store_contract {
namespace {

using ::attnoracle::test::MessageOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST_P(StoreTest, EveryRecordTypeRoundTrips) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_NO_FATAL_FAILURE(Fill(*store));
  ExpectFilled(*store);
}

TEST_P(StoreTest, CountersUseTheFullUnsignedRange) {
  std::unique_ptr<Store> store = GetParam().open();
  const UsageRecord big{
      "c", "l", kMaxU64, kMaxU64 - 1, uint64_t{1} << 63, kMaxU64, kMaxU64, ""};
  ASSERT_TRUE(store->CommitCharges(std::vector<UsageRecord>{big}, {}).ok());
  absl::StatusOr<std::vector<UsageRecord>> usage = store->LoadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_THAT(*usage, ElementsAre(big));
}

TEST_P(StoreTest, SubmissionIdsAreAssignedFromOne) {
  std::unique_ptr<Store> store = GetParam().open();
  for (uint64_t expected = 1; expected <= 3; ++expected) {
    absl::StatusOr<SubmissionRecord> r =
        store->InsertSubmission(Submission1("c", "l", 0.5));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->id, expected);
    EXPECT_EQ(r->learner, "l");
  }
}

TEST_P(StoreTest, UsageRowsAreReplacedNotDuplicated) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(
      store->CommitCharges(std::vector<UsageRecord>{Usage1("c", "l", 1)}, {})
          .ok());
  ASSERT_TRUE(
      store->CommitCharges(std::vector<UsageRecord>{Usage1("c", "l", 4)}, {})
          .ok());
  absl::StatusOr<std::vector<UsageRecord>> usage = store->LoadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_THAT(*usage, ElementsAre(Usage1("c", "l", 4)));
}

TEST_P(StoreTest, PhaseAndRevocationUpdates) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(store->InsertChallenge(Challenge1("c")).ok());
  ASSERT_TRUE(store->InsertLearner(Learner1("l")).ok());
  ASSERT_TRUE(store->UpdatePhase("c", Phase::kClosed).ok());
  ASSERT_TRUE(store->UpdateRevoked("l", true).ok());
  EXPECT_EQ((*store->LoadChallenges())[0].phase, Phase::kClosed);
  EXPECT_TRUE((*store->LoadLearners())[0].revoked);
  ASSERT_TRUE(store->UpdateRevoked("l", false).ok());
  EXPECT_FALSE((*store->LoadLearners())[0].revoked);

  const absl::Status no_challenge = store->UpdatePhase("x", Phase::kClosed);
  EXPECT_EQ(no_challenge.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(no_challenge), HasSubstr("no challenge \"x\""));
  const absl::Status no_learner = store->UpdateRevoked("y", true);
  EXPECT_EQ(no_learner.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(no_learner), HasSubstr("no learner \"y\""));
}

// A re-issued learner is the same record with another token hash, no longer
// revoked; what is kept by name (usage, transcripts, submissions) is not
// touched, and a hash can belong to one learner only.
TEST_P(StoreTest, ReissueReplacesTheTokenHashAndUnrevokes) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(store->InsertLearner(Learner1("l")).ok());
  ASSERT_TRUE(store->InsertLearner(Learner1("m")).ok());
  ASSERT_TRUE(
      store
          ->CommitCharges(std::vector<UsageRecord>{Usage1("c", "l", 2)},
                          std::vector<TranscriptEntry>{Entry1("c", "l", 0)})
          .ok());
  ASSERT_TRUE(store->UpdateRevoked("l", true).ok());

  ASSERT_TRUE(store->ReissueLearner("l", Raw("new-hash")).ok());
  LearnerRecord reissued = Learner1("l");
  reissued.token_hash = Raw("new-hash");
  EXPECT_THAT(*store->LoadLearners(), ElementsAre(reissued, Learner1("m")));
  EXPECT_THAT(*store->LoadUsage(), ElementsAre(Usage1("c", "l", 2)));
  EXPECT_THAT(*store->LoadTranscript("c", "l"),
              ElementsAre(Entry1("c", "l", 0)));

  // The old hash is free again; the new one is taken.
  LearnerRecord old_hash = Learner1("n");
  old_hash.token_hash = Learner1("l").token_hash;
  EXPECT_TRUE(store->InsertLearner(old_hash).ok());
  LearnerRecord new_hash = Learner1("o");
  new_hash.token_hash = Raw("new-hash");
  EXPECT_EQ(store->InsertLearner(new_hash).code(),
            absl::StatusCode::kAlreadyExists);

  const absl::Status taken = store->ReissueLearner("m", old_hash.token_hash);
  EXPECT_EQ(taken.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(taken), HasSubstr("\"m\""));
  EXPECT_EQ((*store->LoadLearners())[1], Learner1("m"));

  const absl::Status unknown = store->ReissueLearner("y", Raw("other"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(unknown), HasSubstr("no learner \"y\""));
  EXPECT_EQ(store->LoadLearners()->size(), 3u);
}

TEST_P(StoreTest, DuplicatesAreAlreadyExists) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(store->InsertChallenge(Challenge1("c")).ok());
  ASSERT_TRUE(store->InsertLearner(Learner1("l")).ok());

  const absl::Status challenge = store->InsertChallenge(Challenge1("c"));
  EXPECT_EQ(challenge.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(challenge), HasSubstr(GetParam().duplicate_challenge));

  LearnerRecord same_name = Learner1("l");
  same_name.token_hash = "another hash";
  const absl::Status learner = store->InsertLearner(same_name);
  EXPECT_EQ(learner.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(learner), HasSubstr("learner \"l\" already exists"));

  LearnerRecord same_hash = Learner1("m");
  same_hash.token_hash = Learner1("l").token_hash;
  EXPECT_EQ(store->InsertLearner(same_hash).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->LoadLearners()->size(), 1u);
  EXPECT_EQ(store->LoadChallenges()->size(), 1u);
}

// A duplicate transcript key anywhere in a batch rolls back the whole
// batch: the usage rows before it and the entries around it.
TEST_P(StoreTest, CommitChargesIsAtomic) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(
      store
          ->CommitCharges(std::vector<UsageRecord>{Usage1("c", "l", 1)},
                          std::vector<TranscriptEntry>{Entry1("c", "l", 0)})
          .ok());
  const std::vector<UsageRecord> usage = {Usage1("c", "l", 3),
                                          Usage1("c", "new", 1)};
  const std::vector<TranscriptEntry> clashing = {
      Entry1("c", "l", 1), Entry1("c", "new", 0), Entry1("c", "l", 0)};
  const absl::Status s = store->CommitCharges(usage, clashing);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(s), HasSubstr("transcripts"));

  EXPECT_THAT(*store->LoadUsage(), ElementsAre(Usage1("c", "l", 1)));
  EXPECT_THAT(*store->LoadTranscript("c", ""),
              ElementsAre(Entry1("c", "l", 0)));

  // A duplicate inside one batch is refused the same way.
  const std::vector<TranscriptEntry> twice = {Entry1("c", "l", 1),
                                              Entry1("c", "l", 1)};
  EXPECT_EQ(store->CommitCharges(usage, twice).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(*store->LoadUsage(), ElementsAre(Usage1("c", "l", 1)));

  // And the store still commits afterwards.
  ASSERT_TRUE(store
                  ->CommitCharges(
                      usage, std::vector<TranscriptEntry>{Entry1("c", "l", 1)})
                  .ok());
  EXPECT_THAT(*store->LoadTranscript("c", "l"),
              ElementsAre(Entry1("c", "l", 0), Entry1("c", "l", 1)));
  EXPECT_EQ(store->LoadUsage()->size(), 2u);
}

// Entries are read in order of index whatever order they were committed
// in, and an index is refused wherever it falls.
TEST_P(StoreTest, EntriesReadInIndexOrder) {
  std::unique_ptr<Store> store = GetParam().open();
  ASSERT_TRUE(
      store
          ->CommitCharges({}, std::vector<TranscriptEntry>{Entry1("c", "l", 4),
                                                           Entry1("c", "l", 1)})
          .ok());
  ASSERT_TRUE(
      store
          ->CommitCharges({}, std::vector<TranscriptEntry>{Entry1("c", "l", 2),
                                                           Entry1("c", "l", 0)})
          .ok());
  EXPECT_EQ(
      store
          ->CommitCharges({}, std::vector<TranscriptEntry>{Entry1("c", "l", 3),
                                                           Entry1("c", "l", 1)})
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(*store->LoadTranscript("c", "l"),
              ElementsAre(Entry1("c", "l", 0), Entry1("c", "l", 1),
                          Entry1("c", "l", 2), Entry1("c", "l", 4)));
  uint64_t total = 0;
  EXPECT_THAT(*store->LoadTranscriptPage("c", "l", 3, 10, kNoByteLimit, &total),
              ElementsAre(Entry1("c", "l", 4)));
  EXPECT_EQ(total, 4u);
}

// Entries far larger than usual, with empty fields among them, round trip
// next to small ones.
TEST_P(StoreTest, LargeAndEmptyEntriesRoundTrip) {
  std::unique_ptr<Store> store = GetParam().open();
  TranscriptEntry large = Entry1("c", "l", 1);
  large.request.assign(3 << 20, '\x01');
  large.response.assign((1 << 20) + 1, '\x02');
  large.chain_hash.clear();
  std::vector<TranscriptEntry> entries = {Entry1("c", "l", 0), large,
                                          Entry1("c", "l", 2)};
  ASSERT_TRUE(store->CommitCharges({}, entries).ok());
  EXPECT_THAT(*store->LoadTranscript("c", ""),
              ElementsAre(entries[0], entries[1], entries[2]));
}

TEST_P(StoreTest, TranscriptPagesReadOnlyTheirEntries) {
  std::unique_ptr<Store> store = GetParam().open();
  std::vector<TranscriptEntry> entries;
  for (uint64_t i = 0; i < 5; ++i) entries.push_back(Entry1("c", "l", i));
  entries.push_back(Entry1("c", "other", 0));
  ASSERT_TRUE(store->CommitCharges({}, entries).ok());
  uint64_t total = 0;
  absl::StatusOr<std::vector<TranscriptEntry>> page =
      store->LoadTranscriptPage("c", "l", 1, 2, kNoByteLimit, &total);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, ElementsAre(Entry1("c", "l", 1), Entry1("c", "l", 2)));
  EXPECT_EQ(total, 5u);
  page = store->LoadTranscriptPage("c", "l", 4, 10, kNoByteLimit, &total);
  EXPECT_THAT(*page, ElementsAre(Entry1("c", "l", 4)));
  page = store->LoadTranscriptPage("c", "l", 5, 10, kNoByteLimit, &total);
  EXPECT_TRUE(page->empty());
  EXPECT_EQ(total, 5u);
  page = store->LoadTranscriptPage("c", "nobody", 0, 10, kNoByteLimit, &total);
  EXPECT_TRUE(page->empty());
  EXPECT_EQ(total, 0u);
}

// A page stops before the entry that would take it past the byte budget,
// but never comes back empty while entries are left, however large.
TEST_P(StoreTest, TranscriptPagesStopAtTheByteBudget) {
  std::unique_ptr<Store> store = GetParam().open();
  std::vector<TranscriptEntry> entries;
  for (uint64_t i = 0; i < 6; ++i) {
    TranscriptEntry e = Entry1("c", "l", i);
    e.request.assign(i == 3 ? 5000 : 1000, static_cast<char>('a' + i));
    entries.push_back(e);
  }
  ASSERT_TRUE(store->CommitCharges({}, entries).ok());
  const size_t each = TranscriptPageBytes(entries[0]);
  uint64_t total = 0;
  absl::StatusOr<std::vector<TranscriptEntry>> page =
      store->LoadTranscriptPage("c", "l", 0, 10, 2 * each + each / 2, &total);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, ElementsAre(entries[0], entries[1]));
  EXPECT_EQ(total, 6u);
  // Exactly three entries' worth holds three.
  page = store->LoadTranscriptPage("c", "l", 0, 10, 3 * each, &total);
  EXPECT_THAT(*page, ElementsAre(entries[0], entries[1], entries[2]));
  // An entry larger than the budget alone still makes a page of its own.
  page = store->LoadTranscriptPage("c", "l", 3, 10, each, &total);
  EXPECT_THAT(*page, ElementsAre(entries[3]));
  // The entry limit still applies under a large budget.
  page = store->LoadTranscriptPage("c", "l", 4, 1, kNoByteLimit, &total);
  EXPECT_THAT(*page, ElementsAre(entries[4]));
}

TEST_P(StoreTest, PageFromPastTheSignedRangeIsEmpty) {
  // SQLite's integers are signed: 2^63 must not wrap round to index 0.
  std::unique_ptr<Store> store = GetParam().open();
  std::vector<TranscriptEntry> entries;
  for (uint64_t i = 0; i < 3; ++i) entries.push_back(Entry1("c", "l", i));
  ASSERT_TRUE(store->CommitCharges({}, entries).ok());
  for (const uint64_t first :
       {uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()}) {
    uint64_t total = 0;
    absl::StatusOr<std::vector<TranscriptEntry>> page =
        store->LoadTranscriptPage("c", "l", first, 10, kNoByteLimit, &total);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_TRUE(page->empty()) << first;
    EXPECT_EQ(total, 3u);
  }
}

}  // namespace
}  // namespace attnoracle::store_contract
