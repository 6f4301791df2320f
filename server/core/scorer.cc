#include "server/core/scorer.h"

namespace attnoracle {

Scorer::Scorer(const LayerSpec& spec, uint64_t prior_seed,
               const LayerParams& secret)
    : spec_(spec),
      probes_(DrawProbeSet(spec, prior_seed, kProbeTypicalLengthTokens,
                           kProbeSequencesPerLength)),
      secret_outputs_(ForwardAll(spec, secret, probes_)),
      secret_canonical_(Canonicalize(spec, secret)),
      bound_(CountingBoundOf(spec)) {}

Score Scorer::ScoreHypothesis(const LayerParams& hypothesis,
                              const Usage& usage) const {
  const FunctionalError f =
      CompareOutputs(spec_, secret_outputs_, hypothesis, probes_);
  const ParameterError p =
      CompareCanonical(secret_canonical_, Canonicalize(spec_, hypothesis));
  Score score;
  score.functional_rel_err = f.rel_mse;
  score.max_abs_err = f.max_abs_err;
  score.bits = f.bits;
  const ParameterIdentifiability which = IdentifiabilityOf(spec_);
  score.theta_rel_err = which.theta ? p.theta_rel_err : 0;
  score.omega_rel_err = which.omega ? p.omega_rel_err : 0;
  score.theta_omitted = !which.theta;
  score.omega_omitted = !which.omega;
  score.parameter_note = which.note;
  SetCost(spec_, usage.queries_used, usage.tokens_used, &score);
  return score;
}

}  // namespace attnoracle
