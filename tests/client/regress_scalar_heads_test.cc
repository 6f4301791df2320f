// LearnRegress on scalar last-position layers with several full-width heads,
// in the normal suite: sizes that fit in seconds, held to 1.2x the counting
// bound H(d^2 + d). The soak variant holds d = 32, H = 4 to the same ratio.
#include "tests/client/regress_scalar_heads.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>

namespace attnoracle::test {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// d = 12, three heads: bound 468 queries, 561 allowed. Both instances
// took 2-8 s of CPU (6-25 s wall under a load of 9 on 2 cores). Under
// ASan the fit runs about 18 times slower (instance 0: 31 s of CPU against
// 1.7 s), so the time limit, not the fit, would decide instance 1 (4e-3
// after 120 s of CPU): there only instance 0 runs, and the optimised suite
// holds both.
TEST(RegressScalarHeadsTest, D12ThreeHeadsWithin20PercentOfTheBound) {
  const LayerSpec spec = ScalarHeads(12, 3);
  RunScalarInstances(spec, /*secret_seed_base=*/7012,
                     /*instances=*/kSanitized ? 1 : 2,
                     CountingBound(spec) * 6 / 5, /*time_limit_seconds=*/120,
                     nullptr);
}

}  // namespace
}  // namespace attnoracle::test
