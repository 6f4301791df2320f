// Compiled with -ffp-contract=off (see CMakeLists.txt), like rng.cc: the
// gaussian entries are replayed bit for bit by verify on any machine.
#include "common/examples.h"

#include "common/rng.h"

namespace attnoracle {

void FillFromDistribution(const ExampleDistribution& examples, Rng& rng,
                          MatrixRef x) {
  const double scale = examples.scale.value_or(1.0);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      if (examples.inputs == InputDistribution::kSigns) {
        x(i, j) = (rng.NextU64() >> 63) == 0 ? scale : -scale;
      } else {
        x(i, j) = scale * rng.NextGaussian();
      }
    }
  }
}

Matrix DrawExample(const ExampleDistribution& examples, int d_model,
                   uint64_t noise_seed, uint64_t index) {
  Rng rng(DeriveSeed(noise_seed, RngStream::kExamples, index));
  Matrix x(examples.tokens, d_model);
  FillFromDistribution(examples, rng, x);
  return x;
}

}  // namespace attnoracle
