// The forward pass of an attention layer or stack with its optional FFN
// block, shared by the server (answers) and the learners (hypotheses), so
// both compute the same function:
//   X_0 = x; X_{l+1} = Attn_l(X_l) (+ X_l with spec.residual), l < L;
//   Z = the readout rows of X_L; Y = relu(Z w1 + b1) w2 + b2 (+ Z) with an
//   FFN block, else Y = Z.
// Attn_l is LayerParams' per-head formula (softmax or linear weights) with
// the mask in every layer.
//
//   Matrix y = Forward(spec, params, x);   // x: n x d_model
//
// Thread-safe: pure functions of their arguments. With a TaskRunner a large
// layer's heads and output rows run as tasks on the threads it lends; the
// output is the same, bit for bit, as without one.
#ifndef ATTNORACLE_COMMON_ATTENTION_H_
#define ATTNORACLE_COMMON_ATTENTION_H_

#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/task_pool.h"
#include "common/tensor.h"

namespace attnoracle {

// Output for one sequence: OutputRows(spec, n) x OutputDim(spec). Preconditions
// (checked by callers, asserted in debug builds): spec resolved, params fit
// spec (CheckParams), x has d_model columns and at least one row.
Matrix Forward(const LayerSpec& spec, const LayerParams& params,
               ConstMatrixRef x, TaskRunner* runner = nullptr);

// Writes the same output into `out`, which must already have the shape above
// (for example a map over a response buffer).
void ForwardInto(const LayerSpec& spec, const LayerParams& params,
                 ConstMatrixRef x, MatrixRef out, TaskRunner* runner = nullptr);

// The FFN block alone on attention rows z (rows x out_dim) into `out` (rows x
// ffn.out_dim). `spec` must have an FFN block.
void FfnInto(const LayerSpec& spec, const FfnParams& ffn, ConstMatrixRef z,
             MatrixRef out, TaskRunner* runner = nullptr);

// Row-wise softmax in place, stable for any finite logits: each row is shifted
// by its maximum before exponentiation. Entries equal to -infinity (masked)
// get weight 0; every row must have at least one finite entry.
void SoftmaxRows(MatrixRef logits);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ATTENTION_H_
