#include "server/core/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// Each entry moves the schema one version forward; never edit a released
// entry, append a new one.
constexpr const char* kMigrations[] = {
    // Version 1.
    R"sql(
    CREATE TABLE challenges(
      id TEXT PRIMARY KEY,
      config TEXT NOT NULL,
      phase INTEGER NOT NULL,
      nonce BLOB NOT NULL,
      created_ms INTEGER NOT NULL);
    CREATE TABLE learners(
      name TEXT PRIMARY KEY,
      token_hash BLOB NOT NULL UNIQUE,
      role INTEGER NOT NULL,
      revoked INTEGER NOT NULL DEFAULT 0,
      created_ms INTEGER NOT NULL);
    CREATE TABLE usage(
      challenge TEXT NOT NULL,
      learner TEXT NOT NULL,
      queries_used INTEGER NOT NULL,
      tokens_used INTEGER NOT NULL,
      extra_queries INTEGER NOT NULL,
      extra_tokens INTEGER NOT NULL,
      entries INTEGER NOT NULL,
      chain_head BLOB NOT NULL,
      PRIMARY KEY(challenge, learner));
    CREATE TABLE transcripts(
      challenge TEXT NOT NULL,
      learner TEXT NOT NULL,
      idx INTEGER NOT NULL,
      first_query_index INTEGER NOT NULL,
      request BLOB NOT NULL,
      response BLOB NOT NULL,
      request_digest BLOB NOT NULL,
      response_digest BLOB NOT NULL,
      chain_hash BLOB NOT NULL,
      created_ms INTEGER NOT NULL,
      PRIMARY KEY(challenge, learner, idx));
    CREATE TABLE submissions(
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      challenge TEXT NOT NULL,
      learner TEXT NOT NULL,
      functional_rel_err REAL NOT NULL,
      max_abs_err REAL NOT NULL,
      bits REAL NOT NULL,
      theta_rel_err REAL NOT NULL,
      omega_rel_err REAL NOT NULL,
      queries_used INTEGER NOT NULL,
      tokens_used INTEGER NOT NULL,
      queries_to_bound REAL NOT NULL,
      tokens_to_bound REAL NOT NULL,
      created_ms INTEGER NOT NULL);
    CREATE INDEX submissions_by_challenge ON submissions(challenge, learner);
    )sql",
    // Version 2: the headline score of sign-answer challenges.
    R"sql(
    ALTER TABLE submissions
      ADD COLUMN sign_disagreement REAL NOT NULL DEFAULT 0;
    )sql",
    // Version 3: the FFN units' parameter error.
    R"sql(
    ALTER TABLE submissions
      ADD COLUMN ffn_rel_err REAL NOT NULL DEFAULT 0;
    )sql",
};

// A connection to the database at `path` opened with `flags`, after
// running `first_sql` on it when not null. UNAVAILABLE naming the path
// (and `purpose`, e.g. " for checkpoints") when either fails.
absl::StatusOr<sqlite3*> OpenConnection(const std::string& path, int flags,
                                        const char* first_sql,
                                        absl::string_view purpose) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK ||
      (first_sql != nullptr &&
       sqlite3_exec(db, first_sql, nullptr, nullptr, nullptr) != SQLITE_OK)) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("cannot open database \"", path, "\"", purpose, ": ",
                     db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  return db;
}

absl::Status SqlError(sqlite3* db, absl::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  const std::string message = absl::StrCat(what, ": ", sqlite3_errmsg(db));
  if ((code & 0xff) == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(message);
  }
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// A prepared statement; binds by position from 1, columns from 0.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      status_ = SqlError(db, "prepare");
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  const absl::Status& status() const { return status_; }
  Stmt& Bind(int i, absl::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, absl::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, uint64_t v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  // True while a row is available; errors end up in status().
  bool Step() {
    if (!status_.ok()) return false;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = SqlError(db_, "step");
    return false;
  }
  // Makes a statement kept across calls ready for its next use: an earlier
  // call's error is forgotten (a failed prepare is not).
  void Reuse() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    status_ = absl::OkStatus();
  }
  // Runs a statement that returns no rows, then resets it for reuse.
  absl::Status Run() {
    Step();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return status_;
  }
  std::string Text(int c) {
    const auto* p = sqlite3_column_text(stmt_, c);
    return p == nullptr ? ""
                        : std::string(reinterpret_cast<const char*>(p),
                                      sqlite3_column_bytes(stmt_, c));
  }
  std::string Blob(int c) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, c));
    return p == nullptr ? "" : std::string(p, sqlite3_column_bytes(stmt_, c));
  }
  int64_t Int(int c) { return sqlite3_column_int64(stmt_, c); }
  uint64_t UInt(int c) { return static_cast<uint64_t>(Int(c)); }
  double Real(int c) { return sqlite3_column_double(stmt_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on error.
template <typename F>
absl::Status InTransaction(sqlite3* db, F body) {
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    return SqlError(db, "begin");
  }
  absl::Status status = body();
  if (status.ok() &&
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    status = SqlError(db, "commit");
  }
  if (!status.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return status;
}

}  // namespace

struct SqliteStore::ChargeStatements {
  explicit ChargeStatements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        rollback(db, "ROLLBACK"),
        put_usage(db,
                  "INSERT OR REPLACE INTO usage(challenge, learner, "
                  "queries_used, tokens_used, extra_queries, extra_tokens, "
                  "entries, chain_head) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"),
        put_entry(db,
                  "INSERT INTO transcripts(challenge, learner, idx, "
                  "first_query_index, request, response, request_digest, "
                  "response_digest, chain_hash, created_ms) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") {}

  void Reuse() {
    for (Stmt* s : {&begin, &commit, &rollback, &put_usage, &put_entry}) {
      s->Reuse();
    }
  }

  Stmt begin, commit, rollback, put_usage, put_entry;
};

class SqliteStore::Checkpointer {
 public:
  // UNAVAILABLE when the second connection cannot be opened.
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Open(
      const std::string& path) {
    // Reading the schema opens the WAL on this connection: until a
    // connection has read something, its checkpoints copy nothing.
    ATTN_ASSIGN_OR_RETURN(
        sqlite3 * db,
        OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                       "PRAGMA synchronous=FULL; "
                       "SELECT count(*) FROM sqlite_schema",
                       " for checkpoints"));
    return std::unique_ptr<Checkpointer>(new Checkpointer(db));
  }

  ~Checkpointer() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
    sqlite3_close(db_);
  }

  // SQLite's WAL hook on the committing connection, after each commit with
  // the WAL's length in pages. Runs inside the commit; must return OK.
  static int OnCommit(void* self, sqlite3* db, const char* name, int frames) {
    if (frames >= kInlineCheckpointFrames) {
      // Copies what the thread has not yet (little, as a rule), after which
      // the next transaction starts the WAL over. PASSIVE: if the thread is
      // checkpointing right now this returns BUSY at once, and a later
      // commit tries again.
      Report(sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr));
    } else if (frames >= kBackgroundCheckpointFrames) {
      static_cast<Checkpointer*>(self)->Wake();
    }
    return SQLITE_OK;
  }

 private:
  explicit Checkpointer(sqlite3* db) : db_(db), thread_([this] { Loop(); }) {}

  // BUSY and LOCKED mean another checkpoint or a writer was in the way
  // (a later one catches up). Anything else goes to stderr, once per
  // process: commits still work, but the WAL grows until one succeeds.
  static void Report(int rc) {
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return;
    static std::atomic<bool> reported{false};
    if (reported.exchange(true)) return;
    std::fprintf(stderr,
                 "oracle-server: a WAL checkpoint failed (%s); the WAL keeps "
                 "every commit and grows until a checkpoint succeeds\n",
                 sqlite3_errstr(rc));
  }

  void Wake() {
    absl::MutexLock lock(&mu_);
    wanted_ = true;
  }

  void Loop() {
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.Await(absl::Condition(
          +[](Checkpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->wanted_ || c->stopping_;
          },
          this));
      if (stopping_) return;
      wanted_ = false;
      mu_.Unlock();
      // A failed or partial checkpoint loses nothing (the frames stay in
      // the WAL); the inline checkpoint is the backstop.
      Report(sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr));
      mu_.Lock();
    }
  }

  sqlite3* const db_;  // used by the thread alone
  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is set
};

int SqliteStore::SchemaVersion() {
  return static_cast<int>(std::size(kMigrations));
}

namespace {

// An in-memory or temporary database has no file name (NULL or "").
bool HasFile(sqlite3* db) {
  const char* file = sqlite3_db_filename(db, "main");
  return file != nullptr && *file != '\0';
}

constexpr const char* kClaimSuffix = "-lock";

// Takes the claim on the database the user named `path` and SQLite
// resolved to `file` (so that a symlink or another relative path to the
// same database finds the same claim, as it finds the same WAL); returns
// the claim file's descriptor, to be closed after the database, or -1 when
// the filesystem cannot lock (a warning on stderr says so).
absl::StatusOr<int> ClaimDatabase(const std::string& path, const char* file) {
  const std::string claim = absl::StrCat(file, kClaimSuffix);
  // Read-only: flock needs no more, and a claim file left by a server of
  // another user stays usable.
  const int fd = open(claim.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open \"", claim,
                     "\" to claim the database: ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database \"", path,
          "\" is in use by another oracle-server (it holds \"", claim,
          "\"); one SQLite database serves one server at a time"));
    }
    if (error == ENOLCK || error == EOPNOTSUPP || error == ENOSYS) {
      // A filesystem without flock: serve, as before the claim existed,
      // but say that nothing keeps a second server off the file.
      std::fprintf(stderr,
                   "oracle-server: warning: cannot claim database \"%s\" "
                   "(flock: %s); make sure no other server uses it\n",
                   path.c_str(), std::strerror(error));
      return -1;
    }
    return absl::UnavailableError(absl::StrCat("cannot claim database \"", path,
                                               "\" (flock \"", claim,
                                               "\"): ", std::strerror(error)));
  }
  return fd;
}

}  // namespace

SqliteStore::SqliteStore(sqlite3* db, int claim_fd)
    : db_(db), durable_(HasFile(db)), claim_fd_(claim_fd) {}

std::vector<std::string> SqliteStore::FilesOf(const std::string& path) {
  std::vector<std::string> files;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", kClaimSuffix}) {
    files.push_back(path + suffix);
  }
  return files;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const std::string& path) {
  ATTN_ASSIGN_OR_RETURN(
      sqlite3 * db, OpenConnection(path,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                       SQLITE_OPEN_FULLMUTEX,
                                   nullptr, ""));
  int claim_fd = -1;
  if (HasFile(db)) {
    absl::StatusOr<int> claimed =
        ClaimDatabase(path, sqlite3_db_filename(db, "main"));
    if (!claimed.ok()) {
      sqlite3_close(db);
      return claimed.status();
    }
    claim_fd = *claimed;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, claim_fd));
  absl::MutexLock lock(&store->mu_);
  sqlite3_busy_timeout(db, 5000);
  // The page size first: it only takes on a database without pages yet,
  // and turning WAL on writes the first page.
  const std::string page_size =
      absl::StrCat("PRAGMA page_size=", kNewDatabasePageBytes);
  for (const char* pragma :
       {page_size.c_str(), "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
        "PRAGMA foreign_keys=ON"}) {
    absl::Status s = store->Exec(pragma);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("database \"", path, "\" is not usable: ", s.message()));
    }
  }
  ATTN_RETURN_IF_ERROR(store->Migrate());
  // After Migrate: the statements name its tables.
  store->charge_ = std::make_unique<ChargeStatements>(db);
  if (store->durable_) {
    ATTN_ASSIGN_OR_RETURN(store->checkpointer_, Checkpointer::Open(path));
    // Replaces SQLite's own automatic checkpoints.
    sqlite3_wal_hook(db, &Checkpointer::OnCommit, store->checkpointer_.get());
  }
  return store;
}

SqliteStore::~SqliteStore() {
  absl::MutexLock lock(&mu_);
  if (checkpointer_ != nullptr) {
    sqlite3_wal_hook(db_, nullptr, nullptr);
    checkpointer_.reset();
  }
  charge_.reset();  // statements are finalized before the database closes
  sqlite3_close(db_);
  if (claim_fd_ >= 0) close(claim_fd_);  // drops the claim
}

absl::Status SqliteStore::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    absl::Status s = absl::InternalError(error ? error : "sqlite error");
    sqlite3_free(error);
    return s;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Migrate() {
  Stmt version(db_, "PRAGMA user_version");
  if (!version.Step()) return version.status();
  const int64_t current = version.Int(0);
  if (current > SchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database has schema version ", current, "; this build knows ",
        SchemaVersion(), ": use a newer oracle-server"));
  }
  for (int64_t v = current; v < SchemaVersion(); ++v) {
    ATTN_RETURN_IF_ERROR(InTransaction(db_, [&] {
      // InTransaction runs this on the calling thread, inside Migrate's
      // hold of mu_; the analysis does not carry held locks into lambdas.
      mu_.AssertHeld();
      ATTN_RETURN_IF_ERROR(Exec(kMigrations[v]));
      return Exec(absl::StrCat("PRAGMA user_version=", v + 1).c_str());
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ChallengeRecord>> SqliteStore::LoadChallenges() {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "SELECT id, config, phase, nonce, created_ms FROM challenges "
         "ORDER BY id");
  std::vector<ChallengeRecord> out;
  while (q.Step()) {
    out.push_back(
        {q.Text(0), q.Text(1), PhaseFromInt(q.Int(2)), q.Blob(3), q.Int(4)});
  }
  ATTN_RETURN_IF_ERROR(q.status());
  return out;
}

absl::Status SqliteStore::InsertChallenge(const ChallengeRecord& r) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "INSERT INTO challenges(id, config, phase, nonce, created_ms) "
         "VALUES(?, ?, ?, ?, ?)");
  q.Bind(1, r.id).Bind(2, r.config_text).Bind(3, PhaseToInt(r.phase));
  q.BindBlob(4, r.nonce).Bind(5, r.created_ms);
  return q.Run();
}

absl::Status SqliteStore::UpdatePhase(const std::string& id, Phase phase) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_, "UPDATE challenges SET phase = ? WHERE id = ?");
  q.Bind(1, PhaseToInt(phase)).Bind(2, id);
  ATTN_RETURN_IF_ERROR(q.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("no challenge \"", id, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LearnerRecord>> SqliteStore::LoadLearners() {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "SELECT name, token_hash, role, revoked, created_ms FROM learners "
         "ORDER BY name");
  std::vector<LearnerRecord> out;
  while (q.Step()) {
    out.push_back({q.Text(0), q.Blob(1),
                   q.Int(2) == 1 ? Role::kAdmin : Role::kLearner, q.Int(3) != 0,
                   q.Int(4)});
  }
  ATTN_RETURN_IF_ERROR(q.status());
  return out;
}

absl::Status SqliteStore::InsertLearner(const LearnerRecord& r) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "INSERT INTO learners(name, token_hash, role, revoked, created_ms) "
         "VALUES(?, ?, ?, ?, ?)");
  q.Bind(1, r.name).BindBlob(2, r.token_hash);
  q.Bind(3, int64_t{r.role == Role::kAdmin ? 1 : 0});
  q.Bind(4, int64_t{r.revoked ? 1 : 0}).Bind(5, r.created_ms);
  absl::Status s = q.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(
        absl::StrCat("learner \"", r.name, "\" already exists"));
  }
  return s;
}

absl::Status SqliteStore::UpdateRevoked(const std::string& name, bool revoked) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_, "UPDATE learners SET revoked = ? WHERE name = ?");
  q.Bind(1, int64_t{revoked ? 1 : 0}).Bind(2, name);
  ATTN_RETURN_IF_ERROR(q.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::ReissueLearner(const std::string& name,
                                         const std::string& token_hash) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_, "UPDATE learners SET token_hash = ?, revoked = 0 WHERE name = ?");
  q.BindBlob(1, token_hash).Bind(2, name);
  absl::Status s = q.Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another learner than \"", name, "\" has this token hash"));
  }
  ATTN_RETURN_IF_ERROR(s);
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UsageRecord>> SqliteStore::LoadUsage() {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "SELECT challenge, learner, queries_used, tokens_used, extra_queries, "
         "extra_tokens, entries, chain_head FROM usage "
         "ORDER BY challenge, learner");
  std::vector<UsageRecord> out;
  while (q.Step()) {
    out.push_back({q.Text(0), q.Text(1), q.UInt(2), q.UInt(3), q.UInt(4),
                   q.UInt(5), q.UInt(6), q.Blob(7)});
  }
  ATTN_RETURN_IF_ERROR(q.status());
  return out;
}

absl::Status SqliteStore::CommitCharges(
    std::span<const UsageRecord> usage,
    std::span<const TranscriptEntry> transcript) {
  absl::MutexLock lock(&mu_);
  ChargeStatements& s = *charge_;
  s.Reuse();
  ATTN_RETURN_IF_ERROR(s.begin.Run());
  absl::Status status = [&]() -> absl::Status {
    Stmt& u = s.put_usage;
    for (const UsageRecord& r : usage) {
      u.Bind(1, r.challenge_id).Bind(2, r.learner).Bind(3, r.queries_used);
      u.Bind(4, r.tokens_used).Bind(5, r.extra_queries);
      u.Bind(6, r.extra_tokens).Bind(7, r.entries).BindBlob(8, r.chain_head);
      ATTN_RETURN_IF_ERROR(u.Run());
    }
    Stmt& t = s.put_entry;
    for (const TranscriptEntry& r : transcript) {
      t.Bind(1, r.challenge_id).Bind(2, r.learner).Bind(3, r.index);
      t.Bind(4, r.first_query_index).BindBlob(5, r.request);
      t.BindBlob(6, r.response).BindBlob(7, r.request_digest);
      t.BindBlob(8, r.response_digest).BindBlob(9, r.chain_hash);
      t.Bind(10, r.answered_unix_ms);
      ATTN_RETURN_IF_ERROR(t.Run());
    }
    return s.commit.Run();
  }();
  if (!status.ok()) (void)s.rollback.Run();
  return status;
}

namespace {

constexpr char kTranscriptColumns[] =
    "SELECT challenge, learner, idx, first_query_index, request, response, "
    "request_digest, response_digest, chain_hash, created_ms FROM transcripts ";

// The rows of `q` until one would take the entries' TranscriptPageBytes
// past `max_bytes` (but at least one); the rows after it are not read.
absl::StatusOr<std::vector<TranscriptEntry>> ReadEntries(
    Stmt& q, size_t max_bytes = std::numeric_limits<size_t>::max()) {
  std::vector<TranscriptEntry> out;
  size_t bytes = 0;
  while (q.Step()) {
    TranscriptEntry entry{q.Text(0), q.Text(1), q.UInt(2), q.UInt(3), q.Blob(4),
                          q.Blob(5), q.Blob(6), q.Blob(7), q.Blob(8), q.Int(9)};
    bytes += TranscriptPageBytes(entry);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(entry));
  }
  ATTN_RETURN_IF_ERROR(q.status());
  return out;
}

}  // namespace

absl::StatusOr<std::vector<TranscriptEntry>> SqliteStore::LoadTranscript(
    const std::string& challenge_id, const std::string& learner) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_, absl::StrCat(kTranscriptColumns,
                           "WHERE challenge = ? AND (? = '' OR learner = ?) "
                           "ORDER BY learner, idx")
                  .c_str());
  q.Bind(1, challenge_id).Bind(2, learner).Bind(3, learner);
  return ReadEntries(q);
}

absl::StatusOr<std::vector<TranscriptEntry>> SqliteStore::LoadTranscriptPage(
    const std::string& challenge_id, const std::string& learner,
    uint64_t first_index, uint64_t max_entries, size_t max_bytes,
    uint64_t* total) {
  absl::MutexLock lock(&mu_);
  Stmt count(db_,
             "SELECT COUNT(*) FROM transcripts WHERE challenge = ? AND "
             "learner = ?");
  count.Bind(1, challenge_id).Bind(2, learner);
  if (!count.Step()) return count.status();
  *total = count.UInt(0);
  // SQLite's integers are signed: an index past INT64_MAX would bind as a
  // negative number and match from index 0. No entry has such an index.
  if (first_index >
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::vector<TranscriptEntry>();
  }
  Stmt q(db_, absl::StrCat(kTranscriptColumns,
                           "WHERE challenge = ? AND learner = ? AND idx >= ? "
                           "ORDER BY idx LIMIT ?")
                  .c_str());
  q.Bind(1, challenge_id).Bind(2, learner).Bind(3, first_index);
  q.Bind(4, max_entries);
  return ReadEntries(q, max_bytes);
}

absl::StatusOr<SubmissionRecord> SqliteStore::InsertSubmission(
    const SubmissionRecord& r) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "INSERT INTO submissions(challenge, learner, functional_rel_err, "
         "max_abs_err, bits, theta_rel_err, omega_rel_err, queries_used, "
         "tokens_used, queries_to_bound, tokens_to_bound, created_ms, "
         "sign_disagreement, ffn_rel_err) "
         "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const Score& s = r.score;
  q.Bind(1, r.challenge_id).Bind(2, r.learner).Bind(3, s.functional_rel_err);
  q.Bind(4, s.max_abs_err).Bind(5, s.bits).Bind(6, s.theta_rel_err);
  q.Bind(7, s.omega_rel_err).Bind(8, s.queries_used).Bind(9, s.tokens_used);
  q.Bind(10, s.queries_to_bound).Bind(11, s.tokens_to_bound);
  q.Bind(12, r.created_ms).Bind(13, s.sign_disagreement);
  q.Bind(14, s.ffn_rel_err);
  ATTN_RETURN_IF_ERROR(q.Run());
  SubmissionRecord out = r;
  out.id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  return out;
}

absl::StatusOr<std::vector<SubmissionRecord>> SqliteStore::LoadSubmissions(
    const std::string& challenge_id) {
  absl::MutexLock lock(&mu_);
  Stmt q(db_,
         "SELECT id, challenge, learner, functional_rel_err, max_abs_err, "
         "bits, theta_rel_err, omega_rel_err, queries_used, tokens_used, "
         "queries_to_bound, tokens_to_bound, created_ms, sign_disagreement, "
         "ffn_rel_err FROM submissions "
         "WHERE ? = '' OR challenge = ? ORDER BY id");
  q.Bind(1, challenge_id).Bind(2, challenge_id);
  std::vector<SubmissionRecord> out;
  while (q.Step()) {
    SubmissionRecord r;
    r.id = q.UInt(0);
    r.challenge_id = q.Text(1);
    r.learner = q.Text(2);
    r.score = Score{q.Real(3), q.Real(4), q.Real(5),  q.Real(6), q.Real(7),
                    q.UInt(8), q.UInt(9), q.Real(10), q.Real(11)};
    r.created_ms = q.Int(12);
    r.score.sign_disagreement = q.Real(13);
    r.score.ffn_rel_err = q.Real(14);
    out.push_back(std::move(r));
  }
  ATTN_RETURN_IF_ERROR(q.status());
  return out;
}

}  // namespace attnoracle
