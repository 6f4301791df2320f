// LearnSignBisect against in-process scalar last-token layers answering
// signs: the normalised v and W within 1e-9 relative error, at exactly the
// design's query count ((d^2 + d - 1) x 40 + 1, within (d^2 + d) x 40), on
// random instances of several sizes and seeds; refusals before anything is
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
#include "common/layer_params.h"
#include "common/prior.h"
#include "tests/client/learner_test_util.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

AccessPolicy SignPolicy() {
  AccessPolicy policy;
  policy.answers = Answers::kSign;
  return policy;
}

uint64_t DesignQueries(int d) {
  return static_cast<uint64_t>(d * d + d - 1) * 40 + 1;
}

// Largest entry error of theta relative to its largest entry, and of the
// unit v (omega) against the truth's.
struct Errors {
  double theta = 0;
  double omega = 0;
};

Errors ParameterErrors(const LocalOracle& oracle,
                       const LayerParams& got_params) {
  const LayerSpec& spec = oracle.info().spec;
  const HeadParams& truth = oracle.secret().heads[0];
  const HeadParams& got = got_params.heads[0];
  const Matrix theta = Theta(spec, truth);
  const Vector omega = Omega(truth).col(0).normalized();
  return Errors{
      .theta = (Theta(spec, got) - theta).cwiseAbs().maxCoeff() /
               theta.cwiseAbs().maxCoeff(),
      .omega = (Omega(got).col(0).normalized() - omega).cwiseAbs().maxCoeff()};
}

class SignBisectTest
    : public ::testing::TestWithParam<std::tuple<int, uint64_t>> {};

// Random instances of several sizes and seeds, among them those where some
// W b_j is nearly orthogonal to v (d 8 seed 1, d 16 seeds 1 and 3), which
// the earlier angle-bisection design missed (1.07e-9, 1.8e-7, 1.2e-8).
TEST_P(SignBisectTest, RecoversNormalisedParameters) {
  const auto& [d, seed] = GetParam();
  LocalOracle oracle = MakeOracle(ScalarSpec(d), SignPolicy(), seed);
  std::ostringstream progress;
  absl::StatusOr<LearnResult> result = RunLearner(
      "sign-bisect", oracle, LearnOptions{.seed = seed, .progress = &progress});
  ASSERT_TRUE(result.ok()) << result.status();
  const Errors errors = ParameterErrors(oracle, result->hypothesis);
  RecordProperty("theta_rel_err", absl::StrFormat("%.3g", errors.theta));
  RecordProperty("omega_err", absl::StrFormat("%.3g", errors.omega));
  EXPECT_LE(errors.theta, 1e-9);
  EXPECT_LE(errors.omega, 1e-9);
  EXPECT_EQ(oracle.usage().queries_used, DesignQueries(d));
  EXPECT_LE(oracle.usage().queries_used, static_cast<uint64_t>(d * d + d) * 40);
  // A point after v and after each column.
  ASSERT_EQ(result->curve.size(), static_cast<size_t>(d) + 1);
  EXPECT_EQ(result->curve.back().queries, DesignQueries(d));
  EXPECT_THAT(progress.str(), HasSubstr("sign-bisect: done: "));
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, SignBisectTest,
    ::testing::Values(std::tuple{2, 1u}, std::tuple{2, 2u}, std::tuple{2, 3u},
                      std::tuple{4, 1u}, std::tuple{4, 2u}, std::tuple{4, 3u},
                      std::tuple{8, 1u}, std::tuple{8, 2u}, std::tuple{8, 3u},
                      std::tuple{8, 12u}, std::tuple{8, 7008u},
                      std::tuple{12, 4u}, std::tuple{16, 1u},
                      std::tuple{16, 2u}, std::tuple{16, 3u}),
    [](const auto& info) {
      return "d" + std::to_string(std::get<0>(info.param)) + "_seed" +
             std::to_string(std::get<1>(info.param));
    });

// The entries of W are compared with thresholds placed around the size of
// those read before, so W's overall scale does not matter within a wide
// range (prior scales 0.1 to 3 times the default 1 / sqrt(d) at d = 8).
TEST(SignBisectTest, RecoversWhateverTheScaleOfW) {
  for (const double prior_scale : {0.035, 1.0}) {
    for (const uint64_t seed : {1u, 2u}) {
      LocalOracle oracle =
          MakeOracle(ScalarSpec(8), SignPolicy(), seed, prior_scale);
      absl::StatusOr<LearnResult> result =
          RunLearner("sign-bisect", oracle, LearnOptions{.seed = seed});
      ASSERT_TRUE(result.ok()) << result.status();
      const Errors errors = ParameterErrors(oracle, result->hypothesis);
      EXPECT_LE(errors.theta, 1e-9)
          << "prior scale " << prior_scale << " seed " << seed;
      EXPECT_LE(errors.omega, 1e-9)
          << "prior scale " << prior_scale << " seed " << seed;
    }
  }
}

TEST(SignBisectTest, RefusesWhatItCannotSolveBeforeSpending) {
  constexpr auto kPre = absl::StatusCode::kFailedPrecondition;
  ExpectRefused("sign-bisect", ScalarSpec(4), AccessPolicy{}, kPre,
                "form ANSWERS_VALUES (sign-bisect reads ANSWERS_SIGN");
  LayerSpec two_heads = ScalarSpec(4);
  two_heads.heads = 2;
  ExpectRefused("sign-bisect", two_heads, SignPolicy(), kPre, "2 heads");
  ExpectRefused("sign-bisect",
                LayerSpec{.d_model = 4, .readout = Readout::kLast},
                SignPolicy(), kPre, "spec.out_dim 1");
  AccessPolicy noisy = SignPolicy();
  noisy.noise_sigma = 1e-3;
  ExpectRefused("sign-bisect", ScalarSpec(4), noisy, kPre, "noisy");
  // d = 4: 19 x 40 + 1 = 761 queries.
  AccessPolicy small = SignPolicy();
  small.budget.queries = 760;
  ExpectRefused("sign-bisect", ScalarSpec(4), small,
                absl::StatusCode::kResourceExhausted, "needs 761 queries");
  ExpectRefused("sign-bisect", ScalarSpec(4), SignPolicy(),
                absl::StatusCode::kResourceExhausted, "needs 761 queries",
                LearnOptions{.max_queries = 760});
}

}  // namespace
}  // namespace attnoracle
