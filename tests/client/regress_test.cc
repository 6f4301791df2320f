// LearnRegress against an in-process fake oracle: convergence on small random
// specs (several heads, causal mask, last-position readout, biases), budgets
// and per-request limits, reproducibility, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/attention_grad.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;

// The learner stops on its loss target, in well under a second for the small
// specs below in an optimised build; the wall-clock cap only matters in very
// slow builds (unoptimised Eigen under sanitizers runs ~100x slower), where a
// tighter cap would cut the fit short and break reproducibility.
constexpr double kTimeLimitSeconds = 300;
constexpr double kConvergedRelErr = 1e-16;

// A LocalOracle over a secret drawn from the prior, which can be told to
// fail every request.
class FakeOracle final : public QueryOracle {
 public:
  FakeOracle(const LayerSpec& spec, const AccessPolicy& raw_policy,
             uint64_t secret_seed)
      : local_(MakeInfo(spec, raw_policy),
               DrawSecret(spec, Prior{.scale = 0, .seed = secret_seed}),
               /*noise_seed=*/secret_seed) {}

  const ChallengeInfo& info() const override { return local_.info(); }
  absl::StatusOr<std::vector<Matrix>> Query(
      std::span<const Matrix> sequences) override {
    if (!fail_with_.ok()) return fail_with_;
    return local_.Query(sequences);
  }
  Usage usage() const override { return local_.usage(); }

  const LayerParams& secret() const { return local_.secret(); }
  int requests() const { return local_.requests(); }
  void FailWith(absl::Status status) { fail_with_ = std::move(status); }

 private:
  static ChallengeInfo MakeInfo(const LayerSpec& spec,
                                const AccessPolicy& raw_policy) {
    ChallengeInfo info;
    info.id = "fake";
    info.spec = spec;
    info.policy = *ResolvePolicy(raw_policy);
    return info;
  }

  LocalOracle local_;
  absl::Status fail_with_;
};

LayerSpec Resolve(LayerSpec raw) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

double FunctionalRelErr(const LayerSpec& spec, const LayerParams& secret,
                        const LayerParams& hypothesis) {
  const std::vector<Matrix> probes = DrawProbeSet(spec, 12345, 8, 8);
  return CompareFunctions(spec, secret, hypothesis, probes).rel_mse;
}

struct ConvergenceCase {
  std::string name;
  LayerSpec raw;
  uint64_t max_tokens;
};

void PrintTo(const ConvergenceCase& c, std::ostream* os) { *os << c.name; }

class RegressConvergesTest : public ::testing::TestWithParam<ConvergenceCase> {
};

TEST_P(RegressConvergesTest, RecoversTheFunction) {
  const LayerSpec spec = Resolve(GetParam().raw);
  for (uint64_t seed : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    FakeOracle oracle(spec, AccessPolicy{}, /*secret_seed=*/100 + seed);
    LearnOptions options{.seed = seed,
                         .max_tokens = GetParam().max_tokens,
                         .time_limit_seconds = kTimeLimitSeconds};
    absl::StatusOr<LearnResult> result = LearnRegress(oracle, options);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_TRUE(CheckParams(spec, result->hypothesis).ok());
    EXPECT_LE(FunctionalRelErr(spec, oracle.secret(), result->hypothesis),
              kConvergedRelErr);
    EXPECT_LE(oracle.usage().tokens_used, GetParam().max_tokens);
    ASSERT_EQ(result->curve.size(), 1u);
    EXPECT_EQ(result->curve[0].tokens, oracle.usage().tokens_used);
    EXPECT_EQ(result->curve[0].queries, oracle.usage().queries_used);
    ASSERT_TRUE(result->curve[0].heldout_answer_rel_err.has_value());
    EXPECT_LE(*result->curve[0].heldout_answer_rel_err, kConvergedRelErr);
    EXPECT_LE(result->curve[0].est_functional_rel_err, kConvergedRelErr);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SmallSpecs, RegressConvergesTest,
    ::testing::Values(
        ConvergenceCase{"single_head_d4", {.d_model = 4}, 200},
        ConvergenceCase{"two_heads_causal_d6",
                        {.d_model = 6, .heads = 2, .mask = Mask::kCausal},
                        400},
        ConvergenceCase{"two_heads_last_d8",
                        {.d_model = 8, .heads = 2, .readout = Readout::kLast},
                        600},
        ConvergenceCase{"biases_unequal_dims_d5",
                        {.d_model = 5,
                         .head_dim = 2,
                         .value_dim = 3,
                         .out_dim = 4,
                         .biases = true},
                        400},
        ConvergenceCase{"two_heads_last_causal_biases_d6",
                        {.d_model = 6,
                         .heads = 2,
                         .mask = Mask::kCausal,
                         .readout = Readout::kLast,
                         .biases = true},
                        600},
        // The seed papers' classes.
        ConvergenceCase{"scalar_last_d4",
                        {.d_model = 4, .out_dim = 1, .readout = Readout::kLast},
                        600},
        ConvergenceCase{
            "multi_query_d4", {.d_model = 4, .heads = 2, .kv_heads = 1}, 300},
        ConvergenceCase{"linear_causal_d4",
                        {.d_model = 4,
                         .mask = Mask::kCausal,
                         .attention = Attention::kLinear},
                        200},
        ConvergenceCase{"tied_two_layer_d4",
                        {.d_model = 4,
                         .heads = 2,
                         .head_dim = 2,
                         .layers = 2,
                         .residual = true,
                         .tie_qk = true},
                        400},
        ConvergenceCase{"ffn_last_d4",
                        {.d_model = 4,
                         .readout = Readout::kLast,
                         .has_ffn = true,
                         .ffn = {.hidden = 2, .out_dim = 1}},
                        1000}),
    [](const ::testing::TestParamInfo<ConvergenceCase>& info) {
      return info.param.name;
    });

TEST(RegressTest, RespectsBudgetAndPerRequestLimits) {
  const LayerSpec spec = Resolve({.d_model = 4});
  AccessPolicy policy;
  policy.budget = {.queries = 1000, .tokens = 150};
  policy.limits = {.max_abs_input = 0.5,
                   .max_tokens_per_sequence = 3,
                   .max_sequences_per_request = 5,
                   .max_tokens_per_request = 12};
  FakeOracle oracle(spec, policy, 7);
  // max_tokens 0: the default, capped by what the budget leaves.
  absl::StatusOr<LearnResult> result = LearnRegress(
      oracle, {.seed = 3, .max_tokens = 0, .time_limit_seconds = 2});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(oracle.usage().tokens_used, 150u);
  // 150 tokens in sequences of at most 3, at most 12 tokens per request.
  EXPECT_GE(oracle.requests(), 13);
}

TEST(RegressTest, SpendsAtMostMaxTokens) {
  const LayerSpec spec = Resolve({.d_model = 4});
  FakeOracle oracle(spec, AccessPolicy{}, 8);
  absl::StatusOr<LearnResult> result = LearnRegress(
      oracle, {.seed = 3, .max_tokens = 61, .time_limit_seconds = 1});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(oracle.usage().tokens_used, 61u);
  EXPECT_EQ(oracle.requests(), 1);  // one round trip when the limits allow
}

TEST(RegressTest, SameSeedSameBits) {
  const LayerSpec spec =
      Resolve({.d_model = 4, .heads = 2, .mask = Mask::kCausal});
  auto run = [&](uint64_t seed) {
    FakeOracle oracle(spec, AccessPolicy{}, 9);
    absl::StatusOr<LearnResult> result =
        LearnRegress(oracle, {.seed = seed,
                              .max_tokens = 300,
                              .time_limit_seconds = kTimeLimitSeconds});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? FlattenParams(spec, result->hypothesis) : Vector();
  };
  const Vector first = run(5);
  EXPECT_TRUE(BitwiseEqual(run(5), first));
  EXPECT_FALSE(BitwiseEqual(run(6), first));
}

// With a curve sink the budget is spent in rounds: the sink sees each point
// as it is reached, spend grows from point to point, the last point is the
// run's whole spend, and the final fit still converges.
TEST(RegressTest, CurveReportsAPointPerRound) {
  const LayerSpec spec = Resolve({.d_model = 4, .heads = 2});
  FakeOracle oracle(spec, AccessPolicy{}, 12);
  std::vector<CurvePoint> seen;
  std::vector<uint64_t> used_when_seen;
  LearnOptions options{
      .seed = 4, .max_tokens = 400, .time_limit_seconds = kTimeLimitSeconds};
  options.curve_sink = [&](const CurvePoint& p) {
    seen.push_back(p);
    used_when_seen.push_back(oracle.usage().tokens_used);
  };
  absl::StatusOr<LearnResult> result = LearnRegress(oracle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GE(result->curve.size(), 3u);
  ASSERT_EQ(seen.size(), result->curve.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("point ", i));
    EXPECT_EQ(seen[i].tokens, result->curve[i].tokens);
    // Reported when reached: nothing of a later round spent yet.
    EXPECT_EQ(seen[i].tokens, used_when_seen[i]);
    if (i > 0) {
      EXPECT_GT(seen[i].tokens, seen[i - 1].tokens);
      EXPECT_GT(seen[i].queries, seen[i - 1].queries);
    }
  }
  // The first round holds about a quarter of the tokens.
  EXPECT_LE(seen.front().tokens, 400u / 4 + 16);
  EXPECT_EQ(seen.back().tokens, oracle.usage().tokens_used);
  EXPECT_EQ(seen.back().queries, oracle.usage().queries_used);
  EXPECT_EQ(oracle.usage().tokens_used, 400u);
  EXPECT_LE(FunctionalRelErr(spec, oracle.secret(), result->hypothesis),
            kConvergedRelErr);
  EXPECT_LE(seen.back().est_functional_rel_err, kConvergedRelErr);
}

TEST(RegressTest, NoBudgetLeftIsResourceExhausted) {
  const LayerSpec spec = Resolve({.d_model = 4});
  AccessPolicy policy;
  policy.budget = {.queries = 10, .tokens = 5};
  FakeOracle oracle(spec, policy, 10);
  const std::vector<Matrix> spend_all = {Matrix::Ones(5, 4)};
  ASSERT_TRUE(oracle.Query(spend_all).ok());
  absl::StatusOr<LearnResult> result = LearnRegress(oracle, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(RegressTest, OracleErrorsPropagate) {
  const LayerSpec spec = Resolve({.d_model = 4});
  FakeOracle oracle(spec, AccessPolicy{}, 11);
  oracle.FailWith(absl::PermissionDeniedError("not yours"));
  absl::StatusOr<LearnResult> result = LearnRegress(oracle, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace attnoracle
