// LayerSpec: the public architecture of an attention layer.
//
//   LayerSpec raw{.d_model = 16};
//   absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);  // defaults filled in
#ifndef ATTNORACLE_COMMON_LAYER_SPEC_H_
#define ATTNORACLE_COMMON_LAYER_SPEC_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace attnoracle {

enum class Mask { kNone, kCausal };
enum class Readout { kAll, kLast };

// Zero in any dimension or in score_scale means "use the default".
struct LayerSpec {
  int d_model = 0;
  int heads = 1;
  int head_dim = 0;   // Default d_model / heads.
  int value_dim = 0;  // Default head_dim.
  int out_dim = 0;    // Default d_model.
  Mask mask = Mask::kNone;
  Readout readout = Readout::kAll;
  double score_scale = 0;  // Default 1 / sqrt(head_dim).
  bool biases = false;     // bq, bk, bv per head and bo on the output.

  friend bool operator==(const LayerSpec&, const LayerSpec&) = default;
};

// Upper bounds that keep one secret and one forward pass within memory.
inline constexpr int kMaxModelDim = 4096;
inline constexpr int kMaxHeads = 256;
// Largest secret, in numbers (Wq, Wk, Wv, Wo and biases over all heads):
// 2^24 float64 are 128 MiB, per secret. The per-dimension caps alone would
// allow 256 heads of 4096 x 4096 factors, about 137 GB.
inline constexpr int64_t kMaxParameters = int64_t{1} << 24;

// Fills every default. INVALID_ARGUMENT, naming the field, when a dimension
// is negative or too large, d_model is missing, heads does not divide
// d_model while head_dim is unset, or score_scale is not finite.
[[nodiscard]] absl::StatusOr<LayerSpec> ResolveSpec(const LayerSpec& raw);

// Rows of output per sequence of n tokens: n, or 1 for Readout::kLast.
inline int OutputRows(const LayerSpec& spec, int n) {
  return spec.readout == Readout::kLast ? 1 : n;
}

const char* MaskName(Mask mask);
const char* ReadoutName(Readout readout);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_LAYER_SPEC_H_
