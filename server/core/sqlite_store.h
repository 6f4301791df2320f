// SqliteStore: the embedded Store, one SQLite file in WAL mode with
// synchronous=FULL, so a commit that returned is on disk. The schema is
// versioned (PRAGMA user_version) and migrated forward on Open.
//
// Checkpoints (copying the WAL into the database file) run on a thread of
// their own with a second connection, so a commit seldom waits for one;
// the committing connection still finishes one itself when the WAL reaches
// kInlineCheckpointFrames pages, which lets the WAL start over and keeps it
// bounded however steady the commits.
//
//   absl::StatusOr<std::unique_ptr<SqliteStore>> store =
//       SqliteStore::Open("attnoracle.db");
//
// One server per database file: the ledger keeps budgets and hash chains
// in memory and writes them through, so two servers on one file would
// each charge from their own counters. Open therefore claims the file
// (flock on PATH-lock, dropped by the kernel when the process dies) and
// refuses a file another store holds.
//
// Thread-safe: one connection behind a mutex (callers batch their writes;
// see the ledger's group commit).
#ifndef ATTNORACLE_SERVER_CORE_SQLITE_STORE_H_
#define ATTNORACLE_SERVER_CORE_SQLITE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/store.h"

struct sqlite3;

namespace attnoracle {

class SqliteStore final : public Store {
 public:
  // Opens or creates the database at `path` (":memory:" for a private
  // in-memory one) and migrates it. UNAVAILABLE when the file cannot be
  // opened; FAILED_PRECONDITION when it was written by a newer version or
  // another store (in this or another process) has it open.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      const std::string& path);
  ~SqliteStore() override;

  // Every file a database at `path` may have beside it: the database, its
  // WAL, shared-memory index and rollback journal, and the claim file.
  // For a `path` that is a symlink, SQLite's files and the claim sit beside
  // the file it points to, not beside these names.
  static std::vector<std::string> FilesOf(const std::string& path);

  // False for ":memory:" (and SQLite's other private databases).
  bool durable() const override { return durable_; }

  absl::StatusOr<std::vector<ChallengeRecord>> LoadChallenges() override;
  absl::Status InsertChallenge(const ChallengeRecord& record) override;
  absl::Status UpdatePhase(const std::string& id, Phase phase) override;
  absl::StatusOr<std::vector<LearnerRecord>> LoadLearners() override;
  absl::Status InsertLearner(const LearnerRecord& record) override;
  absl::Status UpdateRevoked(const std::string& name, bool revoked) override;
  absl::Status ReissueLearner(const std::string& name,
                              const std::string& token_hash) override;
  absl::StatusOr<std::vector<UsageRecord>> LoadUsage() override;
  absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) override;
  absl::StatusOr<std::vector<TranscriptEntry>> LoadTranscript(
      const std::string& challenge_id, const std::string& learner) override;
  absl::StatusOr<std::vector<TranscriptEntry>> LoadTranscriptPage(
      const std::string& challenge_id, const std::string& learner,
      uint64_t first_index, uint64_t max_entries, size_t max_bytes,
      uint64_t* total) override;
  absl::StatusOr<SubmissionRecord> InsertSubmission(
      const SubmissionRecord& record) override;
  absl::StatusOr<std::vector<SubmissionRecord>> LoadSubmissions(
      const std::string& challenge_id) override;

  // The schema version this build writes.
  static int SchemaVersion();

  // The page size of a database this store creates (SQLite's default is
  // 4096). A transcript entry holds a request and its answer, 2 KB and up,
  // and every page a commit touches is one WAL frame written with its own
  // system calls: with 16 KiB pages a group commit writes about a third as
  // many frames. A database created with other pages keeps them (SQLite
  // cannot change the page size of a WAL database in place).
  static constexpr int kNewDatabasePageBytes = 16384;

  // WAL pages after which a commit wakes the checkpoint thread, and after
  // which the committing connection checkpoints what is left itself: 2 and
  // 16 MB with kNewDatabasePageBytes (0.5 and 4 MB in a database made with
  // 4 KiB pages, where 128 measured no worse than 256). A checkpoint's
  // writes slow the commits' syncs meanwhile; a smaller one slows them
  // less, and more often.
  static constexpr int kBackgroundCheckpointFrames = 128;
  static constexpr int kInlineCheckpointFrames = 1000;  // SQLite's default

 private:
  // `claim_fd`: the open claim file (-1 for a database without a file).
  SqliteStore(sqlite3* db, int claim_fd);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // CommitCharges' statements, prepared once: it runs for every answer,
  // and parsing its SQL each time cost more than writing in memory.
  struct ChargeStatements;
  // The checkpoint thread and its connection; only for a database file.
  class Checkpointer;

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ChargeStatements> charge_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Checkpointer> checkpointer_ ABSL_GUARDED_BY(mu_);
  const bool durable_;
  // Held open (and flocked) until the connection is closed.
  const int claim_fd_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_SQLITE_STORE_H_
