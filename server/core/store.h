// Store: where everything that must survive a crash lives (challenges,
// learners, usage, transcripts, submissions). The core owns this interface;
// SqliteStore is the embedded default, a PostgreSQL store for several
// replicas can implement the same calls.
//
//   std::unique_ptr<Store> store = *SqliteStore::Open("attnoracle.db");
//   absl::Status s = store->CommitCharges(usage_rows, transcript_rows);
//
// Implementations are thread-safe; every mutating call of a durable() store
// is on disk (fsynced) when it returns OK.
#ifndef ATTNORACLE_SERVER_CORE_STORE_H_
#define ATTNORACLE_SERVER_CORE_STORE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/challenge_config.h"
#include "common/score.h"
#include "common/transcript.h"

namespace attnoracle {

enum class Role { kLearner = 0, kAdmin = 1 };

struct LearnerRecord {
  std::string name;
  std::string token_hash;  // SHA-256 of the token, raw bytes
  Role role = Role::kLearner;
  bool revoked = false;
  int64_t created_ms = 0;
};

struct ChallengeRecord {
  std::string id;
  std::string config_text;  // protobuf text format of the resolved config
  Phase phase = Phase::kOpen;
  std::string nonce;  // commitment nonce, raw bytes
  int64_t created_ms = 0;
};

// A phase as the stores keep it: 0 open, 1 closed, 2 revealed.
inline Phase PhaseFromInt(int64_t v) {
  switch (v) {
    case 1:
      return Phase::kClosed;
    case 2:
      return Phase::kRevealed;
    default:
      return Phase::kOpen;
  }
}

inline int64_t PhaseToInt(Phase phase) {
  switch (phase) {
    case Phase::kOpen:
      return 0;
    case Phase::kClosed:
      return 1;
    case Phase::kRevealed:
      return 2;
  }
  return 0;
}

struct UsageRecord {
  std::string challenge_id;
  std::string learner;
  uint64_t queries_used = 0;
  uint64_t tokens_used = 0;
  uint64_t extra_queries = 0;  // granted on top of the challenge budget
  uint64_t extra_tokens = 0;
  uint64_t entries = 0;    // transcript entries so far
  std::string chain_head;  // hash of the last transcript entry
};

struct SubmissionRecord {
  uint64_t id = 0;  // assigned by the store
  std::string challenge_id;
  std::string learner;
  Score score;
  int64_t created_ms = 0;
};

// What one entry adds to a transcript page: its variable-length fields,
// and an allowance for field tags, lengths and the fixed-size fields of
// its encoding (generous: the proto encoding needs under 60 bytes).
inline constexpr size_t kTranscriptEntryOverheadBytes = 64;
inline size_t TranscriptPageBytes(const TranscriptEntry& e) {
  return e.request.size() + e.response.size() + e.request_digest.size() +
         e.response_digest.size() + e.chain_hash.size() + e.learner.size() +
         kTranscriptEntryOverheadBytes;
}

class Store {
 public:
  virtual ~Store() = default;

  // Whether an OK from a mutating call means the change survives a crash;
  // false for an in-memory database, which nothing survives.
  virtual bool durable() const = 0;

  [[nodiscard]] virtual absl::StatusOr<std::vector<ChallengeRecord>>
  LoadChallenges() = 0;
  // ALREADY_EXISTS when the id is taken.
  [[nodiscard]] virtual absl::Status InsertChallenge(
      const ChallengeRecord& record) = 0;
  // NOT_FOUND for an unknown id.
  [[nodiscard]] virtual absl::Status UpdatePhase(const std::string& id,
                                                 Phase phase) = 0;

  [[nodiscard]] virtual absl::StatusOr<std::vector<LearnerRecord>>
  LoadLearners() = 0;
  // ALREADY_EXISTS when the name (or the token hash) is taken.
  [[nodiscard]] virtual absl::Status InsertLearner(
      const LearnerRecord& record) = 0;
  // NOT_FOUND for an unknown name.
  [[nodiscard]] virtual absl::Status UpdateRevoked(const std::string& name,
                                                   bool revoked) = 0;
  // A new token for a learner (a revoked one, whose old token was lost or
  // leaked): its token hash becomes `token_hash` and it is no longer
  // revoked; its name, role and creation time stay, and so do its usage,
  // transcripts and submissions, which are kept by name. NOT_FOUND for an
  // unknown name, ALREADY_EXISTS (changing nothing) when another learner
  // has that token hash.
  [[nodiscard]] virtual absl::Status ReissueLearner(
      const std::string& name, const std::string& token_hash) = 0;

  [[nodiscard]] virtual absl::StatusOr<std::vector<UsageRecord>>
  LoadUsage() = 0;
  // One transaction: every usage row replaced (inserted if new) and every
  // transcript row appended (copied: the store keeps none of the caller's
  // memory). Either all are durable or none is; ALREADY_EXISTS, storing
  // nothing, when a transcript row's (challenge, learner, index) is taken.
  [[nodiscard]] virtual absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) = 0;

  // Entries of one learner (or every learner when `learner` is empty) in
  // order of (learner, index).
  [[nodiscard]] virtual absl::StatusOr<std::vector<TranscriptEntry>>
  LoadTranscript(const std::string& challenge_id,
                 const std::string& learner) = 0;

  // One learner's entries with index in [first_index, first_index +
  // max_entries), in order, and through *total how many it has in all; so
  // a page costs its own size, not the whole transcript's. The page also
  // stops before the entry that would take the sum of TranscriptPageBytes
  // past `max_bytes`, but holds at least one entry when one is left; the
  // store reads at most that one entry past the page.
  [[nodiscard]] virtual absl::StatusOr<std::vector<TranscriptEntry>>
  LoadTranscriptPage(const std::string& challenge_id,
                     const std::string& learner, uint64_t first_index,
                     uint64_t max_entries, size_t max_bytes,
                     uint64_t* total) = 0;

  // Returns the record with its assigned id.
  [[nodiscard]] virtual absl::StatusOr<SubmissionRecord> InsertSubmission(
      const SubmissionRecord& record) = 0;
  // Every submission to a challenge (every challenge when empty), by id.
  [[nodiscard]] virtual absl::StatusOr<std::vector<SubmissionRecord>>
  LoadSubmissions(const std::string& challenge_id) = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_STORE_H_
