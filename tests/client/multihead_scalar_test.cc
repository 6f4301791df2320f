// LearnMultiheadScalar against in-process layers (no network): recovery with
// exactly 4 H d^2 - 2H + 1 queries of at most 2H + 1 tokens on the built-in
// multihead-scalar-d8-h2 and on random instances of other H and d, and
// refusal, before anything is spent, of what it cannot solve or afford.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/challenge_config.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

constexpr double kTargetRelErr = 1e-8;

uint64_t KimCount(int d, int heads) {
  return 4 * heads * d * d - 2 * heads + 1;
}

LocalOracle BuiltInOracle(const ChallengeInfo& raw, const LayerParams& secret,
                          uint64_t seed) {
  ChallengeInfo info = raw;
  info.spec = *ResolveSpec(raw.spec);
  info.policy = *ResolvePolicy(raw.policy);
  return LocalOracle(info, secret, seed);
}

void ExpectRecovered(LocalOracle& oracle, uint64_t seed) {
  const LayerSpec& spec = oracle.info().spec;
  std::ostringstream progress;
  LearnOptions options;
  options.seed = seed;
  options.progress = &progress;
  absl::StatusOr<LearnResult> result = LearnMultiheadScalar(oracle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(FunctionalError(oracle, result->hypothesis), kTargetRelErr)
      << progress.str();
  EXPECT_EQ(oracle.usage().queries_used, KimCount(spec.d_model, spec.heads));
  ASSERT_EQ(result->curve.size(), 2u);
  EXPECT_EQ(result->curve.back().queries, KimCount(spec.d_model, spec.heads));
  EXPECT_LE(result->curve.back().est_functional_rel_err, kTargetRelErr);
}

TEST(MultiheadScalarTest, RecoversTheBuiltInChallengeAtKimsCount) {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(DefaultChallengeSetText(), "built-in");
  ASSERT_TRUE(set.ok()) << set.status();
  for (const ChallengeConfig& c : *set) {
    if (c.id != "multihead-scalar-d8-h2") continue;
    ChallengeInfo info;
    info.id = c.id;
    info.spec = c.spec;
    info.policy = c.policy;
    const LayerParams secret = DrawSecret(c.spec, c.prior);
    LocalOracle oracle = BuiltInOracle(info, secret, c.prior.seed);
    ExpectRecovered(oracle, 1);
    EXPECT_EQ(oracle.usage().queries_used, 509u);
    return;
  }
  FAIL() << "no built-in multihead-scalar-d8-h2";
}

class MultiheadScalarRandomTest
    : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(MultiheadScalarRandomTest, RecoversAtKimsCount) {
  const auto& [d, heads, seed] = GetParam();
  LocalOracle oracle = MakeOracle(ScalarHeadsSpec(d, heads), {}, seed);
  ExpectRecovered(oracle, seed);
  // No sequence is longer than 2H + 1 tokens: the tokens spent are those
  // of 2H queries of 2 .. 2H + 1 tokens per pair, plus the one-token anchor.
  const uint64_t pairs = 2 * d * d - 1;
  EXPECT_EQ(oracle.usage().tokens_used,
            1 + pairs * (2 * heads) * (2 * heads + 3) / 2);
}

INSTANTIATE_TEST_SUITE_P(Sizes, MultiheadScalarRandomTest,
                         ::testing::Combine(::testing::Values(4, 6, 8),
                                            ::testing::Values(2),
                                            ::testing::Values(1, 2, 3, 4)));

// H = 3 on d in {4, 6, 8} x seeds 1-4, since round 2 chooses half of each
// point's deltas from the other half's answers, and in the portable clang
// build of the sanitizer suite too (no FMA; d = 8 seed 3 missed there at
// 1.39 before the joint fits of docs/REPRODUCTION.md).
INSTANTIATE_TEST_SUITE_P(ThreeHeads, MultiheadScalarRandomTest,
                         ::testing::Combine(::testing::Values(4, 6, 8),
                                            ::testing::Values(3),
                                            ::testing::Values(1, 2, 3, 4)));
// The instances a wider sweep (seeds 5-12) found missing while round 1
// and each round-2 point were fitted pair by pair: d = 4 seed 10 (round 1
// mislabelled, 3e1), d = 6 seed 10 (a flat valley, 3.6e-7) and d = 6 seed
// 11 (a direction of round 1 with no labelled pair; the run stopped); and
// d = 6 seed 6, which missed in the portable build (2.2e-3) while round 1
// started an unlabelled direction from its single pair's points alone.
using Instance = std::tuple<int, int, uint64_t>;
INSTANTIATE_TEST_SUITE_P(ThreeHeadsFormerMisses, MultiheadScalarRandomTest,
                         ::testing::Values(Instance{4, 3, 10},
                                           Instance{6, 3, 10},
                                           Instance{6, 3, 11},
                                           Instance{6, 3, 6}));

// The secret of scripts/reproduce.py's repro-multihead-d6-h3 (prior seed
// 9306), learnt with the script's --seed 1.
TEST(MultiheadScalarTest, RecoversTheReproductionsThreeHeadInstance) {
  LocalOracle oracle = MakeOracle(ScalarHeadsSpec(6, 3), {}, 9306);
  ExpectRecovered(oracle, 1);
}

TEST(MultiheadScalarRefusalTest, RefusesWhatItCannotSolveBeforeSpending) {
  std::vector<RefusalCase> cases = ScalarReadoutRefusals(ScalarHeadsSpec(4, 2));
  cases.push_back({"four heads", ScalarHeadsSpec(4, 4), {}, "spec.heads"});
  ExpectRefusesAll(LearnMultiheadScalar, cases);
}

TEST(MultiheadScalarRefusalTest, RefusesUpFrontWhenTheCapCannotCoverIt) {
  LearnOptions options;
  options.max_queries = 508;
  ExpectRefused("multihead-scalar", ScalarHeadsSpec(8, 2), {},
                absl::StatusCode::kResourceExhausted, "509 queries", options);
}

}  // namespace
}  // namespace attnoracle
