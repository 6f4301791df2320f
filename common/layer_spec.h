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
enum class Attention { kSoftmax, kLinear };

// A ReLU feed-forward block after the attention: for every returned row Z,
// Y = relu(Z w1 + b1) w2 + b2 (+ Z when residual).
struct FfnSpec {
  int hidden = 0;   // > 0 when the block is present
  int out_dim = 0;  // Default: the attention's out_dim.
  bool biases = false;
  bool residual = false;

  friend bool operator==(const FfnSpec&, const FfnSpec&) = default;
};

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
  // Groups of consecutive heads sharing wk, wv (and bk, bv). Default heads.
  int kv_heads = 0;
  Attention attention = Attention::kSoftmax;
  int layers = 0;         // Default 1.
  bool residual = false;  // X_{l+1} = X_l + Attn_l(X_l) in every layer.
  bool tie_qk = false;    // wk = wq (and bk = bq) in every head.
  bool has_ffn = false;
  FfnSpec ffn = {};  // Meaningful when has_ffn.

  friend bool operator==(const LayerSpec&, const LayerSpec&) = default;
};

// Upper bounds that keep one secret and one forward pass within memory.
inline constexpr int kMaxModelDim = 4096;
inline constexpr int kMaxHeads = 256;
inline constexpr int kMaxLayers = 64;
// Largest secret, in numbers (Wq, Wk, Wv, Wo and biases over all heads):
// 2^24 float64 are 128 MiB, per secret. The per-dimension caps alone would
// allow 256 heads of 4096 x 4096 factors, about 137 GB.
inline constexpr int64_t kMaxParameters = int64_t{1} << 24;

// Fills every default. INVALID_ARGUMENT, naming the field, when a dimension
// is negative or too large, d_model is missing, heads does not divide
// d_model while head_dim is unset, score_scale is not finite, kv_heads does
// not divide heads, layers is out of range, residual meets out_dim !=
// d_model, tie_qk meets shared keys, or the FFN block has hidden 0 or a
// residual with ffn.out_dim != out_dim.
[[nodiscard]] absl::StatusOr<LayerSpec> ResolveSpec(const LayerSpec& raw);

// Rows of output per sequence of n tokens: n, or 1 for Readout::kLast.
inline int OutputRows(const LayerSpec& spec, int n) {
  return spec.readout == Readout::kLast ? 1 : n;
}

// Columns of the returned rows: ffn.out_dim with an FFN block, else out_dim.
inline int OutputDim(const LayerSpec& spec) {
  return spec.has_ffn ? spec.ffn.out_dim : spec.out_dim;
}

// Heads per group sharing keys and values (kv_heads 0 counts as heads).
inline int KvGroupSize(const LayerSpec& spec) {
  return spec.kv_heads > 0 ? spec.heads / spec.kv_heads : 1;
}
// The first head of head h's group.
inline int KvGroupStart(const LayerSpec& spec, int h) {
  return h - h % KvGroupSize(spec);
}

// True for the class the original one-layer code paths serve: one softmax
// layer, no residual, no FFN block (sharing and tying are constraints on
// the parameters only, not on the forward pass).
inline bool IsSingleSoftmaxLayer(const LayerSpec& spec) {
  return spec.layers <= 1 && !spec.residual && !spec.has_ffn &&
         spec.attention == Attention::kSoftmax;
}

const char* MaskName(Mask mask);
const char* ReadoutName(Readout readout);
const char* AttentionName(Attention attention);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_LAYER_SPEC_H_
