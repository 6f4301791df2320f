// LearnRegress at 2x the counting bound on two-head-d16's shape: eight
// instances, the measurement quoted in docs/REPRODUCTION.md (label soak).
#include <gtest/gtest.h>

#include <iostream>

#include "tests/client/regress_heads.h"

namespace attnoracle::test {
namespace {

TEST(RegressHeadsSoakTest, TwoHeadD16AtTwiceTheBound) {
  RunInstances(8, kTwoHeadTokens, &std::cerr);
}

}  // namespace
}  // namespace attnoracle::test
