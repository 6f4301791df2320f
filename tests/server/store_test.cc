// The Store contract (store_contract_test.cc) for SqliteStore (in memory)
// and MemoryStore. SqliteStore's files: the schema is versioned and a newer
// database is refused, a reopened file keeps everything, only a file is
// durable.
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
#include "tests/server/store_contract.h"
#include "tests/test_util.h"

namespace attnoracle::store_contract {
namespace {

using ::attnoracle::test::MessageOf;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::TempDbPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

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

TEST(SqliteStoreFileTest, NewFileHasTheCurrentSchemaInWalMode) {
  const std::string path = TempDbPath();
  { OpenStoreOrDie(path); }
  EXPECT_EQ(SqliteStore::SchemaVersion(), 3);
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

// A database of schema version 2 (before ffn_rel_err) is migrated on
// open: its submissions keep every field and read ffn_rel_err as 0.
TEST(SqliteStoreFileTest, VersionTwoDatabaseGainsFfnRelErr) {
  const std::string path = TempDbPath();
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    ASSERT_NO_FATAL_FAILURE(Fill(*store));
  }
  ASSERT_NO_FATAL_FAILURE(
      ExecSql(path,
              "ALTER TABLE submissions DROP COLUMN ffn_rel_err; "
              "PRAGMA user_version=2"));
  std::unique_ptr<SqliteStore> migrated = OpenStoreOrDie(path);
  EXPECT_EQ(UserVersion(path), SqliteStore::SchemaVersion());
  absl::StatusOr<std::vector<SubmissionRecord>> rows =
      migrated->LoadSubmissions("");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  SubmissionRecord expected = Submission1("a-ch", "bob", 0.5);
  expected.id = 1;
  expected.score.ffn_rel_err = 0;
  EXPECT_EQ((*rows)[0], expected);
  // New rows carry it.
  absl::StatusOr<SubmissionRecord> next =
      migrated->InsertSubmission(Submission1("a-ch", "bob", 0.4));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(migrated->LoadSubmissions("a-ch")->back().score.ffn_rel_err,
            0.0625);
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
}  // namespace attnoracle::store_contract
