// Helpers the learner tests share: an in-process oracle over a drawn secret,
// the functional error of a hypothesis against it, and the check that a
// learner refuses a challenge before spending anything.
//
//   LocalOracle oracle = MakeOracle(spec, AccessPolicy{}, /*seed=*/3);
//   EXPECT_LE(FunctionalError(oracle, result->hypothesis), 1e-12);
//   ExpectRefused("scalar-exact", spec, policy,
//                 absl::StatusCode::kFailedPrecondition, "spec.out_dim 1");
#ifndef ATTNORACLE_TESTS_CLIENT_LEARNER_TEST_UTIL_H_
#define ATTNORACLE_TESTS_CLIENT_LEARNER_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/layer_comparison.h"
#include "common/prior.h"

namespace attnoracle {

// One head of d_model `d` read out as one number at the last position.
inline LayerSpec ScalarSpec(int d) {
  return LayerSpec{
      .d_model = d, .heads = 1, .out_dim = 1, .readout = Readout::kLast};
}

// `heads` full-width heads (head_dim d) read out the same way.
inline LayerSpec ScalarHeadsSpec(int d, int heads) {
  return LayerSpec{.d_model = d,
                   .heads = heads,
                   .head_dim = d,
                   .out_dim = 1,
                   .readout = Readout::kLast};
}

// A local oracle "local" over the resolved spec and policy, its secret drawn
// from the prior of `prior_scale` (0: 1/sqrt(d_model)) with `seed`, which
// also seeds the answers' noise.
inline LocalOracle MakeOracle(const LayerSpec& raw_spec,
                              const AccessPolicy& raw_policy, uint64_t seed,
                              double prior_scale = 0) {
  ChallengeInfo info;
  info.id = "local";
  info.spec = *ResolveSpec(raw_spec);
  info.policy = *ResolvePolicy(raw_policy);
  LayerParams secret =
      DrawSecret(info.spec, Prior{.scale = prior_scale, .seed = seed});
  return LocalOracle(info, std::move(secret), /*noise_seed=*/seed);
}

// Relative mean squared error of the hypothesis against the oracle's secret
// on a fixed probe set (8 sequences of 8 tokens, seed 99).
inline double FunctionalError(const LocalOracle& oracle,
                              const LayerParams& hypothesis) {
  const std::vector<Matrix> probes =
      DrawProbeSet(oracle.info().spec, /*seed=*/99, 8, 8);
  return CompareFunctions(oracle.info().spec, oracle.secret(), hypothesis,
                          probes)
      .rel_mse;
}

// A learner as called by a test: a registered one through RunLearner, or a
// Learn* function directly.
using TestLearner = std::function<absl::StatusOr<LearnResult>(
    QueryOracle& oracle, const LearnOptions& options)>;

// The learner registered as `algo`, run through RunLearner.
inline TestLearner Registered(std::string algo) {
  return [algo = std::move(algo)](QueryOracle& oracle,
                                  const LearnOptions& options) {
    return RunLearner(algo, oracle, options);
  };
}

// Expects `learn` to answer `code` with a message holding `why` on a fresh
// oracle (seed 1) of `spec` and `policy`, having spent no query.
inline void ExpectRefused(const TestLearner& learn, const LayerSpec& spec,
                          const AccessPolicy& policy, absl::StatusCode code,
                          const std::string& why,
                          const LearnOptions& options = {}) {
  LocalOracle oracle = MakeOracle(spec, policy, 1);
  absl::StatusOr<LearnResult> result = learn(oracle, options);
  EXPECT_EQ(result.status().code(), code) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::HasSubstr(why));
  EXPECT_EQ(oracle.usage().queries_used, 0u) << why;
}

inline void ExpectRefused(const std::string& algo, const LayerSpec& spec,
                          const AccessPolicy& policy, absl::StatusCode code,
                          const std::string& why,
                          const LearnOptions& options = {}) {
  ExpectRefused(Registered(algo), spec, policy, code, why, options);
}

// One challenge a learner must refuse with FAILED_PRECONDITION, the message
// naming `field`.
struct RefusalCase {
  const char* name;
  LayerSpec spec;
  AccessPolicy policy;
  const char* field;
};

// What every learner of a scalar last-token readout refuses, each a change
// of an otherwise acceptable `spec`: every position read out, biases, and
// noisy answers.
inline std::vector<RefusalCase> ScalarReadoutRefusals(const LayerSpec& spec) {
  AccessPolicy noisy;
  noisy.noise_sigma = 0.01;
  LayerSpec all_rows = spec;
  all_rows.readout = Readout::kAll;
  all_rows.out_dim = 0;
  LayerSpec biased = spec;
  biased.biases = true;
  return {{"every position", all_rows, {}, "spec.readout"},
          {"biases", biased, {}, "spec.biases"},
          {"noise", spec, noisy, "policy.noise_sigma"}};
}

inline void ExpectRefusesAll(const TestLearner& learn,
                             const std::vector<RefusalCase>& cases) {
  for (const RefusalCase& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectRefused(learn, c.spec, c.policy,
                  absl::StatusCode::kFailedPrecondition, c.field);
  }
}

}  // namespace attnoracle

#endif  // ATTNORACLE_TESTS_CLIENT_LEARNER_TEST_UTIL_H_
