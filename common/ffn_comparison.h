// The FFN block's parameter error: its ReLU units compared up to
// permutation and positive rescaling.
//
//   if (IdentifiabilityOf(spec).ffn) {
//     double err = CompareFfn(spec, secret, hypothesis);  // ffn_rel_err
//   }
//
// relu(c a) = c relu(a) for c > 0, so unit j, (w1_j column, b1_j, w2_j row),
// computes the same as (c w1_j, c b1_j, w2_j / c), and units can be
// permuted. With no residual and no nonlinearity between the attention and
// the block, only the composed map reaches the units: head h contributes
// (a_h X) omega_h w1 to the pre-activations, so an invertible map between
// omega and w1 cancels and the unit's input side is omega_h w1_j per head
// (canonical heads, common/layer_comparison.h), followed by its effective
// bias beta_j = (sum_h bv_h wo_h + bo) w1_j + b1_j where the class has
// biases (softmax rows sum to 1, so the value and output biases reach the
// units as a constant). Thread-safe: pure functions.
#ifndef ATTNORACLE_COMMON_FFN_COMPARISON_H_
#define ATTNORACLE_COMMON_FFN_COMPARISON_H_

#include <span>
#include <vector>

#include "common/layer_comparison.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// A unit in canonical form: `input` (the composed input side, one block of
// d_model numbers per head slot, then beta_j where the class has biases)
// scaled to unit norm, the scale moved into `output` (w2_j, ffn.out_dim).
struct CanonicalFfnUnit {
  Vector input;
  Vector output;
};

// The units of `params` in canonical form, with `heads` (canonical heads of
// the same params, as Canonicalize gives them) placed in slots:
// slot i holds heads[slot_heads[i]], or zeros where slot_heads[i] is -1.
// Units that cannot be seen as units are dropped: those whose input
// weights (beta excluded) are at most rel_tol times their input side's norm
// (never active when beta <= 0, a constant that b2 absorbs otherwise), then,
// after units with equal normalised inputs (within rel_tol) are merged
// (outputs added), those whose output norm is at most rel_tol times the
// largest (all of them when every output is 0). Order of first appearance
// is kept. With `unit_output_scale` the outputs are then divided by the
// square root of their summed squared norms (the scale signs do not show).
// `params` must fit `spec`, which must have an FFN block.
std::vector<CanonicalFfnUnit> CanonicalizeFfn(
    const LayerSpec& spec, const LayerParams& params,
    std::span<const CanonicalHead> heads, std::span<const int> slot_heads,
    bool unit_output_scale, double rel_tol = kCanonicalRelTol);

// ffn_rel_err: sqrt(sum ||matched candidate unit - reference unit||^2 /
// sum ||reference unit||^2), a unit being its canonical (input, output)
// stacked, after matching units by the assignment of least total squared
// distance (the shorter list padded with zero units, so an unmatched unit
// counts with its whole norm). Head slots follow the assignment of the
// canonical heads by squared theta and key-bias distance (omega is not
// identifiable with an FFN block). With no reference units: 0 for a
// candidate with none, +infinity otherwise. A candidate whose canonical
// form is not finite scores +infinity. Both must fit `spec`, which must
// have an FFN block; the score means something only where
// IdentifiabilityOf(spec).ffn.
double CompareFfn(const LayerSpec& spec, const LayerParams& reference,
                  const LayerParams& candidate, bool unit_output_scale = false);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_FFN_COMPARISON_H_
