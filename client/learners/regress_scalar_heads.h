// Regress's fit for scalar last-position layers whose heads are full width:
// with out_dim 1 and head_dim >= d_model each head is
//   f_h(X) = softmax(X Theta_h^T x_N)^T X v_h,
// Theta_h = Wq_h Wk_h^T * score_scale (d x d, any matrix) and v_h = Wv_h wo_h,
// so the factors are redundant. The fit works on (Theta_h, v_h) directly,
// H(d^2 + d) numbers, which is the counting bound, instead of the factors'
// H(2dk + dv + v): on d = 32 with four heads 4,224 parameters instead of
// 12,416. Levenberg-Marquardt on them; the damped step is solved by Cholesky
// while the parameters are few, and by preconditioned conjugate gradients
// with the Jacobian applied through its structure (each row's Theta_h block
// is the rank-one x_N g^T) when they are many.
//
//   if (ScalarHeadsFitApplies(spec, policy)) {
//     ScalarHeadsFit fit = FitScalarHeads(spec, inputs, answers, options);
//     LayerParams guess = fit.params;
//   }
//
// Thread safety: FitScalarHeads is a pure function of its arguments (and
// the clock, when the time limit cuts it short).
#ifndef ATTNORACLE_CLIENT_LEARNERS_REGRESS_SCALAR_HEADS_H_
#define ATTNORACLE_CLIENT_LEARNERS_REGRESS_SCALAR_HEADS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>

#include "common/access_policy.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// The query entries' standard deviation regress uses for these layers on
// exact answers near the counting bound (kNearBoundQuerySigma, 0.5, for
// the others): on d = 32 with four heads at 1.2x the bound, LM from a random
// start stalled at a relative training loss of 8.5e-4 with 0.5, and
// reached 1.2e-6 (functional error 3.5e-2) in the same 120 s with 0.3
// (docs/REPRODUCTION.md, "Beyond the papers: regress").
inline constexpr double kScalarHeadsNearBoundQuerySigma = 0.3;

// Whether FitScalarHeads covers the spec and answers: one softmax layer,
// last-position readout, out_dim 1, head_dim >= d_model, no biases,
// residual, FFN block, tied or shared keys; answers are values (not signs
// or top-k).
bool ScalarHeadsFitApplies(const LayerSpec& spec, const AccessPolicy& policy);

struct ScalarHeadsFitOptions {
  uint64_t seed = 1;                  // the random starts derive from it
  double time_limit_seconds = 60;     // wall clock, from the call
  double target_rel_loss = 1e-26;     // stop below this training loss
  double promising_rel_loss = 1e-12;  // a restart below this runs to the end
  std::optional<LayerParams> warm;    // first start, when given
  std::ostream* progress = nullptr;   // null: silent
};

struct ScalarHeadsFit {
  LayerParams params;  // in the spec's factor layout
  // sum r^2 / sum t^2 over the training answers.
  double rel_loss = 0;
  int iterations = 0;  // LM steps, accepted or not, over every restart
  int restarts = 0;    // starts tried
};

// Fits the layer to `targets` (one 1 x 1 answer per sequence of `inputs`).
// Requires ScalarHeadsFitApplies(spec, ...) and equal, non-empty spans.
ScalarHeadsFit FitScalarHeads(const LayerSpec& spec,
                              std::span<const Matrix> inputs,
                              std::span<const Matrix> targets,
                              const ScalarHeadsFitOptions& options);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_REGRESS_SCALAR_HEADS_H_
