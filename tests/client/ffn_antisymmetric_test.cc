// LearnFfnAntisymmetric against in-process one-layer transformers (one
// softmax head at the last position, ReLU FFN without biases, one output):
// functional error <= 1e-10 on random instances of two sizes and several
// seeds, the attention's fixed 2d^2 + 2d queries plus an adaptive units'
// search within a stated ceiling, curve points, and refusals before
// anything is spent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <tuple>

#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

LayerSpec TransformerSpec(int d, int hidden) {
  LayerSpec spec{.d_model = d, .heads = 1, .readout = Readout::kLast};
  spec.has_ffn = true;
  spec.ffn = FfnSpec{.hidden = hidden, .out_dim = 1};
  return spec;
}

// The units' search: the cones' gradients ((hidden + 1) (d + 1) one-token
// queries, one cone counted twice where the path turns) and the kink
// search, at most kSearchQueriesPerUnit per unit plus the 8 slope queries
// (3 per split of a piece, 3 per kink test; 14 to 22 per unit measured on
// these instances).
constexpr uint64_t kSearchQueriesPerUnit = 24;

uint64_t QueryCeiling(int d, int hidden) {
  return 2 * static_cast<uint64_t>(d) * d + 2 * d +
         static_cast<uint64_t>(hidden + 2) * (d + 1) + 8 +
         kSearchQueriesPerUnit * hidden;
}

class FfnAntisymmetricTest
    : public ::testing::TestWithParam<std::tuple<int, int, uint64_t>> {};

TEST_P(FfnAntisymmetricTest, RecoversTheLayerToTenDigits) {
  const auto& [d, hidden, seed] = GetParam();
  LocalOracle oracle =
      MakeOracle(TransformerSpec(d, hidden), AccessPolicy{}, seed);
  std::ostringstream progress;
  absl::StatusOr<LearnResult> result =
      RunLearner("ffn-antisymmetric", oracle,
                 LearnOptions{.seed = seed, .progress = &progress});
  ASSERT_TRUE(result.ok()) << result.status() << "\n" << progress.str();
  const double err = FunctionalError(oracle, result->hypothesis);
  const uint64_t queries = oracle.usage().queries_used;
  RecordProperty("functional_rel_err", absl::StrFormat("%.3g", err));
  RecordProperty("queries", static_cast<int>(queries));
  EXPECT_LE(err, 1e-10) << progress.str();
  EXPECT_LE(queries, QueryCeiling(d, hidden));
  EXPECT_GE(queries, 2 * static_cast<uint64_t>(d) * d + 2 * d +
                         static_cast<uint64_t>(hidden + 1) * (d + 1));
  // One point per column of W and the final one, which counts every query.
  ASSERT_EQ(result->curve.size(), static_cast<size_t>(d) + 1);
  EXPECT_EQ(result->curve.back().queries, queries);
  EXPECT_LE(result->curve.back().est_functional_rel_err, 1e-12);
  EXPECT_THAT(progress.str(),
              HasSubstr(absl::StrFormat("%d of %d units", hidden, hidden)));
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, FfnAntisymmetricTest,
    ::testing::Combine(::testing::Values(4, 8), ::testing::Values(6, 16),
                       ::testing::Values(1u, 2u, 3u, 4u)),
    [](const auto& info) {
      return "d" + std::to_string(std::get<0>(info.param)) + "_hidden" +
             std::to_string(std::get<1>(info.param)) + "_seed" +
             std::to_string(std::get<2>(info.param));
    });

TEST(FfnAntisymmetricTest, RefusesWhatItCannotSolveBeforeSpending) {
  constexpr auto kPre = absl::StatusCode::kFailedPrecondition;
  ExpectRefused(
      "ffn-antisymmetric",
      LayerSpec{.d_model = 4, .out_dim = 1, .readout = Readout::kLast},
      AccessPolicy{}, kPre, "no FFN block");
  LayerSpec wide = TransformerSpec(4, 6);
  wide.ffn.out_dim = 2;
  ExpectRefused("ffn-antisymmetric", wide, AccessPolicy{}, kPre,
                "spec.ffn.out_dim 1");
  LayerSpec biases = TransformerSpec(4, 6);
  biases.ffn.biases = true;
  ExpectRefused("ffn-antisymmetric", biases, AccessPolicy{}, kPre,
                "FFN block has biases");
  LayerSpec two_heads = TransformerSpec(4, 6);
  two_heads.heads = 2;
  ExpectRefused("ffn-antisymmetric", two_heads, AccessPolicy{}, kPre,
                "2 heads");
  ExpectRefused("ffn-antisymmetric", TransformerSpec(4, 25), AccessPolicy{},
                kPre, "spec.ffn.hidden 25");
  AccessPolicy sign;
  sign.answers = Answers::kSign;
  ExpectRefused("ffn-antisymmetric", TransformerSpec(4, 6), sign, kPre,
                "form ANSWERS_SIGN");
  AccessPolicy noisy;
  noisy.noise_sigma = 1e-6;
  ExpectRefused("ffn-antisymmetric", TransformerSpec(4, 6), noisy, kPre,
                "noisy");
  AccessPolicy small;
  small.budget.queries = 80;  // 2 16 + 8 + 7 5 + 8 = 83
  ExpectRefused("ffn-antisymmetric", TransformerSpec(4, 6), small,
                absl::StatusCode::kResourceExhausted,
                "needs at least 83 queries");
}

TEST(FfnAntisymmetricTest, SameSeedSameHypothesis) {
  LocalOracle a = MakeOracle(TransformerSpec(4, 6), AccessPolicy{}, 7);
  LocalOracle b = MakeOracle(TransformerSpec(4, 6), AccessPolicy{}, 7);
  absl::StatusOr<LearnResult> ra =
      LearnFfnAntisymmetric(a, LearnOptions{.seed = 3});
  absl::StatusOr<LearnResult> rb =
      LearnFfnAntisymmetric(b, LearnOptions{.seed = 3});
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->hypothesis.ffn.w1, rb->hypothesis.ffn.w1);
  EXPECT_EQ(a.usage().queries_used, b.usage().queries_used);
}

}  // namespace
}  // namespace attnoracle
