// LearnHeadsPencil against in-process layers (no network): two heads with
// full output recovered at the design's count (1.58x the counting bound on
// two-head-d16, under the goal of 2x) on every secret of the two-head-d16
// sweep and on other widths, and refusal, before anything is spent, of what
// it cannot solve or afford.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

constexpr double kTargetRelErr = 1e-8;

// Two heads with full output: value widths d / 2, score width `head_dim`.
LayerSpec TwoHeadSpec(int d, int head_dim) {
  return LayerSpec{
      .d_model = d, .heads = 2, .head_dim = head_dim, .value_dim = d / 2};
}

// The counting bound in tokens: each head's Theta (rank head_dim) and
// Omega (rank d / 2) over d numbers per answered token.
uint64_t CountingBoundTokens(int d, int head_dim) {
  const int v = d / 2;
  const int numbers =
      2 * ((2 * d * head_dim - head_dim * head_dim) + (2 * d * v - v * v));
  return static_cast<uint64_t>((numbers + d - 1) / d);
}

// The design's count (docs/REPRODUCTION.md, "Beyond the papers:
// heads-pencil"): d one-token queries; pairs enough for the split's d^2 / 2
// unknowns at d - 2 constraints each (and at least d / 2), plus 2; then
// sequences of d / 2 + 1 tokens until 1.1 d^2 measurements of each Theta,
// the pairs' 2 each included.
struct DesignCount {
  uint64_t queries, tokens;
  uint64_t split_tokens;  // before the sequences
};
DesignCount Design(int d) {
  const int pairs =
      std::max((d * d + 2 * (d - 2) - 1) / (2 * (d - 2)), (d + 1) / 2) + 2;
  const int n = d / 2 + 1;
  const int wanted = (11 * (d * d - 2 * pairs) + 9) / 10;
  const int sequences = (wanted + n * (n - 1) - 1) / (n * (n - 1));
  return {static_cast<uint64_t>(d + pairs + sequences),
          static_cast<uint64_t>(d + 2 * pairs + sequences * n),
          static_cast<uint64_t>(d + 2 * pairs)};
}

void ExpectRecovered(int d, int head_dim, uint64_t seed) {
  LocalOracle oracle = MakeOracle(TwoHeadSpec(d, head_dim), {}, seed);
  std::ostringstream progress;
  LearnOptions options;
  options.seed = seed;
  options.progress = &progress;
  absl::StatusOr<LearnResult> result =
      RunLearner("heads-pencil", oracle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(FunctionalError(oracle, result->hypothesis), kTargetRelErr)
      << progress.str();
  EXPECT_EQ(oracle.usage().queries_used, Design(d).queries) << progress.str();
  EXPECT_EQ(oracle.usage().tokens_used, Design(d).tokens);
  ASSERT_EQ(result->curve.size(), 2u);
  EXPECT_EQ(result->curve.back().tokens, oracle.usage().tokens_used);
  EXPECT_LE(result->curve.back().est_functional_rel_err, kTargetRelErr);
  // The first point has the split but only the pairs' scores, estimated on
  // answers its fit has not seen: far from exact.
  EXPECT_EQ(result->curve.front().tokens, Design(d).split_tokens);
  EXPECT_GT(result->curve.front().est_functional_rel_err, 1e-6);
}

TEST(HeadsPencilTest, TwoHeadD16IsWithinTwiceTheBound) {
  EXPECT_EQ(CountingBoundTokens(16, 8), 48u);
  EXPECT_EQ(Design(16).tokens, 76u);  // 1.58x the bound, goal 96 (2x)
  EXPECT_EQ(Design(16).queries, 32u);
}

// The eight secrets of two-head-d16's sweep (secret seeds 3016 + i, the
// first the challenge's own): every one reaches the target at 76 tokens.
class HeadsPencilTwoHeadD16Test : public ::testing::TestWithParam<uint64_t> {};

TEST_P(HeadsPencilTwoHeadD16Test, RecoversAtTheDesignsCount) {
  ExpectRecovered(16, 8, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Secrets, HeadsPencilTwoHeadD16Test,
                         ::testing::Range<uint64_t>(3016, 3024));

// Other widths, score ranks below, at and above the value width, and full.
class HeadsPencilShapesTest
    : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(HeadsPencilShapesTest, RecoversAtTheDesignsCount) {
  const auto& [d, head_dim, seed] = GetParam();
  ExpectRecovered(d, head_dim, seed);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, HeadsPencilShapesTest,
    ::testing::Values(std::make_tuple(4, 2, 1), std::make_tuple(8, 4, 1),
                      std::make_tuple(8, 8, 2), std::make_tuple(12, 3, 1),
                      std::make_tuple(16, 16, 1), std::make_tuple(16, 4, 2),
                      std::make_tuple(24, 12, 1)));

// Two hundred secrets of two-head-d16's shape and twenty each of three
// others, every one within 2x the counting bound in tokens: the sweep of
// docs/REPRODUCTION.md. Disabled in the suite for its length (about a
// minute); run with --gtest_also_run_disabled_tests.
TEST(HeadsPencilSoakTest, DISABLED_RecoversEverySecretWithinTwiceTheBound) {
  for (const auto& [d, head_dim, count] :
       std::vector<std::tuple<int, int, int>>{
           {16, 8, 200}, {8, 4, 20}, {12, 6, 20}, {24, 12, 20}}) {
    int extra = 0;
    double worst = 0;
    for (uint64_t seed = 1; seed <= static_cast<uint64_t>(count); ++seed) {
      SCOPED_TRACE(testing::Message() << "d " << d << ", head_dim " << head_dim
                                      << ", seed " << seed);
      LocalOracle oracle = MakeOracle(TwoHeadSpec(d, head_dim), {}, seed);
      std::ostringstream progress;
      LearnOptions options;
      options.seed = seed;
      options.progress = &progress;
      absl::StatusOr<LearnResult> result = LearnHeadsPencil(oracle, options);
      ASSERT_TRUE(result.ok()) << result.status();
      const double error = FunctionalError(oracle, result->hypothesis);
      worst = std::max(worst, error);
      EXPECT_LE(error, kTargetRelErr) << progress.str();
      EXPECT_LE(oracle.usage().tokens_used,
                2 * CountingBoundTokens(d, head_dim))
          << progress.str();
      if (oracle.usage().tokens_used != Design(d).tokens) {
        ++extra;
        std::cout << "d " << d << " seed " << seed << ": "
                  << oracle.usage().tokens_used << " tokens\n"
                  << progress.str();
      }
    }
    std::cout << "d " << d << ", head_dim " << head_dim << ": " << count
              << " secrets, " << extra
              << " asked more than the design, worst functional error " << worst
              << "\n";
  }
}

TEST(HeadsPencilRefusalTest, RefusesWhatItCannotSolveBeforeSpending) {
  const LayerSpec spec = TwoHeadSpec(8, 4);
  LayerSpec three = spec;
  three.heads = 3;
  LayerSpec narrow = spec;
  narrow.value_dim = 2;
  LayerSpec causal = spec;
  causal.mask = Mask::kCausal;
  LayerSpec last = spec;
  last.readout = Readout::kLast;
  LayerSpec biased = spec;
  biased.biases = true;
  AccessPolicy noisy;
  noisy.noise_sigma = 0.01;
  AccessPolicy rounded;
  rounded.precision = Precision::kFloat32;
  ExpectRefusesAll(LearnHeadsPencil,
                   {{"three heads", three, {}, "spec.heads"},
                    {"value widths", narrow, {}, "spec.value_dim"},
                    {"causal mask", causal, {}, "spec.mask"},
                    {"last position", last, {}, "spec.readout"},
                    {"biases", biased, {}, "spec.biases"},
                    {"noise", spec, noisy, "policy.noise_sigma"},
                    {"float32", spec, rounded, "policy.precision"}});
}

TEST(HeadsPencilRefusalTest, RefusesUpFrontWhenTheCapCannotCoverIt) {
  LearnOptions options;
  options.max_tokens = 48;  // the counting bound: too few for the design
  ExpectRefused("heads-pencil", TwoHeadSpec(16, 8), {},
                absl::StatusCode::kResourceExhausted, "heads-pencil needs",
                options);
}

}  // namespace
}  // namespace attnoracle
