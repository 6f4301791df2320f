// Ledger: learners' budgets and transcripts, durable through a Store with
// group commit.
//
//   Ledger ledger(&store);
//   absl::Status s = ledger.Load();
//   absl::StatusOr<Reservation> r = ledger.Reserve(key, budget, 2, 8);
//   ... compute the answers ...
//   absl::StatusOr<std::string> head = ledger.Commit(key, r->first_query_index,
//                                                    request_bytes,
//                                                    answer_bytes);
//   ... only now send the answers ...
//
// Reserve checks and takes budget in memory under one mutex, so racing
// requests never overspend. Commit appends the transcript entry (hash
// chained) and returns once a store transaction holding it and the usage
// counters that charged it is durable. Concurrent commits share one
// transaction: a committer thread writes whatever is pending at once.
// CommitAsync is the same without the wait: the committer thread calls
// back once the entry is durable, so a caller that must not block (a gRPC
// callback handler) gets group commit without a thread per waiting request.
//
// A store that is not durable (in memory) has no sync to wait for, and
// handing each commit to another thread would cost more than the write, so
// the ledger has no committer thread for it (writes_inline()): a caller
// that finds no write under way writes what is pending itself, its own
// entry and whatever others queue meanwhile, and runs their callbacks;
// callers arriving during a write just queue. So the store is still
// written in batches under load, and an idle ledger answers with no thread
// hop.
//
// After a crash the stored usage counts every answer that left the server,
// plus at most the requests that were reserved but not yet committed.
// If the store ever fails, every later Commit fails with UNAVAILABLE (no
// answer may leave without a durable charge); restart the server.
//
// On a shared store (several servers on one PostgreSQL database) the
// store is the truth: Reserve takes the budget with one conditional update
// in the store, the committer's transaction numbers and chains each entry
// from the chain head stored for its key (so one learner's chain stays one
// chain across servers) and refuses entries of a challenge that was closed
// meanwhile (FAILED_PRECONDITION), Grant adds in the store and GetUsage
// reads it. The memory only caches.
//
// Thread-safe. The store must outlive the ledger.
#ifndef ATTNORACLE_SERVER_CORE_LEDGER_H_
#define ATTNORACLE_SERVER_CORE_LEDGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/access_policy.h"
#include "server/core/server_metrics.h"
#include "server/core/store.h"

namespace attnoracle {

struct LedgerKey {
  std::string challenge_id;
  std::string learner;
  friend auto operator<=>(const LedgerKey&, const LedgerKey&) = default;
};

struct Reservation {
  Usage usage;                     // after the reservation
  uint64_t first_query_index = 0;  // queries used before it
};

struct CommitReceipt {
  uint64_t index = 0;      // transcript entry number
  std::string chain_head;  // hash of this entry
};

class Ledger {
 public:
  // Group-commits through a committer thread when store->durable(),
  // writes inline otherwise.
  explicit Ledger(Store* store);
  ~Ledger();  // writes what is pending, then stops the committer

  // True when commits are written by the calling threads (the store is not
  // durable), not by a committer thread.
  bool writes_inline() const { return !committer_.joinable(); }

  // Times every store transaction of the group commit and counts its
  // entries into `metrics` (which must outlive the ledger); nullptr stops.
  void set_metrics(ServerMetrics* metrics) ABSL_LOCKS_EXCLUDED(mu_);

  // Loads usage from the store. Call once, before serving.
  [[nodiscard]] absl::Status Load();

  // Takes `queries` sequences and `tokens` tokens from what is left of
  // `budget` plus the key's grants. RESOURCE_EXHAUSTED, taking nothing, when
  // either does not fit.
  [[nodiscard]] absl::StatusOr<Reservation> Reserve(const LedgerKey& key,
                                                    const Budget& budget,
                                                    uint64_t queries,
                                                    uint64_t tokens);

  // Appends the answered request to the key's transcript and waits until
  // it is durable. UNAVAILABLE when the store failed.
  [[nodiscard]] absl::StatusOr<CommitReceipt> Commit(const LedgerKey& key,
                                                     uint64_t first_query_index,
                                                     std::string request,
                                                     std::string response);

  // Called once with Commit's result; see CommitAsync.
  using CommitCallback =
      std::function<void(absl::StatusOr<CommitReceipt> receipt)>;

  // As Commit, but returns at once: the entry takes its place in the key's
  // chain now (entries of one key are chained in call order) and
  // `on_durable` runs when it is durable, or with UNAVAILABLE when the
  // store failed. It runs on the thread that wrote the batch (the
  // committer, or with writes_inline() possibly this or another caller of
  // Commit, CommitAsync or Grant), or inline when the store had already
  // failed; it must not block and must not call back into the ledger.
  void CommitAsync(const LedgerKey& key, uint64_t first_query_index,
                   std::string request, std::string response,
                   CommitCallback on_durable);

  // Adds extra budget for the key; durable when it returns.
  // INVALID_ARGUMENT when a counter would overflow.
  [[nodiscard]] absl::StatusOr<Usage> Grant(const LedgerKey& key,
                                            const Budget& budget,
                                            uint64_t queries, uint64_t tokens);

  // Usage against `budget` plus the key's grants (zero for an unseen key).
  Usage GetUsage(const LedgerKey& key, const Budget& budget) const;

 private:
  struct Account {
    uint64_t queries_used = 0;
    uint64_t tokens_used = 0;
    uint64_t extra_queries = 0;
    uint64_t extra_tokens = 0;
    uint64_t entries = 0;
    std::string chain_head;
  };

  struct PendingCallback {
    CommitReceipt receipt;
    CommitCallback on_durable;
  };

  static Usage UsageOf(const Account& a, const Budget& budget);
  static Account AccountOf(const UsageRecord& r);
  // Fills in and queues the entry for `key` (chain index and hash);
  // returns its receipt.
  CommitReceipt Append(const LedgerKey& key, TranscriptEntry entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs callbacks outside the lock, with the batch's result.
  static void RunCallbacks(std::vector<PendingCallback>& callbacks,
                           const absl::Status& status);
  // Waits until the batch that will hold the current pending work is
  // durable (or, writing inline, writes it); returns its status.
  absl::Status WaitDurable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the pending entries and the usage rows of the pending keys into
  // the arguments, numbering the batch; returns its number.
  uint64_t CutBatch(std::vector<TranscriptEntry>& entries,
                    std::vector<UsageRecord>& usage)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the outcome of writing batch `batch`: marks it durable or the
  // ledger failed. Returns the status its waiters get.
  absl::Status FinishBatch(uint64_t batch, const absl::Status& written)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes one batch of what is pending (releasing mu_ meanwhile) and runs
  // its callbacks; work queued behind a failure is failed, not written.
  void WriteBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WriteBatch on a shared store: the store numbers and chains the
  // entries, and each callback gets its entry's receipt or refusal.
  void WriteSharedBatch(std::vector<PendingCallback>& callbacks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // writes_inline(): unless another caller is writing, writes batches
  // until nothing is pending.
  void WriteUnlessWriting() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CommitLoop();

  Store* store_;
  // store_->shared(): the store, not accounts_, holds budgets and chains;
  // accounts_ is then a cache.
  const bool shared_;
  mutable absl::Mutex mu_;
  std::map<LedgerKey, Account> accounts_ ABSL_GUARDED_BY(mu_);
  std::vector<TranscriptEntry> pending_entries_ ABSL_GUARDED_BY(mu_);
  std::vector<LedgerKey> pending_keys_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingCallback> pending_callbacks_ ABSL_GUARDED_BY(mu_);
  uint64_t next_batch_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t durable_batch_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a caller is writing
  ServerMetrics* metrics_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread committer_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_LEDGER_H_
