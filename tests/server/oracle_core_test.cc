// OracleCore over a ChallengeRegistry, a Ledger and an Authenticator on an
// in-memory SqliteStore, without gRPC: answers, budget accounting, limits,
// feedback, and charging under concurrency.
#include "server/core/oracle_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/access_policy.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "server/core/challenge_registry.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::Anonymous;
using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::LearnerPrincipal;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

constexpr char kSmall[] = "small";
constexpr int kSmallDModel = 2;
constexpr Budget kSmallBudget{.queries = 10, .tokens = 30};
constexpr Limits kSmallLimits{.max_abs_input = 10,
                              .max_tokens_per_sequence = 5,
                              .max_sequences_per_request = 4,
                              .max_tokens_per_request = 12};

ChallengeConfig SmallChallenge() {
  ChallengeConfig c;
  c.id = kSmall;
  c.spec = {.d_model = kSmallDModel};
  c.prior.seed = 99;
  c.policy.budget = kSmallBudget;
  c.policy.limits = kSmallLimits;
  return c;
}

// Sequences of the given lengths, tokens of width kSmallDModel, |x| <= 1.
std::vector<Matrix> Sequences(const std::vector<int>& lengths) {
  Rng rng(lengths.size());
  std::vector<Matrix> out;
  for (int n : lengths) out.push_back(RandomMatrix(rng, n, kSmallDModel));
  return out;
}

Usage UsageAfter(uint64_t queries, uint64_t tokens,
                 const Budget& budget = kSmallBudget) {
  return Usage{queries, tokens, budget.queries - queries,
               budget.tokens - tokens};
}

// Answers `sequences` for `learner`; the answers land in *outputs.
absl::StatusOr<QueryResult> QueryCore(OracleCore& core,
                                      const Principal& learner,
                                      const std::string& challenge,
                                      const std::vector<Matrix>& sequences,
                                      std::vector<Matrix>* outputs) {
  std::vector<ConstMatrixMap> maps;
  for (const Matrix& x : sequences) {
    maps.emplace_back(x.data(), x.rows(), x.cols());
  }
  outputs->assign(sequences.size(), Matrix());
  return core.Query(learner, challenge, maps,
                    [outputs](size_t i, int rows, int cols) {
                      (*outputs)[i].resize(rows, cols);
                      return MatrixMap((*outputs)[i].data(), rows, cols);
                    });
}

class OracleCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.registry.Create(SmallChallenge()).ok());
  }

  absl::StatusOr<QueryResult> Ask(const std::vector<Matrix>& sequences,
                                  const Principal& learner = Anonymous(),
                                  const std::string& challenge = kSmall) {
    std::vector<Matrix> answers;
    return QueryCore(h_.core, learner, challenge, sequences, &answers);
  }

  Usage UsageOf(const Principal& learner = Anonymous()) {
    absl::StatusOr<Usage> usage = h_.core.GetUsage(learner, kSmall);
    EXPECT_TRUE(usage.ok()) << usage.status();
    return usage.value_or(Usage{});
  }

  void ExpectCharged(const std::vector<int>& lengths, const Usage& after,
                     uint64_t first_query_index) {
    SCOPED_TRACE(testing::Message()
                 << "request of " << lengths.size() << " sequences");
    absl::StatusOr<QueryResult> r = Ask(Sequences(lengths));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->usage, after);
    EXPECT_EQ(r->first_query_index, first_query_index);
    EXPECT_EQ(UsageOf(), after);
  }

  void ExpectExhausted(const std::vector<int>& lengths) {
    const Usage before = UsageOf();
    absl::StatusOr<QueryResult> r = Ask(Sequences(lengths));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("budget exhausted"));
    EXPECT_EQ(UsageOf(), before);
  }

  CoreHarness h_;
};

TEST_F(OracleCoreTest, FreshLearnerHasTheWholeBudget) {
  EXPECT_EQ(UsageOf(), UsageAfter(0, 0));
}

TEST_F(OracleCoreTest, TokenBudgetIsChargedExactly) {
  ExpectCharged({3}, UsageAfter(1, 3), 0);
  ExpectCharged({2, 5}, UsageAfter(3, 10), 1);
  ExpectCharged({4, 4, 4}, UsageAfter(6, 22), 3);
  ExpectExhausted({5, 4});  // 31 tokens > 30
  ExpectCharged({4, 4}, UsageAfter(8, 30), 6);
  ExpectExhausted({1});
  EXPECT_EQ(UsageOf(), UsageAfter(8, 30));
}

TEST_F(OracleCoreTest, QueryBudgetIsChargedExactly) {
  ExpectCharged({1, 1, 1, 1}, UsageAfter(4, 4), 0);
  ExpectCharged({1, 1, 1, 1}, UsageAfter(8, 8), 4);
  ExpectExhausted({1, 1, 1});  // 11 queries > 10
  ExpectCharged({1, 1}, UsageAfter(10, 10), 8);
  ExpectExhausted({1});
}

TEST_F(OracleCoreTest, LearnersHaveSeparateBudgets) {
  ExpectCharged({5, 5}, UsageAfter(2, 10), 0);
  EXPECT_EQ(UsageOf(LearnerPrincipal("bob")), UsageAfter(0, 0));
  absl::StatusOr<QueryResult> r = Ask(Sequences({1}), LearnerPrincipal("bob"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->usage, UsageAfter(1, 1));
  EXPECT_EQ(r->first_query_index, 0u);
  EXPECT_EQ(UsageOf(), UsageAfter(2, 10));
}

TEST_F(OracleCoreTest, RequestAtEveryLimitIsAnswered) {
  std::vector<Matrix> at_limits = Sequences({3, 3, 3, 3});
  at_limits[0](0, 0) = kSmallLimits.max_abs_input;
  at_limits[3](2, 1) = -kSmallLimits.max_abs_input;
  absl::StatusOr<QueryResult> r = Ask(at_limits);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->usage, UsageAfter(4, 12));
}

struct BadRequest {
  std::string name;
  std::vector<Matrix> sequences;
  std::vector<std::string> message_parts;
};

void PrintTo(const BadRequest& v, std::ostream* os) { *os << v.name; }

// Good sequences of the given lengths with one entry replaced.
std::vector<Matrix> WithEntry(const std::vector<int>& lengths, size_t seq,
                              int token, int col, double value) {
  std::vector<Matrix> s = Sequences(lengths);
  s[seq](token, col) = value;
  return s;
}

std::vector<BadRequest> BadRequests() {
  std::vector<Matrix> wrong_width = Sequences({1, 2});
  wrong_width[1] = Matrix::Zero(2, 3);
  std::vector<Matrix> empty_sequence = Sequences({1, 1});
  empty_sequence[1] = Matrix(0, kSmallDModel);
  return {
      {"NoSequences", {}, {"the request has no sequences"}},
      {"WrongWidth", wrong_width, {"sequences[1]", "width 3", "d_model = 2"}},
      {"EmptySequence", empty_sequence, {"sequences[1]", "no tokens"}},
      {"TooManyTokensInASequence",
       Sequences({1, 6}),
       {"sequences[1] has 6 tokens", "max_tokens_per_sequence"}},
      {"TooManySequences",
       Sequences({1, 1, 1, 1, 1}),
       {"5 sequences", "max_sequences_per_request"}},
      {"TooManyTokensInTheRequest",
       Sequences({4, 4, 4, 1}),
       {"13 tokens", "max_tokens_per_request"}},
      {"TooLarge",
       WithEntry({1, 1, 2}, 2, 1, 0, 10.5),
       {"sequences[2] token 1 entry 0", "max_abs_input"}},
      {"TooLargeNegative",
       WithEntry({2}, 0, 0, 1, -11),
       {"sequences[0] token 0 entry 1", "max_abs_input"}},
      {"NaN",
       WithEntry({1, 2}, 1, 1, 1, kNaN),
       {"sequences[1] token 1 entry 1", "not finite"}},
      {"Inf",
       WithEntry({3}, 0, 2, 0, kInf),
       {"sequences[0] token 2 entry 0", "not finite"}},
      {"MinusInf",
       WithEntry({3}, 0, 0, 0, -kInf),
       {"sequences[0] token 0 entry 0", "not finite"}},
  };
}

class OracleCoreRejects : public OracleCoreTest,
                          public ::testing::WithParamInterface<BadRequest> {};

TEST_P(OracleCoreRejects, ChargingNothing) {
  ExpectCharged({1}, UsageAfter(1, 1), 0);
  absl::StatusOr<QueryResult> r = Ask(GetParam().sequences);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& part : GetParam().message_parts) {
    EXPECT_THAT(MessageOf(r.status()), HasSubstr(part));
  }
  EXPECT_EQ(UsageOf(), UsageAfter(1, 1));
  ExpectCharged({2}, UsageAfter(2, 3), 1);
}

INSTANTIATE_TEST_SUITE_P(BadRequests, OracleCoreRejects,
                         ::testing::ValuesIn(BadRequests()),
                         [](const ::testing::TestParamInfo<BadRequest>& info) {
                           return info.param.name;
                         });

TEST_F(OracleCoreTest, UnknownChallengeIsNotFound) {
  absl::StatusOr<QueryResult> r = Ask(Sequences({1}), Anonymous(), "nope");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("no challenge \"nope\""));
  EXPECT_EQ(h_.core.GetUsage(Anonymous(), "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(h_.core.DescribeChallenge(Anonymous(), "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(UsageOf(), UsageAfter(0, 0));
}

TEST_F(OracleCoreTest, DescribesResolvedChallenges) {
  absl::StatusOr<ChallengeInfo> info =
      h_.core.DescribeChallenge(Anonymous(), kSmall);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->spec.head_dim, kSmallDModel);
  EXPECT_EQ(info->policy.limits, kSmallLimits);
  EXPECT_EQ(info->phase, Phase::kOpen);
  ASSERT_EQ(h_.core.ListChallenges(Anonymous()).size(), 1u);
  EXPECT_EQ(h_.core.ListChallenges(Anonymous())[0].id, kSmall);
}

TEST_F(OracleCoreTest, RegistryRejectsDuplicatesAndBadConfigs) {
  const absl::Status duplicate = h_.registry.Create(SmallChallenge()).status();
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(duplicate), HasSubstr("\"small\" already exists"));
  ChallengeConfig bad = SmallChallenge();
  bad.id = "bad";
  bad.spec.d_model = 0;
  const absl::Status invalid = h_.registry.Create(bad).status();
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(invalid), HasSubstr("spec.d_model"));
}

// Every built-in challenge answers exactly the hidden layer's output after
// the declared degradation, keyed by the learner's query index.
TEST(OracleCoreAnswersTest, EqualTheHiddenLayerDegradedByPolicy) {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(DefaultChallengeSetText(), "built-in");
  ASSERT_TRUE(set.ok()) << set.status();
  CoreHarness h;
  for (const ChallengeConfig& c : *set) {
    ASSERT_TRUE(h.registry.Create(c).ok());
  }
  Rng rng(21);
  for (const auto& challenge : h.registry.List()) {
    SCOPED_TRACE(challenge->id());
    const LayerSpec& spec = challenge->config().spec;
    const std::shared_ptr<const Secret> secret =
        challenge->SecretFor(kAnonymousLearner);
    const AccessPolicy& policy = challenge->config().policy;
    const uint64_t noise_seed = challenge->NoiseSeedFor(kAnonymousLearner);
    const std::vector<Matrix> x = {RandomMatrix(rng, 3, spec.d_model),
                                   RandomMatrix(rng, 5, spec.d_model)};
    for (int round = 0; round < 2; ++round) {
      if (!AllowsQueries(policy)) {
        // Examples only: its samples are answered the same way.
        absl::StatusOr<SampleResult> r =
            h.core.Sample(Anonymous(), challenge->id(), 2, 0);
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_EQ(r->first_query_index, 2u * round);
        for (size_t i = 0; i < r->inputs.size(); ++i) {
          Matrix expected = Forward(spec, secret->params, r->inputs[i]);
          DegradeAnswer(policy, noise_seed, r->first_query_index + i, expected);
          EXPECT_TRUE(BitwiseEqual(r->outputs[i], expected)) << "example " << i;
        }
        continue;
      }
      std::vector<Matrix> y;
      absl::StatusOr<QueryResult> r =
          QueryCore(h.core, Anonymous(), challenge->id(), x, &y);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->first_query_index, 2u * round);
      for (size_t i = 0; i < x.size(); ++i) {
        Matrix expected = Forward(spec, secret->params, x[i]);
        DegradeAnswer(policy, noise_seed, r->first_query_index + i, expected);
        if (policy.answers == Answers::kTopK) {
          Matrix pairs(expected.rows(), 2 * policy.top_k);
          TopKInto(expected, policy.top_k, pairs);
          expected = pairs;
        } else {
          ApplyAnswerForm(policy, expected);
        }
        EXPECT_TRUE(BitwiseEqual(y[i], expected)) << "sequence " << i;
      }
    }
  }
}

constexpr int kRacingThreads = 8;
constexpr char kRace[] = "race";
constexpr Budget kRaceBudget{.queries = 2'000, .tokens = 1'000'000};

struct Answered {
  uint64_t first_query_index;
  uint64_t sequences;
};

// Asks for 3 then 1 sequences in turn until even one no longer fits.
std::vector<Answered> SpendUntilExhausted(OracleCore& core,
                                          const Principal& learner,
                                          std::latch& start) {
  const std::vector<Matrix> one = Sequences({1}), three = Sequences({1, 1, 1});
  std::vector<Answered> answered;
  start.arrive_and_wait();
  for (int round = 0;; ++round) {
    const std::vector<Matrix>& batch = round % 2 == 0 ? three : one;
    std::vector<Matrix> y;
    absl::StatusOr<QueryResult> r = QueryCore(core, learner, kRace, batch, &y);
    if (r.ok()) {
      answered.push_back({r->first_query_index, batch.size()});
    } else if (r.status().code() != absl::StatusCode::kResourceExhausted) {
      ADD_FAILURE() << r.status();
      break;
    } else if (batch.size() == 1) {
      break;
    }
  }
  return answered;
}

TEST(OracleCoreConcurrencyTest, RacingThreadsSpendExactlyTheBudget) {
  CoreHarness h;
  ChallengeConfig race = SmallChallenge();
  race.id = kRace;
  race.policy.budget = kRaceBudget;
  ASSERT_TRUE(h.registry.Create(race).ok());

  std::latch start(kRacingThreads);
  std::vector<std::vector<Answered>> per_thread(kRacingThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kRacingThreads; ++t) {
    threads.emplace_back([&, t] {
      per_thread[t] = SpendUntilExhausted(h.core, Anonymous(), start);
    });
  }
  for (std::thread& t : threads) t.join();

  std::vector<Answered> all;
  for (const auto& answered : per_thread) {
    all.insert(all.end(), answered.begin(), answered.end());
  }
  std::sort(all.begin(), all.end(), [](const Answered& a, const Answered& b) {
    return a.first_query_index < b.first_query_index;
  });
  // The answered requests tile [0, budget) without gap or overlap.
  uint64_t next = 0;
  for (const Answered& a : all) {
    EXPECT_EQ(a.first_query_index, next);
    next = a.first_query_index + a.sequences;
  }
  EXPECT_EQ(next, kRaceBudget.queries);
  // One transcript entry per answered request, numbered without gaps.
  absl::StatusOr<std::vector<TranscriptEntry>> transcript =
      h.store.LoadTranscript(kRace, kAnonymousLearner);
  ASSERT_TRUE(transcript.ok()) << transcript.status();
  ASSERT_EQ(transcript->size(), all.size());
  for (size_t i = 0; i < transcript->size(); ++i) {
    EXPECT_EQ((*transcript)[i].index, i);
  }
  absl::StatusOr<Usage> usage = h.core.GetUsage(Anonymous(), kRace);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used, kRaceBudget.queries);
  EXPECT_EQ(usage->tokens_used, kRaceBudget.queries);
  EXPECT_EQ(usage->queries_left, 0u);
}

// Closing waits for the queries under way: once SetPhase(closed) has
// returned, no further answer is committed, however many queries race it.
TEST(OracleCoreConcurrencyTest, NothingIsAnsweredAfterClosingReturns) {
  CoreHarness h;
  ChallengeConfig race = SmallChallenge();
  race.id = kRace;
  race.policy.budget = kRaceBudget;
  ASSERT_TRUE(h.registry.Create(race).ok());
  std::latch start(kRacingThreads + 1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kRacingThreads; ++t) {
    threads.emplace_back([&] {
      const std::vector<Matrix> one = Sequences({1});
      start.arrive_and_wait();
      while (!stop.load()) {
        std::vector<Matrix> y;
        absl::StatusOr<QueryResult> r =
            QueryCore(h.core, Anonymous(), kRace, one, &y);
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
              << r.status();
          return;
        }
      }
    });
  }
  start.arrive_and_wait();
  // Let the racers answer some queries first.
  while (h.core.GetUsage(Anonymous(), kRace)->queries_used < 200) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(h.registry.SetPhase(kRace, Phase::kClosed).ok());
  const size_t at_close = h.store.LoadTranscript(kRace, "")->size();
  stop.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(h.store.LoadTranscript(kRace, "")->size(), at_close);
}

// No answer without a durable charge: when the store fails, the query is
// refused, and so is every later one.
TEST_F(OracleCoreTest, StoreFailureRefusesTheAnswer) {
  ExpectCharged({1}, UsageAfter(1, 1), 0);
  h_.store.fail = true;
  absl::StatusOr<QueryResult> r = Ask(Sequences({2}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("store failed"));
  h_.store.fail = false;
  absl::StatusOr<QueryResult> later = Ask(Sequences({1}));
  EXPECT_EQ(later.status().code(), absl::StatusCode::kUnavailable);
  // The refused request stays charged (it may have been computed), and the
  // store holds only the one answered entry.
  EXPECT_EQ(UsageOf().queries_used, 3u);
  EXPECT_EQ(h_.sqlite->LoadTranscript(kSmall, kAnonymousLearner)->size(), 1u);
}

// Bytes of entries as GetTranscript counts them against
// kMaxTranscriptPageBytes.
size_t PageBytes(const std::vector<TranscriptEntry>& entries) {
  size_t bytes = 0;
  for (const TranscriptEntry& e : entries) {
    bytes += e.request.size() + e.response.size() + e.request_digest.size() +
             e.response_digest.size() + e.chain_hash.size() + e.learner.size() +
             64;
  }
  return bytes;
}

TEST(OracleCoreTranscriptTest, PagesStopAtTheByteCapAndPageThroughAll) {
  // Entries of one 64-token sequence of width 64: about 64 KiB each (the
  // request and the answer), so 40 of them are over the 2 MiB cap.
  constexpr int kWidth = 64;
  constexpr int kTokens = 64;
  constexpr uint64_t kEntries = 40;
  CoreHarness h;
  ChallengeConfig c;
  c.id = "wide";
  c.spec = {.d_model = kWidth};
  c.prior.seed = 5;
  c.policy.budget = {.queries = 1000, .tokens = 1'000'000};
  c.policy.limits = {.max_abs_input = 10,
                     .max_tokens_per_sequence = 1000,
                     .max_sequences_per_request = 4,
                     .max_tokens_per_request = 1000};
  ASSERT_TRUE(h.registry.Create(c).ok());
  Rng rng(3);
  for (uint64_t k = 0; k < kEntries; ++k) {
    std::vector<Matrix> y;
    ASSERT_TRUE(QueryCore(h.core, Anonymous(), c.id,
                          {RandomMatrix(rng, kTokens, kWidth)}, &y)
                    .ok());
  }
  absl::StatusOr<TranscriptPage> first =
      h.core.GetTranscript(Anonymous(), c.id, 0, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->total_entries, kEntries);
  ASSERT_GT(first->entries.size(), 1u);
  ASSERT_LT(first->entries.size(), kEntries);
  EXPECT_LE(PageBytes(first->entries), kMaxTranscriptPageBytes);
  // It stopped because the next entry would not fit, not earlier.
  absl::StatusOr<TranscriptPage> one =
      h.core.GetTranscript(Anonymous(), c.id, first->entries.size(), 1);
  ASSERT_TRUE(one.ok()) << one.status();
  std::vector<TranscriptEntry> longer = first->entries;
  longer.push_back(one->entries.at(0));
  EXPECT_GT(PageBytes(longer), kMaxTranscriptPageBytes);

  // Asking from the index after each page's last entry gets every entry
  // once, in order.
  uint64_t next = 0;
  while (next < kEntries) {
    absl::StatusOr<TranscriptPage> page =
        h.core.GetTranscript(Anonymous(), c.id, next, 0);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_FALSE(page->entries.empty()) << next;
    for (const TranscriptEntry& e : page->entries) EXPECT_EQ(e.index, next++);
  }
  EXPECT_EQ(next, kEntries);
}

TEST(OracleCoreTranscriptTest, AnEntryOverTheCapComesAlone) {
  // One 700-token sequence of width 256 is about 2.7 MiB of request and
  // answer: a page holds it alone, so paging still moves on.
  constexpr int kWidth = 256;
  constexpr int kTokens = 700;
  CoreHarness h;
  ChallengeConfig c;
  c.id = "huge";
  c.spec = {.d_model = kWidth};
  c.prior.seed = 6;
  c.policy.budget = {.queries = 10, .tokens = 10'000};
  c.policy.limits = {.max_abs_input = 10,
                     .max_tokens_per_sequence = kTokens,
                     .max_sequences_per_request = 1,
                     .max_tokens_per_request = kTokens};
  ASSERT_TRUE(h.registry.Create(c).ok());
  Rng rng(4);
  for (int k = 0; k < 2; ++k) {
    std::vector<Matrix> y;
    ASSERT_TRUE(QueryCore(h.core, Anonymous(), c.id,
                          {RandomMatrix(rng, kTokens, kWidth)}, &y)
                    .ok());
  }
  for (uint64_t first = 0; first < 2; ++first) {
    absl::StatusOr<TranscriptPage> page =
        h.core.GetTranscript(Anonymous(), c.id, first, 0);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->entries.size(), 1u);
    EXPECT_EQ(page->entries[0].index, first);
    EXPECT_GT(PageBytes(page->entries), kMaxTranscriptPageBytes);
  }
}

TEST(ApplyFeedbackTest, ShowsWhatTheScoringAllows) {
  const Score full{.functional_rel_err = 0.012345,
                   .max_abs_err = 3.456e-7,
                   .bits = 21.4,
                   .theta_rel_err = 987.6,
                   .omega_rel_err = 0,
                   .queries_used = 3,
                   .tokens_used = 17,
                   .queries_to_bound = 0,
                   .tokens_to_bound = 0.53,
                   .passed = true};
  const Score same = ApplyFeedback(full, Scoring{.feedback = Feedback::kFull});
  EXPECT_EQ(same.functional_rel_err, full.functional_rel_err);
  EXPECT_EQ(same.bits, full.bits);
  EXPECT_EQ(same.feedback, Feedback::kFull);

  const Score rounded =
      ApplyFeedback(full, Scoring{.feedback = Feedback::kRounded});
  EXPECT_DOUBLE_EQ(rounded.functional_rel_err, 0.012);
  EXPECT_DOUBLE_EQ(rounded.max_abs_err, 3.5e-7);
  EXPECT_DOUBLE_EQ(rounded.theta_rel_err, 990);
  EXPECT_EQ(rounded.omega_rel_err, 0);
  EXPECT_EQ(rounded.bits, 21);
  EXPECT_EQ(rounded.tokens_used, 17u);
  EXPECT_EQ(rounded.feedback, Feedback::kRounded);

  const Score pass_fail =
      ApplyFeedback(full, Scoring{.feedback = Feedback::kPassFail});
  EXPECT_EQ(pass_fail.functional_rel_err, 0);
  EXPECT_EQ(pass_fail.max_abs_err, 0);
  EXPECT_EQ(pass_fail.bits, 0);
  EXPECT_EQ(pass_fail.theta_rel_err, 0);
  EXPECT_TRUE(pass_fail.passed);
  EXPECT_EQ(pass_fail.queries_used, 3u);
  EXPECT_EQ(pass_fail.tokens_used, 17u);
  EXPECT_EQ(pass_fail.feedback, Feedback::kPassFail);
}

}  // namespace
}  // namespace attnoracle
