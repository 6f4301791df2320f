#include "server/core/ledger.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <span>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "common/transcript.h"
#include "server/core/clock.h"
#include "server/core/handover.h"

namespace attnoracle {
namespace {

// a + b, or false when it overflows.
bool AddChecked(uint64_t a, uint64_t b, uint64_t* sum) {
  if (a > std::numeric_limits<uint64_t>::max() - b) return false;
  *sum = a + b;
  return true;
}

}  // namespace

Ledger::Ledger(Store* store) : store_(store), shared_(store->shared()) {
  if (store_->durable()) committer_ = std::thread([this] { CommitLoop(); });
}

Ledger::~Ledger() {
  if (!committer_.joinable()) return;  // nothing is ever left pending
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
}

void Ledger::set_metrics(ServerMetrics* metrics) {
  absl::MutexLock lock(&mu_);
  metrics_ = metrics;
}

absl::Status Ledger::Load() {
  ATTN_ASSIGN_OR_RETURN(std::vector<UsageRecord> rows, store_->LoadUsage());
  absl::MutexLock lock(&mu_);
  for (UsageRecord& r : rows) {
    accounts_[LedgerKey{r.challenge_id, r.learner}] =
        Account{r.queries_used, r.tokens_used, r.extra_queries,
                r.extra_tokens, r.entries,     std::move(r.chain_head)};
  }
  return absl::OkStatus();
}

Usage Ledger::UsageOf(const Account& a, const Budget& budget) {
  // Grants are bounded at grant time so these sums cannot overflow.
  const uint64_t queries = budget.queries + a.extra_queries;
  const uint64_t tokens = budget.tokens + a.extra_tokens;
  return Usage{a.queries_used, a.tokens_used,
               queries - std::min(a.queries_used, queries),
               tokens - std::min(a.tokens_used, tokens)};
}

Ledger::Account Ledger::AccountOf(const UsageRecord& r) {
  return Account{r.queries_used, r.tokens_used, r.extra_queries,
                 r.extra_tokens, r.entries,     r.chain_head};
}

absl::StatusOr<Reservation> Ledger::Reserve(const LedgerKey& key,
                                            const Budget& budget,
                                            uint64_t queries, uint64_t tokens) {
  if (shared_) {
    // The store takes the budget atomically; the memory only caches.
    ATTN_ASSIGN_OR_RETURN(
        UsageRecord row,
        store_->ReserveShared(key.challenge_id, key.learner, budget.queries,
                              budget.tokens, queries, tokens));
    const Account after = AccountOf(row);
    absl::MutexLock lock(&mu_);
    accounts_[key] = after;
    return Reservation{UsageOf(after, budget), after.queries_used - queries};
  }
  absl::MutexLock lock(&mu_);
  Account& a = accounts_[key];
  const Usage before = UsageOf(a, budget);
  if (queries > before.queries_left || tokens > before.tokens_left) {
    return absl::ResourceExhaustedError(
        absl::StrCat("budget exhausted: the request needs ", queries,
                     " queries and ", tokens, " tokens; ", before.queries_left,
                     " queries and ", before.tokens_left, " tokens are left"));
  }
  const uint64_t first = a.queries_used;
  a.queries_used += queries;
  a.tokens_used += tokens;
  return Reservation{UsageOf(a, budget), first};
}

namespace {

TranscriptEntry NewEntry(const LedgerKey& key, uint64_t first_query_index,
                         std::string request, std::string response) {
  TranscriptEntry entry;
  entry.challenge_id = key.challenge_id;
  entry.learner = key.learner;
  entry.first_query_index = first_query_index;
  entry.request_digest = RequestDigest(first_query_index, request);
  entry.response_digest = Sha256(response);
  entry.request = std::move(request);
  entry.response = std::move(response);
  entry.answered_unix_ms = NowUnixMs();
  return entry;
}

}  // namespace

CommitReceipt Ledger::Append(const LedgerKey& key, TranscriptEntry entry) {
  Account& a = accounts_[key];
  entry.index = a.entries++;
  entry.chain_hash =
      ChainHash(a.chain_head, entry.request_digest, entry.response_digest);
  a.chain_head = entry.chain_hash;
  CommitReceipt receipt{entry.index, entry.chain_hash};
  pending_entries_.push_back(std::move(entry));
  pending_keys_.push_back(key);
  return receipt;
}

absl::StatusOr<CommitReceipt> Ledger::Commit(const LedgerKey& key,
                                             uint64_t first_query_index,
                                             std::string request,
                                             std::string response) {
  if (shared_) {
    // The receipt exists only once the store has chained the entry
    // (Handover: a wait ThreadSanitizer sees).
    Handover<absl::StatusOr<CommitReceipt>> committed;
    CommitAsync(key, first_query_index, std::move(request), std::move(response),
                committed.Callback());
    return committed.Wait();
  }
  TranscriptEntry entry =
      NewEntry(key, first_query_index, std::move(request), std::move(response));
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  CommitReceipt receipt = Append(key, std::move(entry));
  ATTN_RETURN_IF_ERROR(WaitDurable());
  return receipt;
}

void Ledger::CommitAsync(const LedgerKey& key, uint64_t first_query_index,
                         std::string request, std::string response,
                         CommitCallback on_durable) {
  TranscriptEntry entry =
      NewEntry(key, first_query_index, std::move(request), std::move(response));
  absl::Status failed;
  {
    absl::MutexLock lock(&mu_);
    failed = failed_;
    if (failed.ok() && shared_) {
      // Index and chain hash come from the store at commit (WriteBatch).
      pending_entries_.push_back(std::move(entry));
      pending_keys_.push_back(key);
      pending_callbacks_.push_back(
          PendingCallback{CommitReceipt{}, std::move(on_durable)});
      return;
    }
    if (failed.ok()) {
      CommitReceipt receipt = Append(key, std::move(entry));
      pending_callbacks_.push_back(
          PendingCallback{std::move(receipt), std::move(on_durable)});
      if (writes_inline()) WriteUnlessWriting();
      return;
    }
  }
  on_durable(failed);
}

void Ledger::RunCallbacks(std::vector<PendingCallback>& callbacks,
                          const absl::Status& status) {
  for (PendingCallback& c : callbacks) {
    if (status.ok()) {
      c.on_durable(std::move(c.receipt));
    } else {
      c.on_durable(status);
    }
  }
  callbacks.clear();
}

absl::StatusOr<Usage> Ledger::Grant(const LedgerKey& key, const Budget& budget,
                                    uint64_t queries, uint64_t tokens) {
  if (shared_) {
    ATTN_ASSIGN_OR_RETURN(
        UsageRecord row,
        store_->GrantShared(key.challenge_id, key.learner, budget.queries,
                            budget.tokens, queries, tokens));
    const Account after = AccountOf(row);
    absl::MutexLock lock(&mu_);
    accounts_[key] = after;
    return UsageOf(after, budget);
  }
  absl::MutexLock lock(&mu_);
  if (!failed_.ok()) return failed_;
  Account& a = accounts_[key];
  Account granted = a;
  uint64_t unused = 0;
  if (!AddChecked(a.extra_queries, queries, &granted.extra_queries) ||
      !AddChecked(a.extra_tokens, tokens, &granted.extra_tokens) ||
      !AddChecked(budget.queries, granted.extra_queries, &unused) ||
      !AddChecked(budget.tokens, granted.extra_tokens, &unused)) {
    return absl::InvalidArgumentError(
        "the grant would overflow the learner's budget counters");
  }
  a = std::move(granted);
  pending_keys_.push_back(key);
  ATTN_RETURN_IF_ERROR(WaitDurable());
  return UsageOf(accounts_[key], budget);
}

Usage Ledger::GetUsage(const LedgerKey& key, const Budget& budget) const {
  if (shared_) {
    // Exact across replicas; the cache answers only while the store does
    // not.
    absl::StatusOr<UsageRecord> row =
        store_->LoadUsageOf(key.challenge_id, key.learner);
    if (row.ok()) return UsageOf(AccountOf(*row), budget);
  }
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(key);
  return UsageOf(it == accounts_.end() ? Account{} : it->second, budget);
}

absl::Status Ledger::WaitDurable() {
  // The pending work was appended under this same lock hold, so it goes out
  // in the batch cut next: by this thread, by a caller already writing, or
  // by the committer.
  struct Wait {
    const Ledger* ledger;
    uint64_t batch;
  } wait{this, next_batch_};
  if (writes_inline()) WriteUnlessWriting();
  mu_.Await(absl::Condition(
      +[](Wait* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->ledger->mu_) {
        return w->ledger->durable_batch_ >= w->batch ||
               !w->ledger->failed_.ok();
      },
      &wait));
  if (durable_batch_ >= wait.batch) return absl::OkStatus();
  return failed_;
}

uint64_t Ledger::CutBatch(std::vector<TranscriptEntry>& entries,
                          std::vector<UsageRecord>& usage) {
  entries.swap(pending_entries_);
  std::sort(pending_keys_.begin(), pending_keys_.end());
  pending_keys_.erase(std::unique(pending_keys_.begin(), pending_keys_.end()),
                      pending_keys_.end());
  for (const LedgerKey& key : pending_keys_) {
    const Account& a = accounts_[key];
    usage.push_back(UsageRecord{key.challenge_id, key.learner, a.queries_used,
                                a.tokens_used, a.extra_queries, a.extra_tokens,
                                a.entries, a.chain_head});
  }
  pending_keys_.clear();
  return next_batch_++;
}

absl::Status Ledger::FinishBatch(uint64_t batch, const absl::Status& written) {
  if (written.ok()) {
    durable_batch_ = batch;
  } else if (failed_.ok()) {
    failed_ = absl::UnavailableError(absl::StrCat(
        "the store failed to commit charges (", written.message(),
        "); no more answers can be charged durably: restart the server"));
  }
  return written.ok() ? absl::OkStatus() : failed_;
}

void Ledger::WriteBatch() {
  std::vector<TranscriptEntry> entries;
  std::vector<UsageRecord> usage;
  std::vector<PendingCallback> callbacks;
  callbacks.swap(pending_callbacks_);
  absl::Status result;
  if (!failed_.ok()) {
    // Work queued behind a failed batch is never written: its waiters get
    // the failure, its entries chain onto ones the store lacks, and a later
    // durable batch must not count as theirs.
    pending_entries_.clear();
    pending_keys_.clear();
    result = failed_;
  } else if (shared_) {
    WriteSharedBatch(callbacks);
    return;
  } else {
    const uint64_t batch = CutBatch(entries, usage);
    ServerMetrics* const metrics = metrics_;
    mu_.Unlock();
    const absl::Time start = absl::Now();
    const absl::Status written = store_->CommitCharges(usage, entries);
    if (metrics != nullptr) {
      metrics->ObserveCommit(absl::ToDoubleSeconds(absl::Now() - start),
                             entries.size());
    }
    entries.clear();  // their strings are freed outside the lock
    mu_.Lock();
    result = FinishBatch(batch, written);
  }
  mu_.Unlock();
  RunCallbacks(callbacks, result);
  mu_.Lock();
}

void Ledger::WriteSharedBatch(std::vector<PendingCallback>& callbacks) {
  std::vector<TranscriptEntry> entries;
  entries.swap(pending_entries_);
  pending_keys_.clear();
  const uint64_t batch = next_batch_++;
  ServerMetrics* const metrics = metrics_;
  mu_.Unlock();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<absl::Status>> written =
      store_->CommitShared(std::span<TranscriptEntry>(entries));
  if (metrics != nullptr) {
    metrics->ObserveCommit(absl::ToDoubleSeconds(absl::Now() - start),
                           entries.size());
  }
  mu_.Lock();
  const absl::Status result = FinishBatch(batch, written.status());
  if (result.ok()) {
    // Keep the cache's chain heads near the store's (GetUsage reads the
    // store itself).
    for (const TranscriptEntry& e : entries) {
      Account& a = accounts_[LedgerKey{e.challenge_id, e.learner}];
      if (e.index + 1 > a.entries) {
        a.entries = e.index + 1;
        a.chain_head = e.chain_hash;
      }
    }
  }
  mu_.Unlock();
  // One callback per entry, in the order both were queued.
  for (size_t i = 0; i < callbacks.size(); ++i) {
    if (!result.ok()) {
      callbacks[i].on_durable(result);
    } else if (!(*written)[i].ok()) {
      callbacks[i].on_durable((*written)[i]);
    } else {
      callbacks[i].on_durable(
          CommitReceipt{entries[i].index, std::move(entries[i].chain_hash)});
    }
  }
  callbacks.clear();
  entries.clear();  // their strings are freed outside the lock
  mu_.Lock();
}

void Ledger::WriteUnlessWriting() {
  if (writing_) return;  // the writer takes what was just queued too
  writing_ = true;
  while (!pending_keys_.empty()) WriteBatch();
  writing_ = false;
}

void Ledger::CommitLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](Ledger* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu_) {
          return l->stopping_ || !l->pending_keys_.empty();
        },
        this));
    if (pending_keys_.empty()) return;  // stopping, nothing left
    WriteBatch();
  }
}

}  // namespace attnoracle
