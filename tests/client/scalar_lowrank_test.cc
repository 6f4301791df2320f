// LearnScalarLowRank against in-process layers (no network): recovery at
// exactly twice the counting bound on random low-rank heads of two sizes and
// several seeds, and refusal, before anything is spent, of what it cannot
// solve or afford.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <tuple>
#include <vector>

#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

constexpr double kTargetRelErr = 1e-10;

LayerSpec ScalarSpec(int d, int r) {
  return LayerSpec{.d_model = d,
                   .heads = 1,
                   .head_dim = r,
                   .out_dim = 1,
                   .readout = Readout::kLast};
}

class ScalarLowRankTest
    : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(ScalarLowRankTest, RecoversAtTwiceTheCountingBound) {
  const auto& [d, r, seed] = GetParam();
  LocalOracle oracle = MakeOracle(ScalarSpec(d, r), AccessPolicy{}, seed);
  std::ostringstream progress;
  LearnOptions options;
  options.seed = seed;
  options.progress = &progress;
  absl::StatusOr<LearnResult> result = LearnScalarLowRank(oracle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(FunctionalError(oracle, result->hypothesis), kTargetRelErr)
      << progress.str();
  const uint64_t bound = r * (2 * d - r) + d;
  EXPECT_EQ(oracle.usage().queries_used, 2 * bound);
  // d one-token queries, the rest two tokens each.
  EXPECT_EQ(oracle.usage().tokens_used, d + 2 * (2 * bound - d));
  ASSERT_EQ(result->curve.size(), 2u);
  EXPECT_EQ(result->curve.back().queries, 2 * bound);
  EXPECT_LE(result->curve.back().est_functional_rel_err, kTargetRelErr);
  EXPECT_THAT(progress.str(), HasSubstr("scalar-lowrank: round 2"));
}

INSTANTIATE_TEST_SUITE_P(Sizes, ScalarLowRankTest,
                         ::testing::Combine(::testing::Values(16, 32),
                                            ::testing::Values(1, 2, 4),
                                            ::testing::Values(1, 2, 3)));

TEST(ScalarLowRankRefusalTest, RefusesWhatItCannotSolveBeforeSpending) {
  AccessPolicy noisy;
  noisy.noise_sigma = 0.01;
  AccessPolicy signs;
  signs.answers = Answers::kSign;
  LayerSpec two_heads = ScalarSpec(8, 2);
  two_heads.heads = 2;
  LayerSpec full = ScalarSpec(8, 8);
  LayerSpec all_rows = ScalarSpec(8, 2);
  all_rows.readout = Readout::kAll;
  LayerSpec biased = ScalarSpec(8, 2);
  biased.biases = true;
  ExpectRefusesAll(LearnScalarLowRank,
                   {
                       {"two heads", two_heads, {}, "spec.heads"},
                       {"full rank", full, {}, "spec.head_dim"},
                       {"every position", all_rows, {}, "spec.readout"},
                       {"biases", biased, {}, "spec.biases"},
                       {"noise", ScalarSpec(8, 2), noisy, "policy.noise_sigma"},
                       {"signs", ScalarSpec(8, 2), signs, "policy.answers"},
                   });
}

TEST(ScalarLowRankRefusalTest, RefusesUpFrontWhenTheCapCannotCoverTheDesign) {
  LocalOracle oracle = MakeOracle(ScalarSpec(32, 2), AccessPolicy{}, 1);
  LearnOptions options;
  options.max_queries = 311;  // the design needs 312
  absl::StatusOr<LearnResult> r = RunLearner("scalar-lowrank", oracle, options);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("312 queries"));
  EXPECT_EQ(oracle.usage().queries_used, 0u);
}

}  // namespace
}  // namespace attnoracle
