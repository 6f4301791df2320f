// PostgresStore: the Store on a PostgreSQL database (libpq), which several
// oracle-server replicas can share. Every commit is synchronous (the
// server's default synchronous_commit), so a call that returned OK is on
// the primary's disk.
//
//   absl::StatusOr<std::unique_ptr<PostgresStore>> store =
//       PostgresStore::Open("postgresql://app@db.example:5432/contest");
//
// The schema is versioned (table schema_version) and migrated forward on
// Open in one transaction that holds an advisory lock, so replicas starting
// at once on an empty database wait for each other instead of failing.
// Unsigned 64-bit counters and indices are NUMERIC(20): the whole range.
// Text columns use the "C" collation, so rows come back in byte order, as
// SQLite returns them.
//
// Thread-safe: a pool of connections, one per concurrent caller.
#ifndef ATTNORACLE_SERVER_CORE_POSTGRES_STORE_H_
#define ATTNORACLE_SERVER_CORE_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/core/pg_connection.h"
#include "server/core/store.h"

namespace attnoracle {

class PostgresStore final : public Store {
 public:
  // Whether `db` (the --db value) names a PostgreSQL database: a
  // postgresql:// or postgres:// URI.
  static bool IsUri(absl::string_view db);

  // Connects to the database `uri` names and migrates it. INVALID_ARGUMENT
  // when the URI carries a password (give it through PGPASSWORD or a
  // passfile) or does not parse; UNAVAILABLE with libpq's message when the
  // server cannot be reached; FAILED_PRECONDITION when the schema is newer
  // than this build's.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      const std::string& uri);

  bool durable() const override { return true; }

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

  // The key of the advisory lock that serialises migrations.
  static constexpr int64_t kMigrationLockKey = 0x417474'6e4f7261;  // "AttnOra"

 private:
  explicit PostgresStore(std::string uri) : pool_(std::move(uri)) {}
  absl::Status Migrate();

  PgPool pool_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_POSTGRES_STORE_H_
