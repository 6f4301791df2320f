// Where regress starts a ReLU feed-forward block: its hidden units located
// from the kinks of one-token answers, so that the fit begins in the global
// minimum's basin instead of a random start's local one.
//
//   if (CanLocateFfnUnits(spec, policy)) {
//     ATTN_ASSIGN_OR_RETURN(std::optional<FfnUnits> units,
//                           LocateFfnUnits(oracle, seed));
//     if (units) SeedFfnBlock(spec, *units, &params);
//   }
//
// On a one-token sequence softmax attention weighs its token by 1, so the
// answer is g(x) = sum_j c_j relu(u_j . x) with u_j = Omega w1_j and c_j =
// w2_j: a bias-free ReLU network on the input, positively homogeneous and
// piecewise linear with a kink on each hyperplane u_j . x = 0. Along a
// circle x(t) = r (cos t a + sin t b) every such hyperplane is crossed twice,
// at antipodal angles, and between kinks g is a sinusoid A cos t + B sin t:
// two samples on each side of a kink give both sinusoids, whose crossing is
// the kink's angle exactly. The gradient jump across the kink is +-c_j u_j
// (finite differences, exact up to rounding in a linear piece), and the odd
// part g(x) - g(-x) = sum_j c_j u_j . x fixes each jump's sign.
#ifndef ATTNORACLE_CLIENT_LEARNERS_REGRESS_FFN_INIT_H_
#define ATTNORACLE_CLIENT_LEARNERS_REGRESS_FFN_INIT_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "client/learners/query_oracle.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// The units of g: c_j relu(u_j . x), u_j the columns of u (d_model x M).
struct FfnUnits {
  Matrix u;
  Vector c;
};

// True where the method applies: one softmax layer without attention
// biases, an FFN block of one output without biases or residual, value_dim
// and out_dim at least d_model (Omega can be the identity), adaptive
// queries answered with exact values (float64, no noise, ANSWERS_VALUES).
bool CanLocateFfnUnits(const LayerSpec& spec, const AccessPolicy& policy);

// Spends one-token queries (about 1,000 per circle, at most
// kMaxCircles circles; none beyond what is left of the budget, nor, in
// all, beyond `max_tokens`) and returns the units, or nullopt when it
// could not find ffn.hidden distinct ones (then the caller starts at
// random). Errors are the oracle's.
[[nodiscard]] absl::StatusOr<std::optional<FfnUnits>> LocateFfnUnits(
    QueryOracle& oracle, uint64_t seed, uint64_t max_tokens);

// Overwrites the first head's wv and wo with the identity (the other heads'
// with 0) and the FFN block with the units: the hypothesis then computes g
// on one-token inputs. `params` must fit `spec`, and CanLocateFfnUnits hold.
void SeedFfnBlock(const LayerSpec& spec, const FfnUnits& units,
                  LayerParams* params);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEARNERS_REGRESS_FFN_INIT_H_
