// LearnScalarExact against in-process scalar last-token layers: exactly
// d^2 + d queries and functional error <= 1e-16 on random instances of
// several sizes and seeds, a curve point per round, and refusals (wrong
// spec, wrong answer form, too small a budget or cap) before anything is
// spent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

class ScalarExactTest
    : public ::testing::TestWithParam<std::tuple<int, uint64_t, Mask>> {};

TEST_P(ScalarExactTest, RecoversInExactlyDSquaredPlusDQueries) {
  const auto& [d, seed, mask] = GetParam();
  LayerSpec spec = ScalarSpec(d);
  spec.mask = mask;
  LocalOracle oracle = MakeOracle(spec, AccessPolicy{}, seed);
  std::ostringstream progress;
  absl::StatusOr<LearnResult> result =
      RunLearner("scalar-exact", oracle,
                 LearnOptions{.seed = seed, .progress = &progress});
  ASSERT_TRUE(result.ok()) << result.status();
  const double err = FunctionalError(oracle, result->hypothesis);
  RecordProperty("functional_rel_err", absl::StrFormat("%.3g", err));
  EXPECT_LE(err, 1e-16);
  const uint64_t queries = static_cast<uint64_t>(d) * d + d;
  EXPECT_EQ(oracle.usage().queries_used, queries);
  EXPECT_EQ(oracle.usage().tokens_used, 2 * static_cast<uint64_t>(d) * d + d);
  // One point per column round and the final fit check.
  ASSERT_EQ(result->curve.size(), static_cast<size_t>(d) + 1);
  EXPECT_EQ(result->curve.back().queries, queries);
  EXPECT_LE(result->curve.back().est_functional_rel_err, 1e-20);
  // The hypothesis with no column of W read misses the first column's
  // answers: the held-out estimate sees it.
  EXPECT_GT(result->curve.front().est_functional_rel_err, 0);
  EXPECT_THAT(progress.str(), HasSubstr("scalar-exact: done: "));
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ScalarExactTest,
    ::testing::Combine(::testing::Values(2, 4, 8, 16),
                       ::testing::Values(1u, 2u, 3u),
                       ::testing::Values(Mask::kNone, Mask::kCausal)),
    [](const auto& info) {
      return "d" + std::to_string(std::get<0>(info.param)) + "_seed" +
             std::to_string(std::get<1>(info.param)) +
             (std::get<2>(info.param) == Mask::kCausal ? "_causal" : "");
    });

// Logits far outside the sigmoid's sensitive range at unit directions: the
// learner scales its directions down from the columns it has read.
TEST(ScalarExactTest, LargeWeightsAreRecoveredToo) {
  for (uint64_t seed : {4u, 5u}) {
    LocalOracle oracle = MakeOracle(ScalarSpec(8), AccessPolicy{}, seed,
                                    /*prior_scale=*/2.0);
    absl::StatusOr<LearnResult> result =
        LearnScalarExact(oracle, LearnOptions{.seed = seed});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_LE(FunctionalError(oracle, result->hypothesis), 1e-16)
        << "seed " << seed;
    EXPECT_EQ(oracle.usage().queries_used, 72u);
  }
}

TEST(ScalarExactTest, SameSeedSameQueries) {
  LocalOracle a = MakeOracle(ScalarSpec(4), AccessPolicy{}, 7);
  LocalOracle b = MakeOracle(ScalarSpec(4), AccessPolicy{}, 7);
  absl::StatusOr<LearnResult> ra = LearnScalarExact(a, LearnOptions{.seed = 3});
  absl::StatusOr<LearnResult> rb = LearnScalarExact(b, LearnOptions{.seed = 3});
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->hypothesis.heads[0].wq, rb->hypothesis.heads[0].wq);
}

TEST(ScalarExactTest, RefusesWhatItCannotSolveBeforeSpending) {
  constexpr auto kPre = absl::StatusCode::kFailedPrecondition;
  ExpectRefused("scalar-exact",
                LayerSpec{.d_model = 4, .readout = Readout::kLast},
                AccessPolicy{}, kPre, "spec.out_dim 1");
  ExpectRefused("scalar-exact", LayerSpec{.d_model = 4, .out_dim = 1},
                AccessPolicy{}, kPre, "READOUT_LAST");
  LayerSpec two_heads = ScalarSpec(4);
  two_heads.heads = 2;
  ExpectRefused("scalar-exact", two_heads, AccessPolicy{}, kPre, "2 heads");
  LayerSpec biases = ScalarSpec(4);
  biases.biases = true;
  ExpectRefused("scalar-exact", biases, AccessPolicy{}, kPre, "biases");
  LayerSpec ffn = ScalarSpec(4);
  ffn.out_dim = 4;
  ffn.has_ffn = true;
  ffn.ffn = FfnSpec{.hidden = 3, .out_dim = 1};
  ExpectRefused("scalar-exact", ffn, AccessPolicy{}, kPre, "FFN block");
  AccessPolicy sign;
  sign.answers = Answers::kSign;
  ExpectRefused("scalar-exact", ScalarSpec(4), sign, kPre, "form ANSWERS_SIGN");
  AccessPolicy noisy;
  noisy.noise_sigma = 1e-6;
  ExpectRefused("scalar-exact", ScalarSpec(4), noisy, kPre, "noisy");
  AccessPolicy small;
  small.budget.queries = 19;  // d^2 + d = 20
  ExpectRefused("scalar-exact", ScalarSpec(4), small,
                absl::StatusCode::kResourceExhausted,
                "needs 20 queries (36 tokens)");
}

TEST(ScalarExactTest, CapsBelowTheDesignAreRefusedBeforeSpending) {
  for (const auto& [max_queries, max_tokens] :
       std::vector<std::pair<uint64_t, uint64_t>>{{19, 0}, {0, 35}}) {
    LocalOracle oracle = MakeOracle(ScalarSpec(4), AccessPolicy{}, 1);
    absl::StatusOr<LearnResult> result = RunLearner(
        "scalar-exact", oracle,
        LearnOptions{.max_tokens = max_tokens, .max_queries = max_queries});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(oracle.usage().queries_used, 0u);
  }
  // Exactly the design's size is enough.
  LocalOracle oracle = MakeOracle(ScalarSpec(4), AccessPolicy{}, 1);
  absl::StatusOr<LearnResult> result =
      RunLearner("scalar-exact", oracle,
                 LearnOptions{.max_tokens = 36, .max_queries = 20});
  EXPECT_TRUE(result.ok()) << result.status();
}

}  // namespace
}  // namespace attnoracle
