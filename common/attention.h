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
// Thread-safe: pure functions of their arguments.
#ifndef ATTNORACLE_COMMON_ATTENTION_H_
#define ATTNORACLE_COMMON_ATTENTION_H_

#include <span>

#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// Output for one sequence: OutputRows(spec, n) x OutputDim(spec). Preconditions
// (checked by callers, asserted in debug builds): spec resolved, params fit
// spec (CheckParams), x has d_model columns and at least one row.
Matrix Forward(const LayerSpec& spec, const LayerParams& params,
               ConstMatrixRef x);

// Writes the same output into `out`, which must already have the shape above
// (for example a map over a response buffer).
void ForwardInto(const LayerSpec& spec, const LayerParams& params,
                 ConstMatrixRef x, MatrixRef out);

// The outputs of several sequences at once: outs[i] as ForwardInto(spec,
// params, xs[i], outs[i]) writes it, bit for bit. Sequences of the same
// length share one matrix product per head for their query, key and value
// projections when the
// result provably cannot differ (one layer without FFN block, all
// positions read out, d_model <= kBatchMaxDModel, lengths a multiple of
// kBatchRowMultiple, Eigen's blocked product for each sequence's shapes);
// every other sequence goes through ForwardInto. Same preconditions as
// ForwardInto for each pair; xs and outs have the same size.
inline constexpr int kBatchMaxDModel = 64;
inline constexpr int kBatchRowMultiple = 4;
void ForwardBatchInto(const LayerSpec& spec, const LayerParams& params,
                      std::span<const ConstMatrixMap> xs,
                      std::span<MatrixMap> outs);

// The FFN block alone on attention rows z (rows x out_dim) into `out` (rows x
// ffn.out_dim). `spec` must have an FFN block.
void FfnInto(const LayerSpec& spec, const FfnParams& ffn, ConstMatrixRef z,
             MatrixRef out);

// Row-wise softmax in place, stable for any finite logits: each row is shifted
// by its maximum before exponentiation. Entries equal to -infinity (masked)
// get weight 0; every row must have at least one finite entry.
void SoftmaxRows(MatrixRef logits);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ATTENTION_H_
