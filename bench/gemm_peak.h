// The yardstick for the oracle's arithmetic: the FLOP rate of Eigen's
// 256 x 256 float64 matrix product on one thread, as this build compiles it.
//
//   double peak = MeasureGemmPeakGflops(absl::Seconds(1));
#ifndef ATTNORACLE_BENCH_GEMM_PEAK_H_
#define ATTNORACLE_BENCH_GEMM_PEAK_H_

#include "absl/time/time.h"

namespace attnoracle {

// Side of the square matrices multiplied.
inline constexpr int kGemmPeakSide = 256;

// GFLOP/s (2 n^3 FLOPs per product) of products repeated for about
// `duration` on the calling thread; the best of several short runs, so a
// moment of contention does not lower it.
double MeasureGemmPeakGflops(absl::Duration duration);

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_GEMM_PEAK_H_
