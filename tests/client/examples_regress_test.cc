// LearnExamplesRegress against in-process layers (no network): it fits the
// built-in Chen & Li challenge and random examples-only instances from
// examples alone, spending exactly the examples asked, and refuses, before
// anything is spent, what is not an examples-only setting it can fit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/challenge_config.h"
#include "common/examples.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

constexpr double kTargetRelErr = 1e-10;
constexpr double kTimeLimitSeconds = 300;
constexpr int kTokensPerExample = 8;

AccessPolicy ExamplesOnly() {
  AccessPolicy policy;
  policy.access = Access::kExamples;
  policy.examples.inputs = InputDistribution::kSigns;
  policy.examples.tokens = kTokensPerExample;
  return policy;
}

double ExampleError(const LocalOracle& oracle, const LayerParams& hypothesis) {
  Rng rng(777);
  std::vector<Matrix> probes;
  for (int i = 0; i < 64; ++i) {
    Matrix x(kTokensPerExample, oracle.info().spec.d_model);
    FillFromDistribution(oracle.info().policy.examples, rng, x);
    probes.push_back(std::move(x));
  }
  return CompareFunctions(oracle.info().spec, oracle.secret(), hypothesis,
                          probes)
      .rel_mse;
}

class ExamplesRegressTest
    : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(ExamplesRegressTest, FitsFromTheExamplesItAskedFor) {
  const auto& [d, heads, seed] = GetParam();
  LocalOracle oracle = MakeOracle(
      LayerSpec{.d_model = d, .heads = heads, .head_dim = d, .value_dim = d},
      ExamplesOnly(), seed);
  LearnOptions options;
  options.seed = seed;
  options.time_limit_seconds = kTimeLimitSeconds;
  options.max_tokens = 250 * kTokensPerExample;
  absl::StatusOr<LearnResult> r =
      RunLearner("examples-regress", oracle, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(ExampleError(oracle, r->hypothesis), kTargetRelErr);
  EXPECT_EQ(oracle.usage().queries_used, 250u);
  EXPECT_EQ(oracle.usage().tokens_used, 250u * kTokensPerExample);
  ASSERT_FALSE(r->curve.empty());
  EXPECT_EQ(r->curve.back().queries, 250u);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ExamplesRegressTest,
                         ::testing::Values(std::make_tuple(4, 1, 1),
                                           std::make_tuple(4, 2, 2),
                                           std::make_tuple(8, 1, 3)));

TEST(ExamplesRegressRefusalTest, RefusesWhatIsNotAnExamplesOnlyFit) {
  AccessPolicy queries;
  AccessPolicy both = ExamplesOnly();
  both.access = Access::kBoth;
  AccessPolicy quantized = ExamplesOnly();
  quantized.answers = Answers::kQuantized;
  quantized.quantize_step = 1e-3;
  const LayerSpec full{.d_model = 4, .heads = 1};
  const LayerSpec vector_last{
      .d_model = 4, .heads = 1, .readout = Readout::kLast};
  ExpectRefusesAll(
      Registered("examples-regress"),
      {
          {"chosen queries", full, queries, "policy.access"},
          {"queries and examples", full, both, "policy.access"},
          {"quantized", full, quantized, "policy.answers"},
          {"vector last token", vector_last, ExamplesOnly(), "spec.out_dim"},
      });
}

}  // namespace
}  // namespace attnoracle
