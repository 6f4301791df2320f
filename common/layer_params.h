// LayerParams: the parameters of an attention layer or stack (a secret or a
// hypothesis), per head as factors, and of the feed-forward block.
//
//   LayerParams p = ...;
//   absl::Status s = CheckParams(spec, p);  // shapes and finiteness
//
// Head h maps tokens X (n x d_model) through
//   Q = X wq + bq, K = X wk + bk, V = X wv + bv       (one row per token)
//   Y_h = softmax(Q K^T * score_scale + M) V wo
// and the layer's output is sum_h Y_h + bo (under linear attention the
// weights are the scaled scores, masked ones 0). Inner dimensions (wq's and
// wk's columns, wv's columns = wo's rows) need only agree with each other, so
// a hypothesis in product form (theta, omega) fits the same type.
//
// A stack of L layers keeps its last layer in `heads` and `bo`, as a single
// layer does, and layers 0 .. L-2 (each d_model -> d_model) in
// `lower_layers`, first layer first: the one-layer form is unchanged. Shared
// keys and values and tied query/key weights are stored per head (copies);
// CheckParams holds the copies equal.
#ifndef ATTNORACLE_COMMON_LAYER_PARAMS_H_
#define ATTNORACLE_COMMON_LAYER_PARAMS_H_

#include <vector>

#include "absl/status/status.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

struct HeadParams {
  Matrix wq;  // d_model x k
  Matrix wk;  // d_model x k
  Matrix wv;  // d_model x v
  Matrix wo;  // v x out_dim
  Vector bq;  // k, empty without biases
  Vector bk;  // k, empty without biases
  Vector bv;  // v, empty without biases
};

// One attention layer of a stack below the last (wo: v x d_model).
struct AttentionLayerParams {
  std::vector<HeadParams> heads;
  Vector bo;  // d_model, empty without biases
};

// The feed-forward block; every member empty without one.
struct FfnParams {
  Matrix w1;  // out_dim x hidden
  Vector b1;  // hidden, empty without ffn biases
  Matrix w2;  // hidden x ffn.out_dim
  Vector b2;  // ffn.out_dim, empty without ffn biases
};

struct LayerParams {
  std::vector<HeadParams> heads;  // the last (or only) attention layer
  Vector bo;                      // out_dim, empty without biases
  std::vector<AttentionLayerParams> lower_layers = {};  // spec.layers - 1
  FfnParams ffn = {};
};

// OK when p fits spec: spec.layers - 1 lower layers, spec.heads heads in
// each, outer dimensions d_model and out_dim (d_model below the last
// layer), consistent inner dimensions, biases present exactly when
// spec.biases, an FFN block exactly when spec.has_ffn, every entry finite;
// with kv_heads < heads, the heads of a group have equal wk, wv (bk, bv);
// with tie_qk, wk equals wq (bk equals bq) in every head. INVALID_ARGUMENT
// naming the first offending field (layers[l].heads[h].wk, ffn.w1, ...)
// otherwise. `spec` must be resolved.
[[nodiscard]] absl::Status CheckParams(const LayerSpec& spec,
                                       const LayerParams& p);

// theta_h = wq wk^T * score_scale (d_model x d_model).
Matrix Theta(const LayerSpec& spec, const HeadParams& head);
// omega_h = wv wo (d_model x out_dim).
Matrix Omega(const HeadParams& head);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_LAYER_PARAMS_H_
