// OracleCore over a ChallengeRegistry and a MemoryLedger, without gRPC:
// answers, budget accounting, limits, and charging under concurrency.
#include "server/core/oracle_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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
#include "server/core/memory_ledger.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
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
                                      const std::string& learner,
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
  void SetUp() override { ASSERT_TRUE(registry_.Add(SmallChallenge()).ok()); }

  absl::StatusOr<QueryResult> Ask(const std::vector<Matrix>& sequences,
                                  const std::string& learner = "alice",
                                  const std::string& challenge = kSmall) {
    std::vector<Matrix> answers;
    return QueryCore(core_, learner, challenge, sequences, &answers);
  }

  Usage UsageOf(const std::string& learner = "alice") {
    absl::StatusOr<Usage> usage = core_.GetUsage(learner, kSmall);
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

  ChallengeRegistry registry_;
  MemoryLedger ledger_;
  OracleCore core_{&registry_, &ledger_};
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
  EXPECT_EQ(UsageOf("bob"), UsageAfter(0, 0));
  absl::StatusOr<QueryResult> r = Ask(Sequences({1}), "bob");
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
  absl::StatusOr<QueryResult> r = Ask(Sequences({1}), "alice", "nope");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(r.status()), HasSubstr("no challenge \"nope\""));
  EXPECT_EQ(core_.GetUsage("alice", "nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(core_.DescribeChallenge("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(UsageOf(), UsageAfter(0, 0));
}

TEST_F(OracleCoreTest, DescribesResolvedChallenges) {
  absl::StatusOr<ChallengeInfo> info = core_.DescribeChallenge(kSmall);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->spec.head_dim, kSmallDModel);
  EXPECT_EQ(info->policy.limits, kSmallLimits);
  EXPECT_EQ(info->phase, Phase::kOpen);
  ASSERT_EQ(core_.ListChallenges().size(), 1u);
  EXPECT_EQ(core_.ListChallenges()[0].id, kSmall);
}

TEST_F(OracleCoreTest, RegistryRejectsDuplicatesAndBadConfigs) {
  const absl::Status duplicate = registry_.Add(SmallChallenge());
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(duplicate), HasSubstr("\"small\" already exists"));
  ChallengeConfig bad = SmallChallenge();
  bad.id = "bad";
  bad.spec.d_model = 0;
  const absl::Status invalid = registry_.Add(bad);
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(invalid), HasSubstr("spec.d_model"));
}

// Every built-in challenge answers exactly the hidden layer's output after
// the declared degradation, keyed by the learner's query index.
TEST(OracleCoreAnswersTest, EqualTheHiddenLayerDegradedByPolicy) {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(DefaultChallengeSetText(), "built-in");
  ASSERT_TRUE(set.ok()) << set.status();
  ChallengeRegistry registry;
  MemoryLedger ledger;
  OracleCore core(&registry, &ledger);
  for (const ChallengeConfig& c : *set) ASSERT_TRUE(registry.Add(c).ok());
  Rng rng(21);
  for (const auto& challenge : registry.List()) {
    SCOPED_TRACE(challenge->config.id);
    const LayerSpec& spec = challenge->config.spec;
    const std::vector<Matrix> x = {RandomMatrix(rng, 3, spec.d_model),
                                   RandomMatrix(rng, 5, spec.d_model)};
    for (int round = 0; round < 2; ++round) {
      std::vector<Matrix> y;
      absl::StatusOr<QueryResult> r =
          QueryCore(core, "alice", challenge->config.id, x, &y);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->first_query_index, 2u * round);
      for (size_t i = 0; i < x.size(); ++i) {
        Matrix expected = Forward(spec, challenge->secret, x[i]);
        DegradeAnswer(challenge->config.policy, challenge->noise_seed,
                      r->first_query_index + i, expected);
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
                                          const std::string& learner,
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
  ChallengeRegistry registry;
  MemoryLedger ledger;
  OracleCore core(&registry, &ledger);
  ChallengeConfig race = SmallChallenge();
  race.id = kRace;
  race.policy.budget = kRaceBudget;
  ASSERT_TRUE(registry.Add(race).ok());

  std::latch start(kRacingThreads);
  std::vector<std::vector<Answered>> per_thread(kRacingThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kRacingThreads; ++t) {
    threads.emplace_back(
        [&, t] { per_thread[t] = SpendUntilExhausted(core, "alice", start); });
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
  absl::StatusOr<Usage> usage = core.GetUsage("alice", kRace);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used, kRaceBudget.queries);
  EXPECT_EQ(usage->tokens_used, kRaceBudget.queries);
  EXPECT_EQ(usage->queries_left, 0u);
}

// The ledger alone, so the threads spend nearly all their time in Charge.
TEST(MemoryLedgerConcurrencyTest, RacingChargesSpendExactlyTheBudget) {
  constexpr Budget kBudget{.queries = 1'000'000, .tokens = 2'000'000};
  MemoryLedger ledger;
  const LedgerKey key{kRace, "alice"};
  std::latch start(kRacingThreads);
  std::vector<uint64_t> charged(kRacingThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kRacingThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      while (ledger.Charge(key, kBudget, 1, 2).ok()) ++charged[t];
    });
  }
  for (std::thread& t : threads) t.join();
  uint64_t total = 0;
  for (uint64_t c : charged) total += c;
  EXPECT_EQ(total, kBudget.queries);
  absl::StatusOr<Usage> usage = ledger.GetUsage(key, kBudget);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(*usage, (Usage{kBudget.queries, kBudget.tokens, 0, 0}));
}

}  // namespace
}  // namespace attnoracle
