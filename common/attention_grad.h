// The squared-error loss of an attention layer on a fixed batch of sequences,
// and its analytic gradient with respect to every parameter, for fitting a
// hypothesis to answered queries. Also a flat-vector view of LayerParams for
// optimisers.
//
//   AttentionLoss loss(spec, inputs, targets);  // copies the batch once
//   Vector theta = FlattenParams(spec, guess), grad;
//   double l = loss.Evaluate(theta, &grad);     // l = 0.5 * sum ||r_i||^2
//
// Conventions are those of ForwardInto (common/attention.h): row-major
// tokens, score_scale, causal mask, and last-position readout where only the
// last query row of each sequence contributes.
#ifndef ATTNORACLE_COMMON_ATTENTION_GRAD_H_
#define ATTNORACLE_COMMON_ATTENTION_GRAD_H_

#include <span>
#include <vector>

#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// Free scalars in a LayerParams shaped by `spec` (inner dimensions head_dim
// and value_dim): shared and tied blocks count once.
int ParamCount(const LayerSpec& spec);

// The flat layout, the order DrawSecret draws in: per attention layer, first
// layer first, for each head wq, wk, wv, wo (each row-major), then bq, bk, bv
// when spec.biases, then the layer's bo when spec.biases; then the FFN
// block's w1, b1, w2, b2 (biases with ffn.biases). A block a head does not
// own (tied wk/bk; wk, wv, bk, bv after the first head of a kv group) is
// left out; unflattening copies it from its owner, and the flat gradient
// sums the gradients of every copy into the owner. `params` must be shaped
// by `spec`; `flat` must have ParamCount(spec) entries.
Vector FlattenParams(const LayerSpec& spec, const LayerParams& params);
LayerParams UnflattenParams(const LayerSpec& spec,
                            const Eigen::Ref<const Vector>& flat);
// As above into existing storage: reuses `params`' buffers when their shapes
// already fit (no allocation in an optimiser's inner loop).
void UnflattenParamsInto(const LayerSpec& spec,
                         const Eigen::Ref<const Vector>& flat,
                         LayerParams* params);

// L(p) = 0.5 * sum_i ||Forward(spec, p, inputs[i]) - targets[i]||_F^2 and
// dL/dp. The batch is stacked into contiguous storage at construction, and
// the forward intermediates live in reusable workspaces, so repeated
// evaluations do not allocate once the shapes are settled.
//
// Not thread-safe (the workspaces are mutable state); one instance per
// thread. Evaluation is deterministic: the same parameters give the same
// bits on one machine.
class AttentionLoss {
 public:
  // `spec` resolved; inputs[i] is n_i x d_model with n_i >= 1; targets[i] is
  // OutputRows(spec, n_i) x OutputDim(spec). Preconditions asserted in debug
  // builds.
  AttentionLoss(const LayerSpec& spec, std::span<const Matrix> inputs,
                std::span<const Matrix> targets);

  // The loss at `params`, which must fit spec (CheckParams; any consistent
  // inner dimensions). When `grad` is non-null it receives dL/dparams,
  // shaped like `params` (storage reused when it already fits).
  double Evaluate(const LayerParams& params, LayerParams* grad);

  // The same on the flat layout (inner dimensions from spec). `grad`, when
  // non-null, is resized to ParamCount(spec).
  double Evaluate(const Eigen::Ref<const Vector>& flat, Vector* grad);

  // sum_i ||targets[i]||_F^2: 2 * L / target_sq_norm() is the relative
  // training error (0 for all-zero targets is reported as the raw sum).
  double target_sq_norm() const { return target_sq_norm_; }
  const LayerSpec& spec() const { return spec_; }
  int num_sequences() const { return static_cast<int>(lengths_.size()); }

 private:
  struct HeadCache {
    Matrix q, k, v, z;      // projections and attention outputs, stacked
    Matrix dq, dk, dv, dz;  // their gradients
    Vector p;  // attention weights of every sequence, row-major blocks
  };

  double Forward(const LayerParams& params);
  // Stacks, which the batched path above does not serve (it covers one
  // layer of every class): slower, one sequence at a time.
  double EvaluateGeneral(const LayerParams& params, LayerParams* grad);
  void Backward(const LayerParams& params, LayerParams* grad);

  LayerSpec spec_;
  bool last_only_;
  Matrix x_;        // every token, stacked: N x d_model
  Matrix x_query_;  // last-position readout: the last token of each
                    // sequence (the query rows); empty otherwise (x_ is)
  Matrix t_;        // targets stacked: rows = query rows
  std::vector<Eigen::Index> token_offsets_, query_offsets_, p_offsets_;
  std::vector<Eigen::Index> lengths_;
  double target_sq_norm_ = 0;

  std::vector<HeadCache> cache_;
  Matrix residual_;  // prediction minus target, which is dL/dY
  // With an FFN block: the attention output, W1's pre-activation and
  // activation, and the gradients on the way back.
  Matrix z_, pre_, act_, dh_, dz_;
  Vector dp_;  // one sequence's dL/dP, for the longest sequence
  LayerParams flat_params_, flat_grad_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ATTENTION_GRAD_H_
