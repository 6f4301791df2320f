// The Store contract shared by every store's tests: the record builders,
// field-by-field equality for the records, and StoreTest, the parameterised
// suite of store_contract_test.cc. A test binary links that file and
// instantiates StoreTest with the stores it covers (store_test.cc: SQLite
// and memory; postgres_store_test.cc: PostgreSQL).
#ifndef ATTNORACLE_TESTS_SERVER_STORE_CONTRACT_H_
#define ATTNORACLE_TESTS_SERVER_STORE_CONTRACT_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/store.h"

namespace attnoracle {

// Field-by-field equality for the records, so failures print which differs.
inline bool operator==(const ChallengeRecord& a, const ChallengeRecord& b) {
  return a.id == b.id && a.config_text == b.config_text && a.phase == b.phase &&
         a.nonce == b.nonce && a.created_ms == b.created_ms;
}
inline bool operator==(const LearnerRecord& a, const LearnerRecord& b) {
  return a.name == b.name && a.token_hash == b.token_hash && a.role == b.role &&
         a.revoked == b.revoked && a.created_ms == b.created_ms;
}
inline bool operator==(const UsageRecord& a, const UsageRecord& b) {
  return a.challenge_id == b.challenge_id && a.learner == b.learner &&
         a.queries_used == b.queries_used && a.tokens_used == b.tokens_used &&
         a.extra_queries == b.extra_queries &&
         a.extra_tokens == b.extra_tokens && a.entries == b.entries &&
         a.chain_head == b.chain_head;
}
inline bool operator==(const TranscriptEntry& a, const TranscriptEntry& b) {
  return a.challenge_id == b.challenge_id && a.learner == b.learner &&
         a.index == b.index && a.first_query_index == b.first_query_index &&
         a.request == b.request && a.response == b.response &&
         a.request_digest == b.request_digest &&
         a.response_digest == b.response_digest &&
         a.chain_hash == b.chain_hash &&
         a.answered_unix_ms == b.answered_unix_ms;
}
inline bool operator==(const Score& a, const Score& b) {
  return a.functional_rel_err == b.functional_rel_err &&
         a.max_abs_err == b.max_abs_err && a.bits == b.bits &&
         a.theta_rel_err == b.theta_rel_err &&
         a.omega_rel_err == b.omega_rel_err &&
         a.queries_used == b.queries_used && a.tokens_used == b.tokens_used &&
         a.queries_to_bound == b.queries_to_bound &&
         a.tokens_to_bound == b.tokens_to_bound &&
         a.sign_disagreement == b.sign_disagreement &&
         a.ffn_rel_err == b.ffn_rel_err;
}
inline bool operator==(const SubmissionRecord& a, const SubmissionRecord& b) {
  return a.id == b.id && a.challenge_id == b.challenge_id &&
         a.learner == b.learner && a.score == b.score &&
         a.created_ms == b.created_ms;
}

inline void PrintTo(const ChallengeRecord& r, std::ostream* os) {
  *os << "challenge " << r.id << " phase " << PhaseName(r.phase);
}
inline void PrintTo(const LearnerRecord& r, std::ostream* os) {
  *os << "learner " << r.name << (r.revoked ? " (revoked)" : "");
}
inline void PrintTo(const UsageRecord& r, std::ostream* os) {
  *os << "usage " << r.challenge_id << "/" << r.learner << " q "
      << r.queries_used << " t " << r.tokens_used << " +q " << r.extra_queries
      << " +t " << r.extra_tokens << " entries " << r.entries;
}
inline void PrintTo(const TranscriptEntry& r, std::ostream* os) {
  *os << "entry " << r.challenge_id << "/" << r.learner << "#" << r.index;
}
inline void PrintTo(const SubmissionRecord& r, std::ostream* os) {
  *os << "submission " << r.id << " " << r.challenge_id << "/" << r.learner
      << " err " << r.score.functional_rel_err;
}

namespace store_contract {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

inline constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
inline constexpr size_t kNoByteLimit = std::numeric_limits<size_t>::max();

// Bytes with NULs and high bits, as hashes and nonces are.
inline std::string Raw(const std::string& seed) {
  std::string out = seed;
  out.push_back('\0');
  out.push_back(static_cast<char>(0xff));
  out += seed;
  return out;
}

inline ChallengeRecord Challenge1(const std::string& id,
                                  Phase phase = Phase::kOpen) {
  return ChallengeRecord{id, "id: \"" + id + "\"\nspec { d_model: 4 }\n", phase,
                         Raw("nonce-" + id), 1'700'000'000'123};
}

inline LearnerRecord Learner1(const std::string& name,
                              Role role = Role::kLearner) {
  return LearnerRecord{name, Raw("hash-" + name), role, false, 42};
}

inline UsageRecord Usage1(const std::string& challenge,
                          const std::string& learner, uint64_t queries) {
  return UsageRecord{challenge, learner, queries, queries * 3,
                     5,         7,       queries, Raw("head-" + learner)};
}

inline TranscriptEntry Entry1(const std::string& challenge,
                              const std::string& learner, uint64_t index) {
  const std::string tag = absl::StrCat(challenge, learner, index);
  return TranscriptEntry{challenge,
                         learner,
                         index,
                         index * 2,
                         Raw("req-" + tag),
                         Raw("resp-" + tag),
                         Raw("rd-" + tag),
                         Raw("ad-" + tag),
                         Raw("chain-" + tag),
                         1000 + static_cast<int64_t>(index)};
}

inline SubmissionRecord Submission1(const std::string& challenge,
                                    const std::string& learner, double err) {
  SubmissionRecord r;
  r.challenge_id = challenge;
  r.learner = learner;
  r.score =
      Score{err, 2 * err, 64,    0.25, std::numeric_limits<double>::infinity(),
            9,   kMaxU64, 0.125, 1e300};
  r.score.sign_disagreement = 0.375;
  r.score.ffn_rel_err = 0.0625;
  r.created_ms = 77;
  return r;
}

// Fills a store with two of everything.
inline void Fill(Store& store) {
  ASSERT_TRUE(store.InsertChallenge(Challenge1("b-ch", Phase::kRevealed)).ok());
  ASSERT_TRUE(store.InsertChallenge(Challenge1("a-ch", Phase::kClosed)).ok());
  ASSERT_TRUE(store.InsertLearner(Learner1("bob")).ok());
  ASSERT_TRUE(store.InsertLearner(Learner1("alice", Role::kAdmin)).ok());
  const std::vector<UsageRecord> usage = {Usage1("a-ch", "bob", 2),
                                          Usage1("a-ch", "alice", 1)};
  const std::vector<TranscriptEntry> entries = {
      Entry1("a-ch", "bob", 0), Entry1("a-ch", "bob", 1),
      Entry1("a-ch", "alice", 0), Entry1("b-ch", "alice", 0)};
  ASSERT_TRUE(store.CommitCharges(usage, entries).ok());
  ASSERT_TRUE(store.InsertSubmission(Submission1("a-ch", "bob", 0.5)).ok());
  ASSERT_TRUE(store.InsertSubmission(Submission1("b-ch", "alice", 0.1)).ok());
}

// Everything Fill wrote, read back as Fill wrote it.
inline void ExpectFilled(Store& store) {
  absl::StatusOr<std::vector<ChallengeRecord>> challenges =
      store.LoadChallenges();
  ASSERT_TRUE(challenges.ok()) << challenges.status();
  EXPECT_THAT(*challenges, ElementsAre(Challenge1("a-ch", Phase::kClosed),
                                       Challenge1("b-ch", Phase::kRevealed)));

  absl::StatusOr<std::vector<LearnerRecord>> learners = store.LoadLearners();
  ASSERT_TRUE(learners.ok()) << learners.status();
  EXPECT_THAT(*learners,
              ElementsAre(Learner1("alice", Role::kAdmin), Learner1("bob")));

  absl::StatusOr<std::vector<UsageRecord>> usage = store.LoadUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_THAT(*usage, ElementsAre(Usage1("a-ch", "alice", 1),
                                  Usage1("a-ch", "bob", 2)));

  absl::StatusOr<std::vector<TranscriptEntry>> all =
      store.LoadTranscript("a-ch", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(*all,
              ElementsAre(Entry1("a-ch", "alice", 0), Entry1("a-ch", "bob", 0),
                          Entry1("a-ch", "bob", 1)));
  absl::StatusOr<std::vector<TranscriptEntry>> bobs =
      store.LoadTranscript("a-ch", "bob");
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_THAT(*bobs,
              ElementsAre(Entry1("a-ch", "bob", 0), Entry1("a-ch", "bob", 1)));
  absl::StatusOr<std::vector<TranscriptEntry>> none =
      store.LoadTranscript("b-ch", "bob");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());

  SubmissionRecord first = Submission1("a-ch", "bob", 0.5);
  first.id = 1;
  SubmissionRecord second = Submission1("b-ch", "alice", 0.1);
  second.id = 2;
  absl::StatusOr<std::vector<SubmissionRecord>> every =
      store.LoadSubmissions("");
  ASSERT_TRUE(every.ok()) << every.status();
  EXPECT_THAT(*every, ElementsAre(first, second));
  absl::StatusOr<std::vector<SubmissionRecord>> of_b =
      store.LoadSubmissions("b-ch");
  ASSERT_TRUE(of_b.ok()) << of_b.status();
  EXPECT_THAT(*of_b, ElementsAre(second));
}

// One implementation of the Store contract.
struct StoreCase {
  std::string name;
  std::function<std::unique_ptr<Store>()> open;
  // What a duplicate challenge id's message names.
  std::string duplicate_challenge;
};

class StoreTest : public ::testing::TestWithParam<StoreCase> {};

}  // namespace store_contract
}  // namespace attnoracle

#endif  // ATTNORACLE_TESTS_SERVER_STORE_CONTRACT_H_
