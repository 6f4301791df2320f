#include "bench/gemm_peak.h"

#include <algorithm>
#include <chrono>

#include "common/tensor.h"

namespace attnoracle {
namespace {

constexpr int kRuns = 5;

}  // namespace

double MeasureGemmPeakGflops(absl::Duration duration) {
  const Matrix a = Matrix::Random(kGemmPeakSide, kGemmPeakSide);
  const Matrix b = Matrix::Random(kGemmPeakSide, kGemmPeakSide);
  Matrix c(kGemmPeakSide, kGemmPeakSide);
  const double flops_per_product =
      2.0 * kGemmPeakSide * kGemmPeakSide * static_cast<double>(kGemmPeakSide);
  const auto run_length = absl::ToChronoNanoseconds(duration / kRuns);
  double best = 0;
  for (int run = 0; run < kRuns; ++run) {
    const auto start = std::chrono::steady_clock::now();
    int products = 0;
    std::chrono::duration<double> elapsed{};
    do {
      c.noalias() = a * b;
      ++products;
      elapsed = std::chrono::steady_clock::now() - start;
    } while (elapsed < run_length);
    // Keeps the products from being optimised away.
    if (c(0, 0) == 12345.678) ++products;
    best = std::max(best, products * flops_per_product / elapsed.count() / 1e9);
  }
  return best;
}

}  // namespace attnoracle
