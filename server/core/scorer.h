// Scorer: scores submitted hypotheses against one secret, on a hidden probe
// set drawn from the challenge's prior seed (never sent to anyone) and
// modulo the layer's symmetries (common/layer_comparison.h).
//
//   Scorer scorer(spec, prior_seed, secret);  // draws probes, runs the secret
//   once Score s = scorer.ScoreHypothesis(hypothesis, usage);
//
// Thread-safe: immutable after construction.
#ifndef ATTNORACLE_SERVER_CORE_SCORER_H_
#define ATTNORACLE_SERVER_CORE_SCORER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/access_policy.h"
#include "common/layer_comparison.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/score.h"
#include "common/tensor.h"

namespace attnoracle {

// The hidden probe set: kProbeSequencesPerLength gaussian sequences at each
// of the lengths 1, 2, kProbeTypicalLengthTokens and 4x it; on an
// examples-only challenge 4 * kProbeSequencesPerLength sequences drawn from
// the example distribution instead (DrawExampleProbeSet).
inline constexpr int kProbeTypicalLengthTokens = 8;
inline constexpr int kProbeSequencesPerLength = 16;

class Scorer {
 public:
  // Draws the probe set with DrawProbeSet(spec, prior_seed, ...) (stream
  // kProbeSet) and caches the secret's outputs on it and its canonical
  // form. `spec` must be resolved and `secret` fit it.
  // Where `policy` offers examples (ACCESS_EXAMPLES or ACCESS_BOTH) the
  // probes come from its example distribution (DrawExampleProbeSet); under
  // ANSWERS_SIGN the score also carries the sign disagreement, and the
  // functional and parameter errors compare both layers scaled to unit output
  // norm (UnitOutputScale), since signs do not show the scale.
  Scorer(const LayerSpec& spec, uint64_t prior_seed, const LayerParams& secret,
         const AccessPolicy& policy = {});

  // `hypothesis` must fit the spec (CheckParams OK). Full metrics: functional
  // errors on the probe set, parameter errors after canonicalisation (the
  // FFN units' where IdentifiabilityOf(spec).ffn), the
  // spend in `usage` and its ratio to the counting bound in the bound's unit
  // (tokens for full readout, sequences for last-position readout).
  Score ScoreHypothesis(const LayerParams& hypothesis,
                        const Usage& usage) const;

  const std::vector<Matrix>& probes() const { return probes_; }
  const CountingBound& bound() const { return bound_; }

 private:
  LayerSpec spec_;
  bool signs_ = false;  // ANSWERS_SIGN
  std::vector<Matrix> probes_;
  std::vector<Matrix> secret_outputs_;
  // A copy for CompareFfn where the class identifies FFN units; empty
  // otherwise (a secret can take 128 MiB).
  LayerParams secret_;
  std::vector<CanonicalHead> secret_canonical_;
  CountingBound bound_;
};

// The hidden probe set of an examples-only challenge: per_length * 4
// sequences of examples.tokens tokens, entries from
// Rng(DeriveSeed(seed, kProbeSet, 1)) as FillFromDistribution draws them.
std::vector<Matrix> DrawExampleProbeSet(const LayerSpec& spec,
                                        const ExampleDistribution& examples,
                                        uint64_t seed, int per_length);

// `params` with every head's wo and the output bias divided by
// c = sqrt(sum_h ||wv_h wo_h||_F^2 + ||bo||^2), so the layer's output has
// unit scale in that sense (unchanged when c is 0 or not finite).
LayerParams UnitOutputScale(const LayerParams& params);

// The share of entries of `outputs` whose sign (>= 0 or < 0) differs from
// that of `reference` (same shapes); 0 for no entries, 1 where an output is
// NaN.
double SignDisagreement(std::span<const Matrix> reference,
                        std::span<const Matrix> outputs);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_SCORER_H_
