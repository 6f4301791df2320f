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

#include <limits>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/transcript.h"
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

// Prefix of a query for a table's column names, sorted, comma-separated.
const std::string kColumnsOf =
    "SELECT string_agg(column_name, ',' ORDER BY column_name) "
    "FROM information_schema.columns WHERE table_name = ";

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

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
  EXPECT_EQ(PostgresStore::SchemaVersion(), 3);
  EXPECT_EQ(QueryText(uri, "SELECT version FROM schema_version"),
            absl::StrCat(PostgresStore::SchemaVersion()));
  EXPECT_EQ(QueryText(uri, "SELECT COUNT(*) FROM schema_version"), "1");
  // A learner's chain lives in its own row, apart from its budget's.
  EXPECT_EQ(QueryText(uri, kColumnsOf + "'chains'"),
            "chain_head,challenge,entries,learner");
  EXPECT_EQ(QueryText(uri, kColumnsOf + "'usage'"),
            "challenge,extra_queries,extra_tokens,learner,queries_used,"
            "tokens_used");
}

// Version 1's layout, as a database made by an earlier build holds it: the
// chain state in the usage row.
constexpr char kVersion1Usage[] = R"sql(
  CREATE TABLE schema_version(version INTEGER NOT NULL);
  INSERT INTO schema_version(version) VALUES (1);
  CREATE TABLE challenges(id TEXT COLLATE "C" PRIMARY KEY,
    config TEXT NOT NULL, phase INTEGER NOT NULL, nonce BYTEA NOT NULL,
    created_ms BIGINT NOT NULL);
  CREATE TABLE learners(name TEXT COLLATE "C" PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE, role INTEGER NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE, created_ms BIGINT NOT NULL);
  CREATE TABLE usage(challenge TEXT COLLATE "C" NOT NULL,
    learner TEXT COLLATE "C" NOT NULL, queries_used NUMERIC(20) NOT NULL,
    tokens_used NUMERIC(20) NOT NULL, extra_queries NUMERIC(20) NOT NULL,
    extra_tokens NUMERIC(20) NOT NULL, entries NUMERIC(20) NOT NULL,
    chain_head BYTEA NOT NULL, PRIMARY KEY(challenge, learner));
  CREATE TABLE transcripts(challenge TEXT COLLATE "C" NOT NULL,
    learner TEXT COLLATE "C" NOT NULL, idx NUMERIC(20) NOT NULL,
    first_query_index NUMERIC(20) NOT NULL, request BYTEA NOT NULL,
    response BYTEA NOT NULL, request_digest BYTEA NOT NULL,
    response_digest BYTEA NOT NULL, chain_hash BYTEA NOT NULL,
    created_ms BIGINT NOT NULL, PRIMARY KEY(challenge, learner, idx));
  CREATE TABLE submissions(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    challenge TEXT COLLATE "C" NOT NULL, learner TEXT COLLATE "C" NOT NULL,
    functional_rel_err DOUBLE PRECISION NOT NULL,
    max_abs_err DOUBLE PRECISION NOT NULL, bits DOUBLE PRECISION NOT NULL,
    theta_rel_err DOUBLE PRECISION NOT NULL,
    omega_rel_err DOUBLE PRECISION NOT NULL,
    queries_used NUMERIC(20) NOT NULL, tokens_used NUMERIC(20) NOT NULL,
    queries_to_bound DOUBLE PRECISION NOT NULL,
    tokens_to_bound DOUBLE PRECISION NOT NULL, created_ms BIGINT NOT NULL,
    sign_disagreement DOUBLE PRECISION NOT NULL DEFAULT 0);
  CREATE INDEX submissions_by_challenge ON submissions(challenge, learner);
  CREATE TABLE generation(id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL);
  INSERT INTO generation(id, value) VALUES (1, 0);
  INSERT INTO challenges VALUES ('c', 'id: "c"', 0, 'n', 1);
  INSERT INTO usage VALUES
    ('c', 'ann', 5, 40, 2, 0, 3, '\x0a0b'::bytea),
    ('c', 'bob', 18446744073709551615, 7, 0, 9, 0, ''::bytea);
)sql";

// A version 1 database migrates in place: every usage row keeps its
// counters, and its chain (entries, head) moves to its chain row, from
// which the next commit goes on.
TEST(PostgresStoreTest, Version1MigratesTheChainsToTheirOwnRows) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  QueryText(uri, kVersion1Usage);
  std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
  EXPECT_EQ(QueryText(uri, "SELECT version FROM schema_version"),
            absl::StrCat(PostgresStore::SchemaVersion()));
  EXPECT_EQ(QueryText(uri, "SELECT COUNT(*) FROM chains"), "2");
  EXPECT_EQ(QueryText(uri, kColumnsOf + "'usage'"),
            "challenge,extra_queries,extra_tokens,learner,queries_used,"
            "tokens_used");
  absl::StatusOr<std::vector<UsageRecord>> usage = store->LoadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_THAT(*usage, ::testing::ElementsAre(
                          UsageRecord{"c", "ann", 5, 40, 2, 0, 3, "\x0a\x0b"},
                          UsageRecord{"c", "bob", kMaxU64, 7, 0, 9, 0, ""}));

  std::vector<TranscriptEntry> next = {Entry1("c", "ann", 0)};
  absl::StatusOr<std::vector<absl::Status>> committed =
      store->CommitShared(std::span<TranscriptEntry>(next));
  ASSERT_TRUE(committed.ok()) << committed.status();
  ASSERT_TRUE((*committed)[0].ok()) << (*committed)[0];
  EXPECT_EQ(next[0].index, 3u);
  EXPECT_EQ(next[0].chain_hash, ChainHash("\x0a\x0b", next[0].request_digest,
                                          next[0].response_digest));
  absl::StatusOr<UsageRecord> ann = store->LoadUsageOf("c", "ann");
  ASSERT_TRUE(ann.ok()) << ann.status();
  EXPECT_EQ(ann->entries, 4u);
  EXPECT_EQ(ann->chain_head, next[0].chain_hash);
  EXPECT_EQ(ann->queries_used, 5u);
}

// A commit holds its key's chain row locked until its commit is on disk;
// a reservation of the same key must not wait for that (it updates the
// usage row). Here another transaction holds the chain row as a commit
// does: a commit of the key waits for it, a reservation does not.
TEST(PostgresStoreTest, ReservationsDoNotWaitForACommitsChainLock) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
  ASSERT_TRUE(store->InsertChallenge(Challenge1("c")).ok());
  ASSERT_TRUE(store->UpdatePhase("c", Phase::kOpen).ok());
  ASSERT_TRUE(store->ReserveShared("c", "l", 100, 1000, 1, 1).ok());
  std::vector<TranscriptEntry> first = {Entry1("c", "l", 0)};
  ASSERT_TRUE(store->CommitShared(std::span<TranscriptEntry>(first)).ok());

  PGconn* holder = PQconnectdb(uri.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK) << PQerrorMessage(holder);
  auto run = [&](const char* sql) {
    PGresult* r = PQexec(holder, sql);
    const ExecStatusType status = PQresultStatus(r);
    EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        << sql << ": " << PQerrorMessage(holder);
    PQclear(r);
  };
  run("BEGIN");
  run("SELECT entries FROM chains WHERE challenge = 'c' AND learner = 'l' "
      "FOR UPDATE");

  std::vector<TranscriptEntry> second = {Entry1("c", "l", 1)};
  absl::StatusOr<std::vector<absl::Status>> committed =
      absl::InternalError("not run");
  std::thread commit([&] {
    committed = store->CommitShared(std::span<TranscriptEntry>(second));
  });
  // The commit waits for the holder's lock (a backend waits on a lock).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  bool commit_waits = false;
  while (!commit_waits && absl::Now() < deadline) {
    commit_waits = QueryText(uri,
                             "SELECT COUNT(*) FROM pg_stat_activity "
                             "WHERE wait_event_type = 'Lock'") == "1";
  }
  EXPECT_TRUE(commit_waits) << "the commit did not wait for the chain row";
  // Meanwhile the same key reserves, twice, without waiting.
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<UsageRecord> r =
        store->ReserveShared("c", "l", 100, 1000, 1, 1);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->queries_used, 2u + i);
    EXPECT_EQ(r->entries, 1u);
  }
  run("COMMIT");
  PQfinish(holder);
  commit.join();
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_TRUE((*committed)[0].ok()) << (*committed)[0];
  EXPECT_EQ(second[0].index, 1u);
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

// A database of schema version 2 (before ffn_rel_err) is migrated on
// open: its submissions keep every field and read ffn_rel_err as 0.
TEST(PostgresStoreTest, VersionTwoDatabaseGainsFfnRelErr) {
  const std::string uri = PostgresEnvironment::cluster().NewDatabase();
  {
    std::unique_ptr<PostgresStore> store = OpenOrDie(uri);
    ASSERT_NO_FATAL_FAILURE(Fill(*store));
  }
  QueryText(uri, "ALTER TABLE submissions DROP COLUMN ffn_rel_err");
  QueryText(uri, "UPDATE schema_version SET version = 2");
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
