// LayerParams: the parameters of an attention layer (a secret or a
// hypothesis), per head as factors.
//
//   LayerParams p = ...;
//   absl::Status s = CheckParams(spec, p);  // shapes and finiteness
//
// Head h maps tokens X (n x d_model) through
//   Q = X wq + bq, K = X wk + bk, V = X wv + bv       (one row per token)
//   Y_h = softmax(Q K^T * score_scale + M) V wo
// and the layer's output is sum_h Y_h + bo. Inner dimensions (wq's and wk's
// columns, wv's columns = wo's rows) need only agree with each other, so a
// hypothesis in product form (theta, omega) fits the same type.
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

struct LayerParams {
  std::vector<HeadParams> heads;
  Vector bo;  // out_dim, empty without biases
};

// OK when p fits spec: spec.heads heads, outer dimensions d_model and
// out_dim, consistent inner dimensions, biases present exactly when
// spec.biases, every entry finite. INVALID_ARGUMENT naming the first
// offending field otherwise. `spec` must be resolved.
[[nodiscard]] absl::Status CheckParams(const LayerSpec& spec,
                                       const LayerParams& p);

// theta_h = wq wk^T * score_scale (d_model x d_model).
Matrix Theta(const LayerSpec& spec, const HeadParams& head);
// omega_h = wv wo (d_model x out_dim).
Matrix Omega(const HeadParams& head);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_LAYER_PARAMS_H_
