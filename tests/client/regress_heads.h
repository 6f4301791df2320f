// Shared by regress_heads_test and regress_heads_soak_test: LearnRegress on
// instances of two-head-d16's shape (d_model 16, two heads of width 8, full
// output; counting bound 48 tokens) against LocalOracle.
#ifndef ATTNORACLE_TESTS_CLIENT_REGRESS_HEADS_H_
#define ATTNORACLE_TESTS_CLIENT_REGRESS_HEADS_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <ostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/access_policy.h"
#include "common/layer_comparison.h"
#include "common/prior.h"

namespace attnoracle::test {

constexpr double kTargetRelErr = 1e-8;
// two-head-d16: d_model 16, two heads of width 8, full output.
// The goal: 2x the counting bound of 48 tokens.
constexpr uint64_t kTwoHeadTokens = 96;
// What regress reaches within the time limit on every instance tried
// (docs/REPRODUCTION.md, "Beyond the papers: regress").
constexpr uint64_t kTwoHeadReachedTokens = 160;
constexpr double kTimeLimitSeconds = 60;
// d_model 64, eight heads of width 8, full output. Each head's Theta_h and
// Omega_h, rank 8, hold 2 d k - k^2 = 960 identifiable numbers each, and a
// token answers d = 64: the counting bound is 8 * 1920 / 64 = 240 tokens.
// The goal: 3x the bound within 120 s.
constexpr uint64_t kEightHeadTokens = 720;
constexpr double kEightHeadTimeLimitSeconds = 120;

// Secret seed of repro-heads-d64-h8 in scripts/reproduce.py.
constexpr uint64_t kEightHeadSecretSeed = 9764;

inline LayerSpec EightHeadD64() {
  absl::StatusOr<LayerSpec> spec =
      ResolveSpec({.d_model = 64, .heads = 8, .head_dim = 8});
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

inline LayerSpec TwoHeadD16() {
  absl::StatusOr<LayerSpec> spec =
      ResolveSpec({.d_model = 16, .heads = 2, .head_dim = 8});
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

struct Outcome {
  double functional_rel_err = 0;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // this process's CPU time during the run
  uint64_t tokens = 0;
  uint64_t queries = 0;
};

// max_queries 0: no cap of its own.
inline Outcome Run(const LayerSpec& spec, uint64_t secret_seed, uint64_t seed,
                   uint64_t max_tokens, std::ostream* progress,
                   uint64_t max_queries = 0,
                   double time_limit_seconds = kTimeLimitSeconds) {
  ChallengeInfo info;
  info.id = "local";
  info.spec = spec;
  info.policy = *ResolvePolicy(AccessPolicy{});
  LocalOracle oracle(info,
                     DrawSecret(spec, Prior{.scale = 0, .seed = secret_seed}),
                     /*noise_seed=*/secret_seed);
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  absl::StatusOr<LearnResult> result =
      RunLearner("regress", oracle,
                 {.seed = seed,
                  .max_tokens = max_tokens,
                  .max_queries = max_queries,
                  .time_limit_seconds = time_limit_seconds,
                  .progress = progress});
  Outcome out;
  out.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  out.cpu_seconds =
      static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return out;
  out.tokens = oracle.usage().tokens_used;
  out.queries = oracle.usage().queries_used;
  out.functional_rel_err =
      CompareFunctions(spec, oracle.secret(), result->hypothesis,
                       DrawProbeSet(spec, 12345, 8, 8))
          .rel_mse;
  return out;
}

// Instances i = 0 .. instances-1: secret seed 3016 + i (3016 is
// two-head-d16's own), learner seed 1 + i; each must reach kTargetRelErr.
inline void RunInstances(int instances, uint64_t max_tokens,
                         std::ostream* progress) {
  const LayerSpec spec = TwoHeadD16();
  int reached = 0;
  for (int i = 0; i < instances; ++i) {
    SCOPED_TRACE(absl::StrCat("instance ", i));
    const Outcome out = Run(spec, /*secret_seed=*/3016 + i,
                            /*seed=*/1 + i, max_tokens, progress);
    std::cout << absl::StrFormat(
                     "two-head-d16 instance %d: %d tokens, functional_rel_err "
                     "%.3e, %.1f s",
                     i, out.tokens, out.functional_rel_err, out.seconds)
              << std::endl;
    EXPECT_LE(out.tokens, max_tokens);
    EXPECT_LE(out.functional_rel_err, kTargetRelErr);
    reached += out.functional_rel_err <= kTargetRelErr;
  }
  std::cout << "two-head-d16 at " << max_tokens << " tokens: " << reached
            << " of " << instances << " instances reached " << kTargetRelErr
            << std::endl;
}

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_CLIENT_REGRESS_HEADS_H_
