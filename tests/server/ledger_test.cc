// Ledger over a SqliteStore: exact budgets when threads race for the last
// units, group commit (concurrent commits share store transactions), a
// failed store stops every later commit, a restarted ledger sees the same
// usage, entries and chain, grants are durable and bounded, and the chain
// follows ChainHash over the digests; CommitAsync calls back only once
// the entry is durable.
#include "server/core/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/hashing.h"
#include "common/transcript.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::FailingStore;
using ::attnoracle::test::ForwardingStore;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::TempDbPath;
using ::testing::HasSubstr;

const LedgerKey kKey{"ch", "alice"};
const LedgerKey kOtherKey{"ch", "bob"};

// Counts CommitCharges calls and remembers how many entries each carried.
class CountingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) override {
    {
      absl::MutexLock lock(&mu_);
      batch_entries_.push_back(transcript.size());
    }
    return ForwardingStore::CommitCharges(usage, transcript);
  }

  std::vector<size_t> batch_entries() const {
    absl::MutexLock lock(&mu_);
    return batch_entries_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<size_t> batch_entries_ ABSL_GUARDED_BY(mu_);
};

// Holds the first CommitCharges call until Release(), so that other commits
// pile up behind it; that first call fails when `fail_first` was set, the
// later ones go through.
class GatedStore : public ForwardingStore {
 public:
  GatedStore(Store* inner, bool fail_first)
      : ForwardingStore(inner), fail_first_(fail_first) {}

  // Counts as durable, so that the ledger commits through its committer
  // thread: only then can commits pile up behind a held one.
  bool durable() const override { return true; }

  absl::Status CommitCharges(
      std::span<const UsageRecord> usage,
      std::span<const TranscriptEntry> transcript) override {
    if (calls_.fetch_add(1) == 0) {
      entered_.Notify();
      release_.WaitForNotification();
      if (fail_first_) return absl::InternalError("disk I/O error (injected)");
    }
    return ForwardingStore::CommitCharges(usage, transcript);
  }

  void WaitUntilEntered() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }
  int calls() const { return calls_.load(); }

 private:
  const bool fail_first_;
  std::atomic<int> calls_{0};
  absl::Notification entered_;
  absl::Notification release_;
};

std::string RequestBytes(int i) { return absl::StrCat("request ", i); }
std::string ResponseBytes(int i) { return absl::StrCat("response ", i); }

// Reserves `queries` and commits them as one transcript entry.
absl::StatusOr<CommitReceipt> Answer(Ledger& ledger, const LedgerKey& key,
                                     const Budget& budget, uint64_t queries,
                                     int tag) {
  absl::StatusOr<Reservation> r = ledger.Reserve(key, budget, queries, 1);
  if (!r.ok()) return r.status();
  return ledger.Commit(key, r->first_query_index, RequestBytes(tag),
                       ResponseBytes(tag));
}

// Checks that `entries` are numbered from 0 and chained with ChainHash over
// their request digest (RequestDigest: query index and request bytes) and
// the SHA-256 of their response bytes.
void ExpectChained(const std::vector<TranscriptEntry>& entries) {
  std::string previous;
  for (size_t i = 0; i < entries.size(); ++i) {
    const TranscriptEntry& e = entries[i];
    SCOPED_TRACE(testing::Message() << "entry " << i);
    EXPECT_EQ(e.index, i);
    EXPECT_EQ(e.request_digest, RequestDigest(e.first_query_index, e.request));
    EXPECT_EQ(e.response_digest, Sha256(e.response));
    EXPECT_EQ(e.chain_hash,
              ChainHash(previous, e.request_digest, e.response_digest));
    previous = e.chain_hash;
  }
}

std::vector<TranscriptEntry> TranscriptOf(Store& store, const LedgerKey& key) {
  absl::StatusOr<std::vector<TranscriptEntry>> t =
      store.LoadTranscript(key.challenge_id, key.learner);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.value_or(std::vector<TranscriptEntry>{});
}

UsageRecord StoredUsage(Store& store, const LedgerKey& key) {
  absl::StatusOr<std::vector<UsageRecord>> rows = store.LoadUsage();
  EXPECT_TRUE(rows.ok()) << rows.status();
  for (const UsageRecord& r : rows.value_or(std::vector<UsageRecord>{})) {
    if (r.challenge_id == key.challenge_id && r.learner == key.learner) {
      return r;
    }
  }
  ADD_FAILURE() << "no usage row for " << key.learner;
  return UsageRecord{};
}

TEST(LedgerTest, ChargesAndChainsEveryCommit) {
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(":memory:");
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  const Budget budget{.queries = 10, .tokens = 100};

  std::string head;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<Reservation> r = ledger.Reserve(kKey, budget, 2, 5);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->first_query_index, 2u * i);
    EXPECT_EQ(r->usage, (Usage{2u * (i + 1), 5u * (i + 1), 10 - 2u * (i + 1),
                               100 - 5u * (i + 1)}));
    absl::StatusOr<CommitReceipt> c = ledger.Commit(
        kKey, r->first_query_index, RequestBytes(i), ResponseBytes(i));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->index, static_cast<uint64_t>(i));
    head = ChainHash(head, RequestDigest(2u * i, RequestBytes(i)),
                     Sha256(ResponseBytes(i)));
    EXPECT_EQ(c->chain_head, head);
  }

  const std::vector<TranscriptEntry> entries = TranscriptOf(*store, kKey);
  ASSERT_EQ(entries.size(), 4u);
  ExpectChained(entries);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(entries[i].request, RequestBytes(i));
    EXPECT_EQ(entries[i].response, ResponseBytes(i));
    EXPECT_EQ(entries[i].first_query_index, 2u * i);
    EXPECT_EQ(entries[i].learner, "alice");
  }
  const UsageRecord row = StoredUsage(*store, kKey);
  EXPECT_EQ(row.queries_used, 8u);
  EXPECT_EQ(row.tokens_used, 20u);
  EXPECT_EQ(row.entries, 4u);
  EXPECT_EQ(row.chain_head, head);

  // Another key has its own budget and its own chain from the start.
  absl::StatusOr<CommitReceipt> bob = Answer(ledger, kOtherKey, budget, 1, 0);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->index, 0u);
  EXPECT_EQ(bob->chain_head, ChainHash("", RequestDigest(0, RequestBytes(0)),
                                       Sha256(ResponseBytes(0))));
  EXPECT_EQ(ledger.GetUsage(kOtherKey, budget), (Usage{1, 1, 9, 99}));
}

TEST(LedgerTest, RefusalTakesNothing) {
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(":memory:");
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  const Budget budget{.queries = 3, .tokens = 10};
  ASSERT_TRUE(ledger.Reserve(kKey, budget, 2, 9).ok());
  for (auto [queries, tokens] : {std::pair{2, 1}, std::pair{1, 2}}) {
    absl::StatusOr<Reservation> r =
        ledger.Reserve(kKey, budget, queries, tokens);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("budget exhausted"));
    EXPECT_THAT(MessageOf(r.status()),
                HasSubstr("1 queries and 1 tokens are left"));
  }
  EXPECT_EQ(ledger.GetUsage(kKey, budget), (Usage{2, 9, 1, 1}));
  EXPECT_EQ(ledger.GetUsage(kOtherKey, budget), (Usage{0, 0, 3, 10}));
}

constexpr int kRacingThreads = 16;

// Threads race Reserve + Commit for the last units of a budget, round after
// round on fresh keys: exactly the budget is answered, the usage is the sum
// of what was granted, and every granted request is in the transcript.
TEST(LedgerConcurrencyTest, RacersForTheLastUnitsGetExactlyTheBudget) {
  constexpr int kRounds = 20;
  constexpr uint64_t kPrespentQueries = 90;
  const Budget budget{.queries = 100, .tokens = 1'000'000};
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(":memory:");
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    const LedgerKey key{"race", absl::StrCat("learner", round)};
    absl::StatusOr<Reservation> prespent =
        ledger.Reserve(key, budget, kPrespentQueries, kPrespentQueries);
    ASSERT_TRUE(prespent.ok()) << prespent.status();
    ASSERT_TRUE(ledger.Commit(key, 0, "pre", "pre").ok());

    struct Granted {
      uint64_t first_query_index;
      uint64_t queries;
    };
    std::vector<std::vector<Granted>> granted(kRacingThreads);
    std::latch start(kRacingThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kRacingThreads; ++t) {
      threads.emplace_back([&, t] {
        // Requests of 1, 2 or 3 queries; the size-1 threads only stop when
        // nothing is left.
        const uint64_t size = 1 + t % 3;
        start.arrive_and_wait();
        while (true) {
          absl::StatusOr<Reservation> r = ledger.Reserve(key, budget, size, 1);
          if (!r.ok()) {
            EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
            break;
          }
          EXPECT_LE(r->usage.queries_used, budget.queries);
          absl::StatusOr<CommitReceipt> c =
              ledger.Commit(key, r->first_query_index, RequestBytes(t), "ok");
          EXPECT_TRUE(c.ok()) << c.status();
          granted[t].push_back({r->first_query_index, size});
        }
      });
    }
    for (std::thread& t : threads) t.join();

    std::vector<Granted> all;
    uint64_t sum = 0;
    for (const auto& g : granted) {
      all.insert(all.end(), g.begin(), g.end());
      for (const Granted& x : g) sum += x.queries;
    }
    EXPECT_EQ(sum, budget.queries - kPrespentQueries);
    // The granted requests tile [prespent, budget) without gap or overlap.
    std::sort(all.begin(), all.end(), [](const Granted& a, const Granted& b) {
      return a.first_query_index < b.first_query_index;
    });
    uint64_t next = kPrespentQueries;
    for (const Granted& g : all) {
      EXPECT_EQ(g.first_query_index, next);
      next = g.first_query_index + g.queries;
    }
    EXPECT_EQ(next, budget.queries);

    const Usage usage = ledger.GetUsage(key, budget);
    EXPECT_EQ(usage.queries_used, kPrespentQueries + sum);
    EXPECT_EQ(usage.queries_left, 0u);
    const UsageRecord row = StoredUsage(*store, key);
    EXPECT_EQ(row.queries_used, budget.queries);
    EXPECT_EQ(row.entries, 1 + all.size());
    const std::vector<TranscriptEntry> entries = TranscriptOf(*store, key);
    EXPECT_EQ(entries.size(), 1 + all.size());
    ExpectChained(entries);
  }
}

// The ledger's reservations alone, so the threads spend nearly all their
// time contending for the budget.
TEST(LedgerConcurrencyTest, RacingReservationsSpendExactlyTheBudget) {
  constexpr int kThreads = 8;
  constexpr Budget kBudget{.queries = 1'000'000, .tokens = 2'000'000};
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(":memory:");
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  std::latch start(kThreads);
  std::vector<uint64_t> charged(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      while (ledger.Reserve(kKey, kBudget, 1, 2).ok()) ++charged[t];
    });
  }
  for (std::thread& t : threads) t.join();
  uint64_t total = 0;
  for (uint64_t c : charged) total += c;
  EXPECT_EQ(total, kBudget.queries);
  EXPECT_EQ(ledger.GetUsage(kKey, kBudget),
            (Usage{kBudget.queries, kBudget.tokens, 0, 0}));
}

// Commits that arrive while a store transaction is running wait for the
// next one and share it.
TEST(LedgerGroupCommitTest, ConcurrentCommitsShareTransactions) {
  constexpr int kWaiting = kRacingThreads - 1;
  const Budget budget{.queries = 1000, .tokens = 1000};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(TempDbPath());
  CountingStore counting(sqlite.get());
  GatedStore gated(&counting, /*fail_first=*/false);
  Ledger ledger(&gated);
  ASSERT_TRUE(ledger.Load().ok());

  // The first commit holds the committer inside the store...
  std::thread first(
      [&] { ASSERT_TRUE(Answer(ledger, kKey, budget, 1, 0).ok()); });
  gated.WaitUntilEntered();
  // ... while the others queue up behind it.
  std::latch queued(kWaiting);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWaiting; ++t) {
    threads.emplace_back([&, t] {
      const LedgerKey key = t % 2 == 0 ? kKey : kOtherKey;
      absl::StatusOr<Reservation> r = ledger.Reserve(key, budget, 1, 1);
      ASSERT_TRUE(r.ok()) << r.status();
      queued.count_down();
      EXPECT_TRUE(ledger
                      .Commit(key, r->first_query_index, RequestBytes(t + 1),
                              ResponseBytes(t + 1))
                      .ok());
    });
  }
  queued.wait();
  gated.Release();
  first.join();
  for (std::thread& t : threads) t.join();

  const std::vector<size_t> batches = counting.batch_entries();
  size_t committed = 0;
  for (size_t n : batches) committed += n;
  EXPECT_EQ(committed, static_cast<size_t>(kRacingThreads));
  EXPECT_LT(batches.size(), static_cast<size_t>(kRacingThreads));
  EXPECT_GT(*std::max_element(batches.begin(), batches.end()), 1u);
  ExpectChained(TranscriptOf(*sqlite, kKey));
  ExpectChained(TranscriptOf(*sqlite, kOtherKey));
  EXPECT_EQ(TranscriptOf(*sqlite, kKey).size() +
                TranscriptOf(*sqlite, kOtherKey).size(),
            static_cast<size_t>(kRacingThreads));
}

// Many committers at full speed on a file store: far fewer store
// transactions than commits.
TEST(LedgerGroupCommitTest, FileStoreUnderLoadBatches) {
  constexpr int kCommitsPerThread = 20;
  const Budget budget{.queries = 100'000, .tokens = 100'000};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(TempDbPath());
  CountingStore counting(sqlite.get());
  Ledger ledger(&counting);
  ASSERT_TRUE(ledger.Load().ok());
  std::latch start(kRacingThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kRacingThreads; ++t) {
    threads.emplace_back([&, t] {
      const LedgerKey key{"ch", absl::StrCat("l", t % 4)};
      start.arrive_and_wait();
      for (int i = 0; i < kCommitsPerThread; ++i) {
        EXPECT_TRUE(Answer(ledger, key, budget, 1, i).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<size_t> batches = counting.batch_entries();
  size_t committed = 0;
  for (size_t n : batches) committed += n;
  EXPECT_EQ(committed, static_cast<size_t>(kRacingThreads * kCommitsPerThread));
  EXPECT_LT(batches.size(), committed);
  for (int l = 0; l < 4; ++l) {
    const LedgerKey key{"ch", absl::StrCat("l", l)};
    const std::vector<TranscriptEntry> entries = TranscriptOf(*sqlite, key);
    EXPECT_EQ(entries.size(), 4u * kCommitsPerThread);
    ExpectChained(entries);
  }
}

// A FailingStore that claims durability or not, so that a failure is seen
// both by the committer thread and by a ledger writing inline.
class FailingStoreIn : public FailingStore {
 public:
  FailingStoreIn(Store* inner, bool durable)
      : FailingStore(inner), durable_(durable) {}
  bool durable() const override { return durable_; }

 private:
  const bool durable_;
};

// Parameter: whether the store counts as durable (group commit) or not
// (the ledger writes inline).
class LedgerStoreFailureTest : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(CommitModes, LedgerStoreFailureTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "GroupCommit" : "Inline";
                         });

TEST_P(LedgerStoreFailureTest, FailedStoreMakesEveryLaterCommitUnavailable) {
  const Budget budget{.queries = 100, .tokens = 100};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  FailingStoreIn failing(sqlite.get(), GetParam());
  Ledger ledger(&failing);
  ASSERT_EQ(ledger.writes_inline(), !GetParam());
  ASSERT_TRUE(ledger.Load().ok());
  ASSERT_TRUE(Answer(ledger, kKey, budget, 1, 0).ok());

  failing.fail = true;
  absl::StatusOr<CommitReceipt> failed = Answer(ledger, kKey, budget, 1, 1);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(failed.status()), HasSubstr("store failed"));
  EXPECT_THAT(MessageOf(failed.status()), HasSubstr("disk I/O error"));
  const int calls_after_failure = failing.calls();

  // The store works again, but the ledger stays failed: its memory is ahead
  // of the store, so nothing more may be answered until a restart.
  failing.fail = false;
  for (const LedgerKey& key : {kKey, kOtherKey}) {
    absl::StatusOr<CommitReceipt> later = Answer(ledger, key, budget, 1, 2);
    EXPECT_EQ(later.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(MessageOf(later.status()), HasSubstr("restart"));
  }
  absl::StatusOr<Usage> grant = ledger.Grant(kKey, budget, 1, 1);
  EXPECT_EQ(grant.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failing.calls(), calls_after_failure);

  // The store holds only what was durably committed.
  EXPECT_EQ(TranscriptOf(*sqlite, kKey).size(), 1u);
  EXPECT_EQ(StoredUsage(*sqlite, kKey).entries, 1u);
}

// Commits queued behind a batch that fails must not be written afterwards:
// their callers got UNAVAILABLE, and their entries would chain onto an
// entry the store never got.
TEST(LedgerFailureTest, CommitsQueuedBehindAFailedBatchAreNotWritten) {
  constexpr int kWaiting = 8;
  const Budget budget{.queries = 100, .tokens = 100};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  GatedStore gated(sqlite.get(), /*fail_first=*/true);
  Ledger ledger(&gated);
  ASSERT_TRUE(ledger.Load().ok());

  std::thread first([&] {
    EXPECT_EQ(Answer(ledger, kKey, budget, 1, 0).status().code(),
              absl::StatusCode::kUnavailable);
  });
  gated.WaitUntilEntered();
  std::latch queued(kWaiting);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWaiting; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<Reservation> r = ledger.Reserve(kKey, budget, 1, 1);
      ASSERT_TRUE(r.ok()) << r.status();
      queued.count_down();
      EXPECT_EQ(ledger
                    .Commit(kKey, r->first_query_index, RequestBytes(t + 1),
                            ResponseBytes(t + 1))
                    .status()
                    .code(),
                absl::StatusCode::kUnavailable);
    });
  }
  queued.wait();
  gated.Release();
  first.join();
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(gated.calls(), 1);
  EXPECT_TRUE(TranscriptOf(*sqlite, kKey).empty());
}

// CommitAsync returns before the entry is durable and calls back once it
// is: the callback sees the same receipt Commit would return, and the store
// holds the entry by then. Entries are chained in call order.
TEST(LedgerAsyncTest, CallsBackOnceDurableWithTheChainedReceipt) {
  constexpr int kCommits = 16;
  const Budget budget{.queries = 100, .tokens = 100};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  GatedStore gated(sqlite.get(), /*fail_first=*/false);
  Ledger ledger(&gated);
  ASSERT_TRUE(ledger.Load().ok());

  absl::Mutex mu;
  std::vector<std::pair<int, CommitReceipt>> receipts;
  absl::Notification all_durable;
  for (int i = 0; i < kCommits; ++i) {
    absl::StatusOr<Reservation> r = ledger.Reserve(kKey, budget, 1, 1);
    ASSERT_TRUE(r.ok()) << r.status();
    ledger.CommitAsync(
        kKey, r->first_query_index, RequestBytes(i), ResponseBytes(i),
        [&, i](absl::StatusOr<CommitReceipt> receipt) {
          ASSERT_TRUE(receipt.ok()) << receipt.status();
          // Durable before the callback: the store already has it.
          EXPECT_GT(TranscriptOf(*sqlite, kKey).size(), receipt->index);
          absl::MutexLock lock(&mu);
          receipts.emplace_back(i, *receipt);
          if (receipts.size() == kCommits) all_durable.Notify();
        });
  }
  // Every call returned while the first batch was still held.
  gated.WaitUntilEntered();
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(receipts.empty());
  }
  gated.Release();
  all_durable.WaitForNotification();

  const std::vector<TranscriptEntry> entries = TranscriptOf(*sqlite, kKey);
  ASSERT_EQ(entries.size(), static_cast<size_t>(kCommits));
  ExpectChained(entries);
  absl::MutexLock lock(&mu);
  for (const auto& [i, receipt] : receipts) {
    EXPECT_EQ(receipt.index, static_cast<uint64_t>(i));
    EXPECT_EQ(receipt.chain_head, entries[i].chain_hash);
  }
}

// A failing store fails the waiting callbacks with UNAVAILABLE, and a
// commit after the failure is refused at once, on the calling thread.
TEST_P(LedgerStoreFailureTest, FailedStoreFailsTheCallbacks) {
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  FailingStoreIn failing(sqlite.get(), GetParam());
  Ledger ledger(&failing);
  ASSERT_TRUE(ledger.Load().ok());
  failing.fail = true;

  absl::Notification called;
  absl::Status status;
  ledger.CommitAsync(kKey, 0, RequestBytes(0), ResponseBytes(0),
                     [&](absl::StatusOr<CommitReceipt> receipt) {
                       status = receipt.status();
                       called.Notify();
                     });
  called.WaitForNotification();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);

  bool inline_call = false;
  ledger.CommitAsync(kKey, 1, RequestBytes(1), ResponseBytes(1),
                     [&](absl::StatusOr<CommitReceipt> receipt) {
                       EXPECT_EQ(receipt.status().code(),
                                 absl::StatusCode::kUnavailable);
                       inline_call = true;
                     });
  EXPECT_TRUE(inline_call);
  EXPECT_TRUE(TranscriptOf(*sqlite, kKey).empty());
}

// A store that is not durable is written on the calling thread, one store
// call per commit, before Commit returns or CommitAsync calls back; a file
// store gets the committer thread.
TEST(LedgerInlineTest, MemoryStoreIsWrittenOnTheCallingThread) {
  constexpr int kCommits = 5;
  const Budget budget{.queries = 100, .tokens = 100};
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  CountingStore counting(sqlite.get());
  Ledger ledger(&counting);
  ASSERT_TRUE(ledger.Load().ok());
  ASSERT_TRUE(ledger.writes_inline());

  for (int i = 0; i < kCommits; ++i) {
    absl::StatusOr<Reservation> r = ledger.Reserve(kKey, budget, 1, 1);
    ASSERT_TRUE(r.ok()) << r.status();
    bool called = false;
    ledger.CommitAsync(kKey, r->first_query_index, RequestBytes(i),
                       ResponseBytes(i),
                       [&](absl::StatusOr<CommitReceipt> receipt) {
                         ASSERT_TRUE(receipt.ok()) << receipt.status();
                         EXPECT_EQ(receipt->index, static_cast<uint64_t>(i));
                         EXPECT_EQ(TranscriptOf(*sqlite, kKey).size(),
                                   static_cast<size_t>(i + 1));
                         called = true;
                       });
    EXPECT_TRUE(called) << "commit " << i << " did not call back inline";
  }
  ASSERT_TRUE(Answer(ledger, kOtherKey, budget, 1, 9).ok());
  EXPECT_EQ(TranscriptOf(*sqlite, kOtherKey).size(), 1u);
  EXPECT_THAT(counting.batch_entries(),
              ::testing::ElementsAre(1, 1, 1, 1, 1, 1));
  ExpectChained(TranscriptOf(*sqlite, kKey));
  EXPECT_EQ(StoredUsage(*sqlite, kKey).entries,
            static_cast<uint64_t>(kCommits));

  std::unique_ptr<SqliteStore> file = OpenStoreOrDie(TempDbPath());
  EXPECT_FALSE(Ledger(file.get()).writes_inline());
}

TEST(LedgerRestartTest, NewLedgerOverTheSameFileSeesTheSameState) {
  const std::string path = TempDbPath();
  const Budget budget{.queries = 50, .tokens = 500};
  Usage alice_usage, bob_usage;
  std::string alice_head;
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    Ledger ledger(store.get());
    ASSERT_TRUE(ledger.Load().ok());
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<CommitReceipt> c = Answer(ledger, kKey, budget, 2, i);
      ASSERT_TRUE(c.ok()) << c.status();
      alice_head = c->chain_head;
    }
    ASSERT_TRUE(Answer(ledger, kOtherKey, budget, 5, 9).ok());
    ASSERT_TRUE(ledger.Grant(kOtherKey, budget, 7, 70).ok());
    alice_usage = ledger.GetUsage(kKey, budget);
    bob_usage = ledger.GetUsage(kOtherKey, budget);
    ASSERT_EQ(bob_usage, (Usage{5, 1, 52, 569}));
  }
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  EXPECT_EQ(ledger.GetUsage(kKey, budget), alice_usage);
  EXPECT_EQ(ledger.GetUsage(kOtherKey, budget), bob_usage);
  EXPECT_EQ(StoredUsage(*store, kKey).entries, 3u);
  EXPECT_EQ(StoredUsage(*store, kKey).chain_head, alice_head);

  // The chain and the query count go on where they stopped.
  absl::StatusOr<Reservation> r = ledger.Reserve(kKey, budget, 1, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first_query_index, alice_usage.queries_used);
  absl::StatusOr<CommitReceipt> c =
      ledger.Commit(kKey, r->first_query_index, RequestBytes(3), "after");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->index, 3u);
  EXPECT_EQ(c->chain_head,
            ChainHash(alice_head,
                      RequestDigest(alice_usage.queries_used, RequestBytes(3)),
                      Sha256("after")));
  const std::vector<TranscriptEntry> entries = TranscriptOf(*store, kKey);
  ASSERT_EQ(entries.size(), 4u);
  ExpectChained(entries);
}

TEST(LedgerGrantTest, AddsBudgetDurably) {
  const std::string path = TempDbPath();
  const Budget budget{.queries = 2, .tokens = 4};
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    Ledger ledger(store.get());
    ASSERT_TRUE(ledger.Load().ok());
    ASSERT_TRUE(Answer(ledger, kKey, budget, 2, 0).ok());
    EXPECT_EQ(ledger.Reserve(kKey, budget, 1, 1).status().code(),
              absl::StatusCode::kResourceExhausted);
    absl::StatusOr<Usage> granted = ledger.Grant(kKey, budget, 3, 10);
    ASSERT_TRUE(granted.ok()) << granted.status();
    EXPECT_EQ(*granted, (Usage{2, 1, 3, 13}));
    ASSERT_TRUE(Answer(ledger, kKey, budget, 1, 1).ok());
    EXPECT_EQ(ledger.GetUsage(kKey, budget), (Usage{3, 2, 2, 12}));
  }
  // The grant and what was charged with it survive a restart.
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  EXPECT_EQ(ledger.GetUsage(kKey, budget), (Usage{3, 2, 2, 12}));
  const UsageRecord row = StoredUsage(*store, kKey);
  EXPECT_EQ(row.extra_queries, 3u);
  EXPECT_EQ(row.extra_tokens, 10u);
}

TEST(LedgerGrantTest, OverflowIsInvalidArgumentAndChangesNothing) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(":memory:");
  Ledger ledger(store.get());
  ASSERT_TRUE(ledger.Load().ok());
  const Budget budget{.queries = 10, .tokens = 10};
  ASSERT_TRUE(ledger.Grant(kKey, budget, 5, 5).ok());
  const Usage before = ledger.GetUsage(kKey, budget);

  for (auto [queries, tokens] :
       {std::pair{kMax, uint64_t{0}}, std::pair{uint64_t{0}, kMax - 12},
        std::pair{kMax - 14, uint64_t{1}}}) {
    absl::StatusOr<Usage> g = ledger.Grant(kKey, budget, queries, tokens);
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument)
        << queries << " " << tokens;
    EXPECT_THAT(MessageOf(g.status()), HasSubstr("overflow"));
  }
  EXPECT_EQ(ledger.GetUsage(kKey, budget), before);
  EXPECT_EQ(StoredUsage(*store, kKey).extra_queries, 5u);

  // The largest grant that fits is accepted.
  absl::StatusOr<Usage> most = ledger.Grant(kKey, budget, kMax - 15, 0);
  ASSERT_TRUE(most.ok()) << most.status();
  EXPECT_EQ(most->queries_left, kMax);
}

}  // namespace
}  // namespace attnoracle
