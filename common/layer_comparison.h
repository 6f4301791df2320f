// Symmetry-aware comparison of two attention layers, and the counting bound
// that query costs are measured against.
//
//   std::vector<Matrix> probes = DrawProbeSet(spec, seed, 8, 16);
//   FunctionalError f = CompareFunctions(spec, secret, hypothesis, probes);
//   ParameterError p = CompareParameters(spec, secret, hypothesis);
//
// Only theta_h = wq wk^T * scale and omega_h = wv wo are identifiable: heads
// can be permuted, heads with equal theta merge (their omegas add), and a
// head with omega = 0 is invisible. CompareParameters compares modulo
// exactly these symmetries. Thread-safe: pure functions.
#ifndef ATTNORACLE_COMMON_LAYER_COMPARISON_H_
#define ATTNORACLE_COMMON_LAYER_COMPARISON_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/score.h"
#include "common/tensor.h"

namespace attnoracle {

// Bits are capped here when the worst error is exactly 0.
inline constexpr double kMaxBits = 64;

// Relative tolerance under which Canonicalize treats two thetas as equal and
// an omega as zero.
inline constexpr double kCanonicalRelTol = 1e-9;

struct FunctionalError {
  // sum ||Y_cand - Y_ref||^2 / sum ||Y_ref||^2 over the probe set.
  double rel_mse = 0;
  double max_abs_err = 0;
  double bits = 0;  // -log2(max_abs_err), at most kMaxBits
};

// Gaussian N(0, 1) tokens (d_model wide); `per_length` sequences at each of
// the lengths 1, 2, typical_length and 4 * typical_length, in that order,
// from Rng(DeriveSeed(seed, kProbeSet, 0)), row-major. typical_length >= 1.
std::vector<Matrix> DrawProbeSet(const LayerSpec& spec, uint64_t seed,
                                 int typical_length, int per_length);

// Forward(spec, params, x) for every x in `probes`. `params` must fit `spec`.
std::vector<Matrix> ForwardAll(const LayerSpec& spec, const LayerParams& params,
                               std::span<const Matrix> probes);

// `reference` and `candidate` must fit `spec` (CheckParams). A candidate
// whose outputs overflow (non-finite) scores rel_mse = max_abs_err =
// +infinity and bits = -infinity. When every reference output is 0,
// rel_mse is 0 for an exact candidate and +infinity otherwise.
FunctionalError CompareFunctions(const LayerSpec& spec,
                                 const LayerParams& reference,
                                 const LayerParams& candidate,
                                 std::span<const Matrix> probes);

// As CompareFunctions with the reference's outputs computed beforehand
// (ForwardAll), so a scorer computes them once.
FunctionalError CompareOutputs(const LayerSpec& spec,
                               std::span<const Matrix> reference_outputs,
                               const LayerParams& candidate,
                               std::span<const Matrix> probes);

struct CanonicalHead {
  Matrix theta;  // d_model x d_model
  Matrix omega;  // d_model x out_dim
  // score_scale * wk bq (d_model): the only identifiable part of the query
  // and key biases; empty without biases. Heads merge only when theta and
  // key_bias both agree.
  Vector key_bias;
};

// Heads with equal theta (within `rel_tol` of the larger Frobenius norm)
// merged into the first of them, omegas added; then heads whose omega norm
// is at most rel_tol times the largest omega norm dropped (all of them when
// every omega is 0). Order of first appearance is kept. `params` must fit
// `spec` in shape (finiteness is not required).
std::vector<CanonicalHead> Canonicalize(const LayerSpec& spec,
                                        const LayerParams& params,
                                        double rel_tol = kCanonicalRelTol);

// Which parameter errors a class identifies, and why not where it does not.
// One softmax layer (shared keys and values and tied weights included):
// theta and omega. With an FFN block only omega W1 is identifiable (an
// invertible map between them cancels): theta only. Linear attention:
// neither ((c theta, omega / c) computes the same function for every c != 0).
// Stacks: neither (no canonical form of a stack is known here).
// The FFN units (common/ffn_comparison.h): after one softmax layer, in a
// block without residual; with a residual, relu(-a) = relu(a) - a lets a
// unit flip its sign while omega absorbs the linear difference through the
// residual path, so units are not identifiable up to positive rescaling.
struct ParameterIdentifiability {
  bool theta = true;
  bool omega = true;
  bool ffn = false;
  // Why each omitted error is omitted, sentences joined by "; "; empty when
  // all three are reported.
  std::string note;
};
ParameterIdentifiability IdentifiabilityOf(const LayerSpec& spec);

// Sets the score's *_omitted flags and parameter_note from `which`, and
// zeroes the omitted errors: what the scorer reports, and what a score read
// back from a store (which keeps no flags) is given again.
void MarkOmitted(const ParameterIdentifiability& which, Score* score);

struct ParameterError {
  // sqrt(sum ||dtheta||_F^2 / sum ||theta_ref||_F^2) after matching heads by
  // an optimal assignment; an unmatched head counts with its whole norm.
  // When the reference sum is 0: 0 if the candidate matches exactly,
  // +infinity otherwise. Biases are not compared here (CompareFunctions
  // sees them).
  double theta_rel_err = 0;
  double omega_rel_err = 0;
};

// Canonicalizes both and calls CompareCanonical. Shapes must fit `spec`.
ParameterError CompareParameters(const LayerSpec& spec,
                                 const LayerParams& reference,
                                 const LayerParams& candidate);

// Matches heads by the assignment minimising
//   sum ||dtheta||^2 / sum ||theta_ref||^2 + ||domega||^2 / sum ||omega_ref||^2
// with the shorter list padded by empty (zero) heads; brute force over
// permutations up to kMaxBruteForceHeads heads, Hungarian beyond. A candidate
// with a non-finite entry scores +infinity in both.
ParameterError CompareCanonical(std::span<const CanonicalHead> reference,
                                std::span<const CanonicalHead> candidate);

inline constexpr int kMaxBruteForceHeads = 8;

// A minimum-cost perfect matching of a square cost matrix (finite entries):
// result[row] = column. Brute force up to kMaxBruteForceHeads rows, the
// Hungarian algorithm (O(n^3)) beyond.
std::vector<int> MinCostAssignment(ConstMatrixRef cost);

// The Hungarian algorithm alone (O(n^3)), at any size: a minimum-cost
// perfect matching of a square cost matrix (finite entries), result[row] =
// column. MinCostAssignment's path beyond kMaxBruteForceHeads rows, and the
// FFN units' matching (common/ffn_comparison.h) through it.
std::vector<int> HungarianAssignment(ConstMatrixRef cost);

// The counting bound: identifiable parameters (per head theta of rank
// min(head_dim, d_model) and omega of rank min(value_dim, d_model,
// out_dim), counted as r(m + n - r) for an m x n rank-r matrix; with biases,
// a key-bias vector per head, which lies in wk's column space and so has
// rank(theta) free numbers, and one output bias of out_dim) divided by the
// numbers one unit of access returns: out_dim per token for full readout,
// out_dim per sequence for last-position readout. For stacks, linear
// attention and FFN blocks: ParamCount(spec) (free numbers, an upper bound)
// over OutputDim(spec). `spec` must be resolved.
//
//   single head, d_model 16:            512 params -> 32 tokens
//   two heads, d_model 16, head_dim 8:  768 params -> 48 tokens
struct CountingBound {
  double identifiable_params = 0;
  bool per_sequence = false;  // true: units are sequences; false: tokens
  double units = 0;           // identifiable_params / out_dim
};

CountingBound CountingBoundOf(const LayerSpec& spec);

// Sets score's spend (queries, tokens) and its ratio to the counting bound of
// `spec`, in the bound's unit (the other ratio stays 0).
void SetCost(const LayerSpec& spec, uint64_t queries, uint64_t tokens,
             Score* score);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_LAYER_COMPARISON_H_
