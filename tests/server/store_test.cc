// The Store contract, for SqliteStore (in memory) and MemoryStore alike:
// every record type round trips (bytes, NULs, the full range of unsigned
// counters), CommitCharges is all or nothing, a re-issued token replaces
// only the learner's token hash, and duplicates are ALREADY_EXISTS.
// SqliteStore's files: the schema is versioned and a newer database is refused,
// a reopened file keeps everything, only a file is durable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/memory_store.h"
#include "server/core/sqlite_store.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {

// Field-by-field equality for the records, so failures print which differs.
bool operator==(const ChallengeRecord& a, const ChallengeRecord& b) {
  return a.id == b.id && a.config_text == b.config_text && a.phase == b.phase &&
         a.nonce == b.nonce && a.created_ms == b.created_ms;
}
bool operator==(const LearnerRecord& a, const LearnerRecord& b) {
  return a.name == b.name && a.token_hash == b.token_hash && a.role == b.role &&
         a.revoked == b.revoked && a.created_ms == b.created_ms;
}
bool operator==(const UsageRecord& a, const UsageRecord& b) {
  return a.challenge_id == b.challenge_id && a.learner == b.learner &&
         a.queries_used == b.queries_used && a.tokens_used == b.tokens_used &&
         a.extra_queries == b.extra_queries &&
         a.extra_tokens == b.extra_tokens && a.entries == b.entries &&
         a.chain_head == b.chain_head;
}
bool operator==(const TranscriptEntry& a, const TranscriptEntry& b) {
  return a.challenge_id == b.challenge_id && a.learner == b.learner &&
         a.index == b.index && a.first_query_index == b.first_query_index &&
         a.request == b.request && a.response == b.response &&
         a.request_digest == b.request_digest &&
         a.response_digest == b.response_digest &&
         a.chain_hash == b.chain_hash &&
         a.answered_unix_ms == b.answered_unix_ms;
}
bool operator==(const Score& a, const Score& b) {
  return a.functional_rel_err == b.functional_rel_err &&
         a.max_abs_err == b.max_abs_err && a.bits == b.bits &&
         a.theta_rel_err == b.theta_rel_err &&
         a.omega_rel_err == b.omega_rel_err &&
         a.queries_used == b.queries_used && a.tokens_used == b.tokens_used &&
         a.queries_to_bound == b.queries_to_bound &&
         a.tokens_to_bound == b.tokens_to_bound &&
         a.sign_disagreement == b.sign_disagreement;
}
bool operator==(const SubmissionRecord& a, const SubmissionRecord& b) {
  return a.id == b.id && a.challenge_id == b.challenge_id &&
         a.learner == b.learner && a.score == b.score &&
         a.created_ms == b.created_ms;
}

void PrintTo(const ChallengeRecord& r, std::ostream* os) {
  *os << "challenge " << r.id << " phase " << PhaseName(r.phase);
}
void PrintTo(const LearnerRecord& r, std::ostream* os) {
  *os << "learner " << r.name << (r.revoked ? " (revoked)" : "");
}
void PrintTo(const UsageRecord& r, std::ostream* os) {
  *os << "usage " << r.challenge_id << "/" << r.learner << " q "
      << r.queries_used << " t " << r.tokens_used << " +q " << r.extra_queries
      << " +t " << r.extra_tokens << " entries " << r.entries;
}
void PrintTo(const TranscriptEntry& r, std::ostream* os) {
  *os << "entry " << r.challenge_id << "/" << r.learner << "#" << r.index;
}
void PrintTo(const SubmissionRecord& r, std::ostream* os) {
  *os << "submission " << r.id << " " << r.challenge_id << "/" << r.learner
      << " err " << r.score.functional_rel_err;
}

namespace {

using ::attnoracle::test::MessageOf;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::TempDbPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr size_t kNoByteLimit = std::numeric_limits<size_t>::max();

// Bytes with NULs and high bits, as hashes and nonces are.
std::string Raw(const std::string& seed) {
  std::string out = seed;
  out.push_back('\0');
  out.push_back(static_cast<char>(0xff));
  out += seed;
  return out;
}

ChallengeRecord Challenge1(const std::string& id, Phase phase = Phase::kOpen) {
  return ChallengeRecord{id, "id: \"" + id + "\"\nspec { d_model: 4 }\n", phase,
                         Raw("nonce-" + id), 1'700'000'000'123};
}

LearnerRecord Learner1(const std::string& name, Role role = Role::kLearner) {
  return LearnerRecord{name, Raw("hash-" + name), role, false, 42};
}

UsageRecord Usage1(const std::string& challenge, const std::string& learner,
                   uint64_t queries) {
  return UsageRecord{challenge, learner, queries, queries * 3,
                     5,         7,       queries, Raw("head-" + learner)};
}

TranscriptEntry Entry1(const std::string& challenge, const std::string& learner,
                       uint64_t index) {
  const std::string tag = absl::StrCat(challenge, learner, index);
  return TranscriptEntry{challenge,
                         learner,
                         index,
                         index * 2,
                         Raw("req-" + tag),
                         Raw("resp-" + tag),
                         Raw("rd-" + tag),
                         Raw("ad-" + tag),
                         Raw("chain-" + tag),
                         1000 + static_cast<int64_t>(index)};
}

SubmissionRecord Submission1(const std::string& challenge,
                             const std::string& learner, double err) {
  SubmissionRecord r;
  r.challenge_id = challenge;
  r.learner = learner;
  r.score =
      Score{err, 2 * err, 64,    0.25, std::numeric_limits<double>::infinity(),
            9,   kMaxU64, 0.125, 1e300};
  r.score.sign_disagreement = 0.375;
  r.created_ms = 77;
  return r;
}

// The PRAGMA user_version of a database file, through SQLite directly.
int64_t UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int64_t version = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return version;
}

// Runs one statement on a database file, through SQLite directly.
void ExecSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << message;
}

std::string QueryText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Fills a store with two of everything.
void Fill(Store& store) {
  ASSERT_TRUE(store.InsertChallenge(Challenge1("b-ch", Phase::kRevealed)).ok());
  ASSERT_TRUE(store.InsertChallenge(Challenge1("a-ch", Phase::kClosed)).ok());
  ASSERT_TRUE(store.InsertLearner(Learner1("bob")).ok());
  ASSERT_TRUE(store.InsertLearner(Learner1("alice", Role::kAdmin)).ok());
  const std::vector<UsageRecord> usage = {Usage1("a-ch", "bob", 2),
                                          Usage1("a-ch", "alice", 1)};
  const std::vector<TranscriptEntry> entries = {
      Entry1("a-ch", "bob", 0), Entry1("a-ch", "bob", 1),
      Entry1("a-ch", "alice", 0), Entry1("b-ch", "alice", 0)};
  ASSERT_TRUE(store.CommitCharges(usage, entries).ok());
  ASSERT_TRUE(store.InsertSubmission(Submission1("a-ch", "bob", 0.5)).ok());
  ASSERT_TRUE(store.InsertSubmission(Submission1("b-ch", "alice", 0.1)).ok());
}

// Everything Fill wrote, read back as Fill wrote it.
void ExpectFilled(Store& store) {
  absl::StatusOr<std::vector<ChallengeRecord>> challenges =
      store.LoadChallenges();
  ASSERT_TRUE(challenges.ok()) << challenges.status();
  EXPECT_THAT(*challenges, ElementsAre(Challenge1("a-ch", Phase::kClosed),
                                       Challenge1("b-ch", Phase::kRevealed)));

  absl::StatusOr<std::vector<LearnerRecord>> learners = store.LoadLearners();
  ASSERT_TRUE(learners.ok()) << learners.status();
  EXPECT_THAT(*learners,
              ElementsAre(Learner1("alice", Role::kAdmin), Learner1("bob")));

  absl::StatusOr<std::vector<UsageRecord>> usage = store.LoadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_THAT(*usage, ElementsAre(Usage1("a-ch", "alice", 1),
                                  Usage1("a-ch", "bob", 2)));

  absl::StatusOr<std::vector<TranscriptEntry>> all =
      store.LoadTranscript("a-ch", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(*all,
              ElementsAre(Entry1("a-ch", "alice", 0), Entry1("a-ch", "bob", 0),
                          Entry1("a-ch", "bob", 1)));
  absl::StatusOr<std::vector<TranscriptEntry>> bobs =
      store.LoadTranscript("a-ch", "bob");
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_THAT(*bobs,
              ElementsAre(Entry1("a-ch", "bob", 0), Entry1("a-ch", "bob", 1)));
  absl::StatusOr<std::vector<TranscriptEntry>> none =
      store.LoadTranscript("b-ch", "bob");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());

  SubmissionRecord first = Submission1("a-ch", "bob", 0.5);
  first.id = 1;
  SubmissionRecord second = Submission1("b-ch", "alice", 0.1);
  second.id = 2;
  absl::StatusOr<std::vector<SubmissionRecord>> every =
      store.LoadSubmissions("");
  ASSERT_TRUE(every.ok()) << every.status();
  EXPECT_THAT(*every, ElementsAre(first, second));
  absl::StatusOr<std::vector<SubmissionRecord>> of_b =
      store.LoadSubmissions("b-ch");
  ASSERT_TRUE(of_b.ok()) << of_b.status();
  EXPECT_THAT(*of_b, ElementsAre(second));
}

// One implementation of the Store contract.
struct StoreCase {
  std::string name;
  std::function<std::unique_ptr<Store>()> open;
  // What a duplicate challenge id's message names.
  std::string duplicate_challenge;
};

class StoreTest : public ::testing::TestWithParam<StoreCase> {};

INSTANTIATE_TEST_SUITE_P(
    Stores, StoreTest,
    ::testing::Values(StoreCase{"Sqlite",
                                [] { return OpenStoreOrDie(":memory:"); },
                                "challenges.id"},
                      StoreCase{"Memory",
                                [] { return std::make_unique<MemoryStore>(); },
                                "challenge \"c\" already exists"}),
    [](const ::testing::TestParamInfo<StoreCase>& info) {
      return info.param.name;
    });

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

TEST(SqliteStoreFileTest, NewFileHasTheCurrentSchemaInWalMode) {
  const std::string path = TempDbPath();
  { OpenStoreOrDie(path); }
  EXPECT_EQ(SqliteStore::SchemaVersion(), 2);
  EXPECT_EQ(UserVersion(path), SqliteStore::SchemaVersion());
  EXPECT_EQ(QueryText(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(path, "PRAGMA page_size"),
            absl::StrCat(SqliteStore::kNewDatabasePageBytes));
}

// A database made with SQLite's default pages (by an earlier build) keeps
// them and is served as before.
TEST(SqliteStoreFileTest, OldFileKeepsItsPageSize) {
  const std::string path = TempDbPath();
  ASSERT_NO_FATAL_FAILURE(
      ExecSql(path,
              "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; "
              "CREATE TABLE made_before(x)"));
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    ASSERT_TRUE(store
                    ->CommitCharges(
                        {}, std::vector<TranscriptEntry>{Entry1("c", "l", 0)})
                    .ok());
  }
  EXPECT_EQ(QueryText(path, "PRAGMA page_size"), "4096");
  EXPECT_THAT(*OpenStoreOrDie(path)->LoadTranscript("c", "l"),
              ElementsAre(Entry1("c", "l", 0)));
}

// Only a database in a file survives a crash; the ledger relies on this to
// choose between group commit and writing inline.
TEST(SqliteStoreFileTest, OnlyAFileIsDurable) {
  EXPECT_TRUE(OpenStoreOrDie(TempDbPath())->durable());
  EXPECT_FALSE(MemoryStore().durable());
  EXPECT_FALSE(OpenStoreOrDie(":memory:")->durable());
  EXPECT_FALSE(OpenStoreOrDie("")->durable());  // SQLite's temporary database
}

TEST(SqliteStoreFileTest, ReopeningKeepsEverything) {
  const std::string path = TempDbPath();
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    ASSERT_NO_FATAL_FAILURE(Fill(*store));
  }
  std::unique_ptr<SqliteStore> reopened = OpenStoreOrDie(path);
  ExpectFilled(*reopened);
  EXPECT_EQ(UserVersion(path), SqliteStore::SchemaVersion());
  // Ids go on after the stored ones.
  absl::StatusOr<SubmissionRecord> next =
      reopened->InsertSubmission(Submission1("a-ch", "bob", 0.4));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->id, 3u);
}

TEST(SqliteStoreFileTest, ReissuedTokenHashSurvivesReopening) {
  const std::string path = TempDbPath();
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    ASSERT_TRUE(store->InsertLearner(Learner1("l")).ok());
    ASSERT_TRUE(store->UpdateRevoked("l", true).ok());
    ASSERT_TRUE(store->ReissueLearner("l", Raw("new-hash")).ok());
  }
  std::unique_ptr<SqliteStore> reopened = OpenStoreOrDie(path);
  LearnerRecord reissued = Learner1("l");
  reissued.token_hash = Raw("new-hash");
  EXPECT_THAT(*reopened->LoadLearners(), ElementsAre(reissued));
}

// Commits `batches` transactions of `per_batch` entries for `learner`, of
// about 1.5 pages each, so that every commit adds about 2 x per_batch
// pages to the WAL.
void CommitBigEntries(Store& store, const std::string& learner, int batches,
                      int per_batch) {
  const size_t half_entry = SqliteStore::kNewDatabasePageBytes * 3 / 4;
  uint64_t index = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<TranscriptEntry> entries;
    for (int i = 0; i < per_batch; ++i) {
      TranscriptEntry e = Entry1("c", learner, index++);
      e.request.assign(half_entry, static_cast<char>('a' + b % 26));
      e.response.assign(half_entry, static_cast<char>('A' + b % 26));
      entries.push_back(std::move(e));
    }
    ASSERT_TRUE(store.CommitCharges({}, entries).ok());
  }
}

uintmax_t FileSize(const std::string& path) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  return error ? 0 : size;
}

// Below the inline checkpoint's threshold nothing but the checkpoint thread
// copies the WAL into the database file, and it does so without another
// commit coming.
TEST(SqliteStoreFileTest, CheckpointThreadCopiesTheWalWithoutACommit) {
  const std::string path = TempDbPath();
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  const uintmax_t empty = FileSize(path);
  // About 2 x 2 x 120 = 480 pages: past the thread's threshold, short of
  // the inline one.
  static_assert(SqliteStore::kBackgroundCheckpointFrames < 400 &&
                SqliteStore::kInlineCheckpointFrames > 600);
  ASSERT_NO_FATAL_FAILURE(CommitBigEntries(*store, "l", 120, 2));
  const uintmax_t kCopied = 100 * SqliteStore::kNewDatabasePageBytes;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (FileSize(path) < empty + kCopied && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(FileSize(path), empty + kCopied)
      << "the database file did not grow: nothing was checkpointed";
  EXPECT_EQ(store->LoadTranscript("c", "l")->size(), 240u);
}

// Back-to-back commits never leave the checkpoint thread an idle moment;
// the committing connection's own checkpoint still lets the WAL start over,
// so its file stays near kInlineCheckpointFrames pages.
TEST(SqliteStoreFileTest, WalStaysBoundedUnderSteadyCommits) {
  const std::string path = TempDbPath();
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  // About 2 x 2 x 1200 = 4800 pages, almost five times the bound.
  ASSERT_NO_FATAL_FAILURE(CommitBigEntries(*store, "l", 1200, 2));
  const uintmax_t page_frame = SqliteStore::kNewDatabasePageBytes + 24;
  EXPECT_LE(FileSize(path + "-wal"),
            2 * SqliteStore::kInlineCheckpointFrames * page_frame);
  EXPECT_EQ(store->LoadTranscript("c", "l")->size(), 2400u);
}

TEST(SqliteStoreFileTest, NewerSchemaIsFailedPrecondition) {
  const std::string path = TempDbPath();
  { OpenStoreOrDie(path); }
  const int newer = SqliteStore::SchemaVersion() + 1;
  ASSERT_NO_FATAL_FAILURE(
      ExecSql(path, absl::StrCat("PRAGMA user_version=", newer)));
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(store.status()),
              HasSubstr(absl::StrCat("schema version ", newer)));
  EXPECT_THAT(MessageOf(store.status()), HasSubstr("newer"));
  // Refusing it changed nothing.
  EXPECT_EQ(UserVersion(path), newer);
}

// Two servers on one file would charge the same budgets from two sets of
// counters; the second store is refused while the first holds the file,
// and the file is free again once the first is gone.
TEST(SqliteStoreFileTest, SecondStoreOnTheSameFileIsRefused) {
  const std::string path = TempDbPath();
  {
    std::unique_ptr<SqliteStore> first = OpenStoreOrDie(path);
    absl::StatusOr<std::unique_ptr<SqliteStore>> second =
        SqliteStore::Open(path);
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(MessageOf(second.status()), HasSubstr(path));
    EXPECT_THAT(MessageOf(second.status()), HasSubstr("another oracle-server"));
    // The refused store left the first one working.
    EXPECT_TRUE(first
                    ->CommitCharges(
                        {}, std::vector<TranscriptEntry>{Entry1("c", "l", 0)})
                    .ok());
  }
  std::unique_ptr<SqliteStore> again = OpenStoreOrDie(path);
  EXPECT_THAT(*again->LoadTranscript("c", "l"),
              ElementsAre(Entry1("c", "l", 0)));
}

// The claim is on the file, not the name: a symlink to a claimed database
// is refused too (SQLite follows it to the same WAL).
TEST(SqliteStoreFileTest, SymlinkToAClaimedFileIsRefused) {
  const std::string path = TempDbPath();
  const std::string link = TempDbPath("link");
  std::unique_ptr<SqliteStore> first = OpenStoreOrDie(path);
  std::error_code error;
  std::filesystem::create_symlink(path, link, error);
  ASSERT_FALSE(error) << error.message();
  absl::StatusOr<std::unique_ptr<SqliteStore>> second = SqliteStore::Open(link);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(second.status()), HasSubstr(link));
}

// Only a file is claimed: private in-memory databases never clash.
TEST(SqliteStoreFileTest, InMemoryDatabasesAreNotClaimed) {
  for (const std::string path : {":memory:", ""}) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> a = SqliteStore::Open(path);
    absl::StatusOr<std::unique_ptr<SqliteStore>> b = SqliteStore::Open(path);
    EXPECT_TRUE(a.ok()) << "\"" << path << "\": " << a.status();
    EXPECT_TRUE(b.ok()) << "\"" << path << "\": " << b.status();
  }
}

TEST(SqliteStoreFileTest, UnopenablePathIsUnavailable) {
  const std::string path = TempDbPath() + ".missing-dir/attnoracle.db";
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(store.status()), HasSubstr(path));
}

TEST(SqliteStoreFileTest, NotADatabaseIsRefused) {
  const std::string path = TempDbPath();
  ASSERT_NO_FATAL_FAILURE(ExecSql(path, "SELECT 1"));  // creates the file
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string garbage(4096, 'x');
    std::fwrite(garbage.data(), 1, garbage.size(), f);
    std::fclose(f);
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(store.status()), HasSubstr(path));
}

}  // namespace
}  // namespace attnoracle
