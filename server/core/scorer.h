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
#include <vector>

#include "common/access_policy.h"
#include "common/layer_comparison.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/score.h"
#include "common/tensor.h"

namespace attnoracle {

// The hidden probe set: kProbeSequencesPerLength gaussian sequences at each
// of the lengths 1, 2, kProbeTypicalLengthTokens and 4x it.
inline constexpr int kProbeTypicalLengthTokens = 8;
inline constexpr int kProbeSequencesPerLength = 16;

class Scorer {
 public:
  // Draws the probe set with DrawProbeSet(spec, prior_seed, ...) (stream
  // kProbeSet) and caches the secret's outputs on it and its canonical
  // form. `spec` must be resolved and `secret` fit it.
  Scorer(const LayerSpec& spec, uint64_t prior_seed, const LayerParams& secret);

  // `hypothesis` must fit the spec (CheckParams OK). Full metrics: functional
  // errors on the probe set, parameter errors after canonicalisation, the
  // spend in `usage` and its ratio to the counting bound in the bound's unit
  // (tokens for full readout, sequences for last-position readout).
  Score ScoreHypothesis(const LayerParams& hypothesis,
                        const Usage& usage) const;

  const std::vector<Matrix>& probes() const { return probes_; }
  const CountingBound& bound() const { return bound_; }

 private:
  LayerSpec spec_;
  std::vector<Matrix> probes_;
  std::vector<Matrix> secret_outputs_;
  std::vector<CanonicalHead> secret_canonical_;
  CountingBound bound_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_SCORER_H_
