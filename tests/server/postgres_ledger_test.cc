// The Ledger on a shared store: several servers (here two Ledgers, each on
// its own PostgresStore, on one database) stay exact together. Racing
// replicas never answer beyond the budget, one learner's transcript stays
// one hash chain, a challenge closed through one replica stops the other's
// commits, and grants and usage are read from the database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/transcript.h"
#include "server/core/ledger.h"
#include "server/core/postgres_store.h"
#include "tests/postgres_cluster.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MessageOf;
using ::attnoracle::test::PostgresEnvironment;
using ::testing::HasSubstr;

::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

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

// Two replicas' stores and ledgers on one fresh database holding an open
// challenge "c".
class SharedLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string uri = PostgresEnvironment::cluster().NewDatabase();
    store_a_ = OpenOrDie(uri);
    store_b_ = OpenOrDie(uri);
    ASSERT_TRUE(store_a_
                    ->InsertChallenge(ChallengeRecord{"c", "id: \"c\"",
                                                      Phase::kOpen, "nonce", 1})
                    .ok());
    a_ = std::make_unique<Ledger>(store_a_.get());
    b_ = std::make_unique<Ledger>(store_b_.get());
  }

  std::unique_ptr<PostgresStore> store_a_, store_b_;
  std::unique_ptr<Ledger> a_, b_;
  const LedgerKey key_{"c", "l"};
};

// Entries 0..n-1, each chained on the one before from an empty head.
void ExpectOneChain(const std::vector<TranscriptEntry>& entries) {
  std::string previous;
  for (uint64_t k = 0; k < entries.size(); ++k) {
    const TranscriptEntry& e = entries[k];
    EXPECT_EQ(e.index, k);
    EXPECT_EQ(e.request_digest, RequestDigest(e.first_query_index, e.request));
    ASSERT_EQ(e.chain_hash,
              ChainHash(previous, e.request_digest, e.response_digest))
        << "entry " << k << " does not chain on entry " << k - 1;
    previous = e.chain_hash;
  }
}

TEST_F(SharedLedgerTest, RacingReplicasAnswerExactlyTheBudget) {
  EXPECT_TRUE(store_a_->shared());
  constexpr uint64_t kBudget = 24;
  constexpr int kThreadsPerReplica = 8;
  const Budget budget{kBudget, 1000};
  std::atomic<uint64_t> answered{0};
  std::atomic<int> refused_other{0};
  std::vector<std::thread> threads;
  for (Ledger* ledger : {a_.get(), b_.get()}) {
    for (int t = 0; t < kThreadsPerReplica; ++t) {
      threads.emplace_back([&, ledger] {
        while (true) {
          absl::StatusOr<Reservation> r = ledger->Reserve(key_, budget, 1, 2);
          if (!r.ok()) {
            if (r.status().code() != absl::StatusCode::kResourceExhausted) {
              ++refused_other;
            }
            return;
          }
          const std::string request =
              absl::StrCat("request ", r->first_query_index);
          absl::StatusOr<CommitReceipt> receipt =
              ledger->Commit(key_, r->first_query_index, request,
                             absl::StrCat("answer to ", request));
          if (!receipt.ok()) {
            ++refused_other;
            return;
          }
          ++answered;
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(answered.load(), kBudget);
  EXPECT_EQ(refused_other.load(), 0);

  absl::StatusOr<std::vector<TranscriptEntry>> entries =
      store_a_->LoadTranscript("c", "l");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), kBudget);
  ExpectOneChain(*entries);
  // Every reserved query index was answered once.
  std::set<uint64_t> firsts;
  for (const TranscriptEntry& e : *entries) firsts.insert(e.first_query_index);
  EXPECT_EQ(firsts.size(), kBudget);
  EXPECT_EQ(*firsts.rbegin(), kBudget - 1);

  absl::StatusOr<UsageRecord> row = store_b_->LoadUsageOf("c", "l");
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->queries_used, kBudget);
  EXPECT_EQ(row->tokens_used, 2 * kBudget);
  EXPECT_EQ(row->entries, kBudget);
  EXPECT_EQ(row->chain_head, entries->back().chain_hash);
  // Both replicas read the same usage.
  EXPECT_EQ(a_->GetUsage(key_, budget).queries_left, 0u);
  EXPECT_EQ(b_->GetUsage(key_, budget).queries_used, kBudget);
}

TEST_F(SharedLedgerTest, BudgetRefusalSaysWhatIsLeft) {
  const Budget budget{3, 100};
  ASSERT_TRUE(a_->Reserve(key_, budget, 2, 10).ok());
  absl::StatusOr<Reservation> r = b_->Reserve(key_, budget, 2, 10);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(MessageOf(r.status()),
              HasSubstr("the request needs 2 queries and 10 tokens; 1 "
                        "queries and 90 tokens are left"));
  // The refusal took nothing.
  absl::StatusOr<Reservation> last = b_->Reserve(key_, budget, 1, 10);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->first_query_index, 2u);
  EXPECT_EQ(last->usage.queries_left, 0u);
}

TEST_F(SharedLedgerTest, CloseThroughOneReplicaStopsTheOther) {
  const Budget budget{10, 100};
  absl::StatusOr<Reservation> r = b_->Reserve(key_, budget, 1, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(store_a_->UpdatePhase("c", Phase::kClosed).ok());
  // The reserved answer may not leave: its commit is refused and nothing
  // of it is written.
  absl::StatusOr<CommitReceipt> receipt =
      b_->Commit(key_, r->first_query_index, "req", "resp");
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(receipt.status()), HasSubstr("\"c\" is closed"));
  EXPECT_TRUE(store_a_->LoadTranscript("c", "l")->empty());
  const absl::Status reserve = b_->Reserve(key_, budget, 1, 1).status();
  EXPECT_EQ(reserve.code(), absl::StatusCode::kFailedPrecondition);
  // The ledger still commits for other challenges afterwards.
  ASSERT_TRUE(store_a_
                  ->InsertChallenge(
                      ChallengeRecord{"d", "id: \"d\"", Phase::kOpen, "n", 1})
                  .ok());
  const LedgerKey other{"d", "l"};
  ASSERT_TRUE(b_->Reserve(other, budget, 1, 1).ok());
  EXPECT_TRUE(b_->Commit(other, 0, "req", "resp").ok());
}

TEST_F(SharedLedgerTest, RevokedLearnerIsRefusedInTheDatabase) {
  ASSERT_TRUE(
      store_a_
          ->InsertLearner(LearnerRecord{"l", "hash", Role::kLearner, false, 1})
          .ok());
  ASSERT_TRUE(store_a_->UpdateRevoked("l", true).ok());
  const absl::Status s = b_->Reserve(key_, Budget{10, 100}, 1, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(MessageOf(s), HasSubstr("learner \"l\" was revoked"));
}

// Counters are NUMERIC(20): the whole unsigned 64-bit range, and a grant
// that would take budget plus grants past it is refused.
TEST_F(SharedLedgerTest, GrantsAddInTheDatabaseUpToTheUnsignedEdge) {
  const Budget budget{kMaxU64 - 5, 10};
  absl::StatusOr<Usage> granted = a_->Grant(key_, budget, 5, 0);
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->queries_left, kMaxU64);
  const absl::Status over = b_->Grant(key_, budget, 1, 0).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(over), HasSubstr("overflow"));
  absl::StatusOr<Reservation> all = b_->Reserve(key_, budget, kMaxU64, 1);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->usage.queries_used, kMaxU64);
  EXPECT_EQ(a_->GetUsage(key_, budget).queries_used, kMaxU64);
  EXPECT_EQ(a_->Reserve(key_, budget, 1, 1).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace attnoracle
