// LearnRegress on scalar last-position layers with several full-width heads,
// in the normal suite: sizes that fit in seconds, held to 1.2x the counting
// bound H(d^2 + d). The soak variant holds d = 32, H = 4 to the same ratio.
#include "tests/client/regress_scalar_heads.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>

namespace attnoracle::test {
namespace {

// d = 12, three heads: bound 468 queries, 561 allowed.
TEST(RegressScalarHeadsTest, D12ThreeHeadsWithin20PercentOfTheBound) {
  const LayerSpec spec = ScalarHeads(12, 3);
  RunScalarInstances(spec, /*secret_seed_base=*/7012, /*instances=*/2,
                     CountingBound(spec) * 6 / 5, /*time_limit_seconds=*/60,
                     nullptr);
}

}  // namespace
}  // namespace attnoracle::test
