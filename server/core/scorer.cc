#include "server/core/scorer.h"

#include <utility>

namespace attnoracle {

Scorer::Scorer(std::shared_ptr<const Challenge> challenge)
    : challenge_(std::move(challenge)) {
  const ChallengeConfig& config = challenge_->config;
  probes_ = DrawProbeSet(config.spec, config.prior.seed,
                         kProbeTypicalLengthTokens, kProbeSequencesPerLength);
  secret_outputs_ = ForwardAll(config.spec, challenge_->secret, probes_);
  secret_canonical_ = Canonicalize(config.spec, challenge_->secret);
  bound_ = CountingBoundOf(config.spec);
}

Score Scorer::ScoreHypothesis(const LayerParams& hypothesis,
                              const Usage& usage) const {
  const LayerSpec& spec = challenge_->config.spec;
  const FunctionalError f =
      CompareOutputs(spec, secret_outputs_, hypothesis, probes_);
  const ParameterError p =
      CompareCanonical(secret_canonical_, Canonicalize(spec, hypothesis));
  Score score;
  score.functional_rel_err = f.rel_mse;
  score.max_abs_err = f.max_abs_err;
  score.bits = f.bits;
  score.theta_rel_err = p.theta_rel_err;
  score.omega_rel_err = p.omega_rel_err;
  SetCost(spec, usage.queries_used, usage.tokens_used, &score);
  return score;
}

}  // namespace attnoracle
