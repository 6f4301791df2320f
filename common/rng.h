// A seeded random number generator whose output is the same bit for bit on
// every machine and compiler: xoshiro256** for bits, and gaussians by
// Marsaglia's polar method over a logarithm built from IEEE-754 basic
// operations only (std::normal_distribution and std::log are
// implementation-defined; this is not).
//
//   Rng rng(DeriveSeed(seed, kSecretStream, 0));
//   double z = rng.NextGaussian();
//
// Not thread-safe: one Rng per thread or per stream. Specified step by step,
// with test vectors, in docs/VERIFICATION.md.
#ifndef ATTNORACLE_COMMON_RNG_H_
#define ATTNORACLE_COMMON_RNG_H_

#include <cstdint>

namespace attnoracle {

// Independent streams drawn from one user-facing seed.
enum class RngStream : uint64_t {
  kSecret = 1,
  kNoise = 2,
  kProbeSet = 3,
  kLearner = 4,
  kExamples = 5,  // random-example inputs (common/examples.h)
};

// Mixes a user seed, a stream and an index into a seed for Rng. Distinct
// inputs give unrelated outputs (SplitMix64 finalisers).
uint64_t DeriveSeed(uint64_t seed, RngStream stream, uint64_t index);

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t NextU64();
  // Uniform on [0, 1), 53 random bits.
  double NextUniform();
  // Standard normal.
  double NextGaussian();

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

// Natural logarithm of x > 0 from basic IEEE operations only, accurate to a
// few ulp. Bit-for-bit portable when compiled without FMA contraction.
double PortableLog(double x);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_RNG_H_
