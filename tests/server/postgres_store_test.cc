// PostgresStore: the Store contract (store_contract_test.cc) on a fresh
// database of a throwaway cluster per test; and what SqliteStoreFileTest
// holds SQLite's files to, where it applies: the schema is versioned and a
// newer one is refused, a reopened database keeps everything, replicas
// starting at once on an empty database both come up, an unreachable
// server is UNAVAILABLE, and a password in the URI is refused unechoed.
#include "server/core/postgres_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/postgres_cluster.h"
#include "tests/server/store_contract.h"
#include "tests/test_util.h"

namespace attnoracle::store_contract {
namespace {

using ::attnoracle::test::MessageOf;
using ::attnoracle::test::PostgresEnvironment;
using ::testing::HasSubstr;
using ::testing::Not;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

std::unique_ptr<PostgresStore> OpenOrDie(const std::string& uri) {
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(uri);
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", uri.c_str(),
                 store.status().ToString().c_str());
    std::abort();
  }
  return *std::move(store);
}

// The first column of the first row of `sql` on `uri`, through libpq.
std::string QueryText(const std::string& uri, const std::string& sql) {
  PGconn* conn = PQconnectdb(uri.c_str());
  PGresult* r = PQexec(conn, sql.c_str());
  std::string out;
  const ExecStatusType status = PQresultStatus(r);
  EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
      << sql << ": " << PQerrorMessage(conn);
  if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) {
    out = PQgetvalue(r, 0, 0);
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, StoreTest,
    ::testing::Values(StoreCase{
        "Postgres",
        [] { return OpenOrDie(PostgresEnvironment::cluster().NewDatabase()); },
        "challenge \"c\" already exists"}),
    [](const ::testing::TestParamInfo<StoreCase>& info) {
      return info.param.name;
    });

TEST(PostgresStoreTest, NewDatabaseHasTheCurrentSchema) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
  EXPECT_TRUE(store->durable());
  EXPECT_EQ(PostgresStore::SchemaVersion(), 2);
  EXPECT_EQ(QueryText(uri, "SELECT version FROM schema_version"),
            absl::StrCat(PostgresStore::SchemaVersion()));
  EXPECT_EQ(QueryText(uri, "SELECT COUNT(*) FROM schema_version"), "1");
}

TEST(PostgresStoreTest, ReopeningKeepsEverything) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  {
    std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
    ASSERT_NO_FATAL_FAILURE(Fill(*store));
  }
  std::unique_ptr<PostgresStore> reopened = OpenOrDie(uri);
  ExpectFilled(*reopened);
  // Ids go on after the stored ones.
  absl::StatusOr<SubmissionRecord> next =
      reopened->InsertSubmission(Submission1("a-ch", "bob", 0.4));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->id, 3u);
}

// A database of schema version 1 (before ffn_rel_err) is migrated on
// open: its submissions keep every field and read ffn_rel_err as 0.
TEST(PostgresStoreTest, VersionOneDatabaseGainsFfnRelErr) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  {
    std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
    ASSERT_NO_FATAL_FAILURE(Fill(*store));
  }
  QueryText(uri, "ALTER TABLE submissions DROP COLUMN ffn_rel_err");
  QueryText(uri, "UPDATE schema_version SET version = 1");
  std::unique_ptr<PostgresStore> migrated = OpenOrDie(uri);
  EXPECT_EQ(QueryText(uri, "SELECT version FROM schema_version"),
            absl::StrCat(PostgresStore::SchemaVersion()));
  absl::StatusOr<std::vector<SubmissionRecord>> rows =
      migrated->LoadSubmissions("a-ch");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  SubmissionRecord expected = Submission1("a-ch", "bob", 0.5);
  expected.id = (*rows)[0].id;
  expected.score.ffn_rel_err = 0;
  EXPECT_EQ((*rows)[0], expected);
}

// Two stores on one database (two replicas) see each other's writes.
TEST(PostgresStoreTest, TwoStoresShareOneDatabase) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  std::unique_ptr<PostgresStore> a = OpenOrDie(uri);
  std::unique_ptr<PostgresStore> b = OpenOrDie(uri);
  ASSERT_NO_FATAL_FAILURE(Fill(*a));
  ExpectFilled(*b);
  EXPECT_EQ(b->InsertChallenge(Challenge1("a-ch")).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(PostgresStoreTest, NewerSchemaIsFailedPrecondition) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  { OpenOrDie(uri); }
  const int newer = PostgresStore::SchemaVersion() + 1;
  QueryText(uri, absl::StrCat("UPDATE schema_version SET version = ", newer));
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(uri);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(store.status()),
              HasSubstr(absl::StrCat("schema version ", newer)));
  EXPECT_THAT(MessageOf(store.status()), HasSubstr("newer"));
  // Refusing it changed nothing.
  EXPECT_EQ(QueryText(uri, "SELECT version FROM schema_version"),
            absl::StrCat(newer));
}

// Replicas starting at once on an empty database: the migration's advisory
// lock makes the later ones wait for the first one's schema.
TEST(PostgresStoreTest, StoresOpeningAtOnceOnAnEmptyDatabaseAllSucceed) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  constexpr int kReplicas = 4;
  std::vector<absl::Status> results(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = PostgresStore::Open(uri).status(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(QueryText(uri, "SELECT COUNT(*) FROM schema_version"), "1");
}

TEST(PostgresStoreTest, UnreachableServerIsUnavailable) {
  // The cluster's port on a database that is not there, and a port with
  // no server.
  const std::string missing =
      PostgresEnvironment::cluster().UriOf("no_such_database");
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(missing);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(store.status()), HasSubstr("no_such_database"));

  store = PostgresStore::Open("postgresql://app@127.0.0.1:1/t");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(store.status()), HasSubstr("cannot connect"));
}

// A password belongs in PGPASSWORD or a passfile: one in the URI is
// refused before any connection, and never echoed.
TEST(PostgresStoreTest, PasswordInTheUriIsRefused) {
  const std::string base = absl::StrCat(
      "127.0.0.1:", PostgresEnvironment::cluster().port(), "/postgres");
  for (const std::string& uri :
       {absl::StrCat("postgresql://app:Sekr3tPw@", base),
        absl::StrCat("postgres://app@", base, "?password=Sekr3tPw")}) {
    absl::StatusOr<std::unique_ptr<PostgresStore>> store =
        PostgresStore::Open(uri);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_THAT(MessageOf(store.status()), HasSubstr("PGPASSWORD"));
    EXPECT_THAT(MessageOf(store.status()), HasSubstr("passfile"));
    EXPECT_THAT(MessageOf(store.status()), Not(HasSubstr("Sekr3tPw")));
  }
}

TEST(PostgresStoreTest, OnlyPostgresUrisSelectIt) {
  EXPECT_TRUE(PostgresStore::IsUri("postgresql://app@db/contest"));
  EXPECT_TRUE(PostgresStore::IsUri("postgres://db/contest"));
  EXPECT_FALSE(PostgresStore::IsUri("contest.db"));
  EXPECT_FALSE(PostgresStore::IsUri(":memory:"));
  EXPECT_FALSE(PostgresStore::IsUri("./postgresql://x"));
}

}  // namespace
}  // namespace attnoracle::store_contract
