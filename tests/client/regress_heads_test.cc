// LearnRegress on two-head-d16's shape at the budget it reaches today (160
// tokens, 3.3x the counting bound), two instances, in the normal suite; the
// soak variant holds eight instances to the goal of 2x the bound.
#include "tests/client/regress_heads.h"

#include <gtest/gtest.h>

namespace attnoracle::test {
namespace {

TEST(RegressHeadsTest, TwoHeadD16AtWhatItReaches) {
  RunInstances(2, kTwoHeadReachedTokens, nullptr);
}

}  // namespace
}  // namespace attnoracle::test
