// MemoryStore: a Store in plain containers, for a server with no database
// file. Nothing survives the process, so durable() is false and the ledger
// writes to it on the answering threads; what it saves over an in-memory
// SQLite database is SQL (a charge is a few copies into blocks).
//
// Transcripts are most of what it holds and are kept for the process's
// life, so their bytes are copied into large blocks (ByteBlocks) rather
// than kept as several heap allocations per entry, and an entry is a fixed
// record in its chain's deque.
//
//   MemoryStore store;
//   absl::Status s = store.CommitCharges(usage_rows, transcript_rows);
//
// Behaves as SqliteStore does where callers can tell: the same orders,
// ALREADY_EXISTS and NOT_FOUND cases, atomic CommitCharges, submission ids
// from 1. Thread-safe.
#ifndef ATTNORACLE_SERVER_CORE_MEMORY_STORE_H_
#define ATTNORACLE_SERVER_CORE_MEMORY_STORE_H_

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/byte_blocks.h"
#include "server/core/store.h"

namespace attnoracle {

class MemoryStore final : public Store {
 public:
  bool durable() const override { return false; }

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

 private:
  // (challenge, learner): the key of usage rows and transcripts.
  using Key = std::pair<std::string, std::string>;

  // A transcript entry as kept; its bytes are in kept_.
  struct KeptEntry {
    uint64_t index = 0;
    uint64_t first_query_index = 0;
    int64_t answered_unix_ms = 0;
    absl::string_view request, response, request_digest, response_digest,
        chain_hash;
  };

  KeptEntry Keep(const TranscriptEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static TranscriptEntry Restore(const Key& key, const KeptEntry& e);

  absl::Mutex mu_;
  std::map<std::string, ChallengeRecord> challenges_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LearnerRecord> learners_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> token_hashes_ ABSL_GUARDED_BY(mu_);
  std::map<Key, UsageRecord> usage_ ABSL_GUARDED_BY(mu_);
  // Each key's entries in order of index; an index is stored at most once.
  // A deque, so that a long chain growing never copies its records while
  // the lock is held.
  std::map<Key, std::deque<KeptEntry>> transcripts_ ABSL_GUARDED_BY(mu_);
  ByteBlocks kept_ ABSL_GUARDED_BY(mu_);
  std::vector<SubmissionRecord> submissions_ ABSL_GUARDED_BY(mu_);  // by id
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_MEMORY_STORE_H_
