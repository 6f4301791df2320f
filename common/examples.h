// Random examples: the inputs Sample answers, drawn by the server from the
// policy's distribution. Example i of a learner is a pure function of the
// learner's noise seed and i, so a verifier holding the revealed seed
// redraws every input bit for bit and nobody can hand-pick examples.
//
//   Matrix x = DrawExample(policy.examples, spec.d_model, noise_seed, 7);
//
// Thread-safe: pure functions. Specified in docs/VERIFICATION.md.
#ifndef ATTNORACLE_COMMON_EXAMPLES_H_
#define ATTNORACLE_COMMON_EXAMPLES_H_

#include <cstdint>

#include "common/access_policy.h"
#include "common/tensor.h"

namespace attnoracle {

// The example at the learner's sequence index `index` (the index the ledger
// charges it at, which also keys its noise): tokens x d_model entries drawn
// row-major from Rng(DeriveSeed(noise_seed, kExamples, index)): kSigns
// takes NextU64() and gives +scale when its top bit is 0, -scale when it is
// 1; kGaussian gives scale * NextGaussian(). `examples` must be resolved
// (tokens >= 1, scale set).
Matrix DrawExample(const ExampleDistribution& examples, int d_model,
                   uint64_t noise_seed, uint64_t index);

// Fills `x` (any shape) with entries of the distribution, row-major, from
// `rng` as DrawExample does. For probe sets drawn like examples.
void FillFromDistribution(const ExampleDistribution& examples, class Rng& rng,
                          MatrixRef x);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_EXAMPLES_H_
