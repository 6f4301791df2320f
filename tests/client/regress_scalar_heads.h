// Shared by regress_scalar_heads_test and regress_scalar_heads_soak_test:
// LearnRegress on scalar last-position layers with several full-width heads
// (head_dim = d_model, out_dim 1) against LocalOracle, capped in queries.
// The counting bound is H(d^2 + d) queries: one number per query, and
// Theta_h = Wq_h Wk_h^T (d x d, full rank) and v_h = Wv_h wo_h (d) free.
#ifndef ATTNORACLE_TESTS_CLIENT_REGRESS_SCALAR_HEADS_H_
#define ATTNORACLE_TESTS_CLIENT_REGRESS_SCALAR_HEADS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/access_policy.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "tests/client/regress_heads.h"

namespace attnoracle::test {

constexpr double kScalarTargetRelErr = 1e-8;

inline LayerSpec ScalarHeads(int d, int heads) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec({.d_model = d,
                                                .heads = heads,
                                                .head_dim = d,
                                                .out_dim = 1,
                                                .readout = Readout::kLast});
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

inline uint64_t CountingBound(const LayerSpec& spec) {
  const uint64_t d = static_cast<uint64_t>(spec.d_model);
  return static_cast<uint64_t>(spec.heads) * (d * d + d);
}

// Secret drawn at the prior's default scale from `secret_seed`; the learner
// seeded with `seed`, capped at `max_queries` queries. Queries cycle through
// 2, 3, 4 and 8 tokens, so a token cap of 5 per query never binds first.
inline Outcome RunScalar(const LayerSpec& spec, uint64_t secret_seed,
                         uint64_t seed, uint64_t max_queries,
                         double time_limit_seconds, std::ostream* progress) {
  return Run(spec, secret_seed, seed, /*max_tokens=*/5 * max_queries, progress,
             max_queries, time_limit_seconds);
}

// Instances i = 0 .. instances-1: secret seed secret_seed_base + i, learner
// seed 1 + i; each must spend at most max_queries and reach
// kScalarTargetRelErr.
inline void RunScalarInstances(const LayerSpec& spec, uint64_t secret_seed_base,
                               int instances, uint64_t max_queries,
                               double time_limit_seconds,
                               std::ostream* progress) {
  int reached = 0;
  for (int i = 0; i < instances; ++i) {
    SCOPED_TRACE(absl::StrCat("instance ", i));
    const Outcome out = RunScalar(spec, secret_seed_base + i, /*seed=*/1 + i,
                                  max_queries, time_limit_seconds, progress);
    std::cout << absl::StrFormat(
                     "scalar d=%d H=%d instance %d: %d queries (%.3fx the "
                     "bound %d), functional_rel_err %.3e, %.1f s wall, %.1f s "
                     "CPU",
                     spec.d_model, spec.heads, i, out.queries,
                     static_cast<double>(out.queries) /
                         static_cast<double>(CountingBound(spec)),
                     CountingBound(spec), out.functional_rel_err, out.seconds,
                     out.cpu_seconds)
              << std::endl;
    EXPECT_LE(out.queries, max_queries);
    EXPECT_LE(out.functional_rel_err, kScalarTargetRelErr);
    reached += out.functional_rel_err <= kScalarTargetRelErr;
  }
  std::cout << absl::StrFormat(
                   "scalar d=%d H=%d at %d queries: %d of %d "
                   "instances reached %.0e",
                   spec.d_model, spec.heads, max_queries, reached, instances,
                   kScalarTargetRelErr)
            << std::endl;
}

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_CLIENT_REGRESS_SCALAR_HEADS_H_
