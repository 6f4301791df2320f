#include "server/core/scorer.h"

#include <cmath>

#include "common/examples.h"
#include "common/ffn_comparison.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

std::vector<Matrix> ProbesFor(const LayerSpec& spec, const AccessPolicy& policy,
                              uint64_t prior_seed) {
  // Examples-only and both: the challenge's declared input distribution is
  // the examples'; only a queries-only challenge has none and gets gaussians.
  if (policy.access != Access::kQueries) {
    return DrawExampleProbeSet(spec, policy.examples, prior_seed,
                               kProbeSequencesPerLength);
  }
  return DrawProbeSet(spec, prior_seed, kProbeTypicalLengthTokens,
                      kProbeSequencesPerLength);
}

}  // namespace

std::vector<Matrix> DrawExampleProbeSet(const LayerSpec& spec,
                                        const ExampleDistribution& examples,
                                        uint64_t seed, int per_length) {
  Rng rng(DeriveSeed(seed, RngStream::kProbeSet, 1));
  std::vector<Matrix> probes;
  for (int s = 0; s < 4 * per_length; ++s) {
    Matrix x(examples.tokens, spec.d_model);
    FillFromDistribution(examples, rng, x);
    probes.push_back(std::move(x));
  }
  return probes;
}

LayerParams UnitOutputScale(const LayerParams& params) {
  double sq = params.bo.squaredNorm();
  for (const HeadParams& h : params.heads) sq += (h.wv * h.wo).squaredNorm();
  const double c = std::sqrt(sq);
  if (!(c > 0) || !std::isfinite(c)) return params;
  LayerParams out = params;
  for (HeadParams& h : out.heads) h.wo /= c;
  out.bo /= c;
  return out;
}

double SignDisagreement(std::span<const Matrix> reference,
                        std::span<const Matrix> outputs) {
  double differ = 0, total = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const Matrix& a = reference[i];
    const Matrix& b = outputs[i];
    for (Eigen::Index j = 0; j < a.size(); ++j) {
      // NaN >= 0 is false, so a NaN output disagrees with a >= 0 reference;
      // it is counted as disagreeing either way.
      const double y = b.data()[j];
      if (std::isnan(y) || (a.data()[j] >= 0) != (y >= 0)) ++differ;
      ++total;
    }
  }
  return total > 0 ? differ / total : 0;
}

Scorer::Scorer(const LayerSpec& spec, uint64_t prior_seed,
               const LayerParams& secret, const AccessPolicy& policy)
    : spec_(spec),
      signs_(policy.answers == Answers::kSign),
      probes_(ProbesFor(spec, policy, prior_seed)),
      secret_outputs_(
          ForwardAll(spec, signs_ ? UnitOutputScale(secret) : secret, probes_)),
      secret_(IdentifiabilityOf(spec).ffn ? secret : LayerParams{}),
      secret_canonical_(
          Canonicalize(spec, signs_ ? UnitOutputScale(secret) : secret)),
      bound_(CountingBoundOf(spec)) {}

Score Scorer::ScoreHypothesis(const LayerParams& hypothesis,
                              const Usage& usage) const {
  const LayerParams scaled =
      signs_ ? UnitOutputScale(hypothesis) : LayerParams{};
  const LayerParams& h = signs_ ? scaled : hypothesis;
  const FunctionalError f = CompareOutputs(spec_, secret_outputs_, h, probes_);
  const ParameterError p =
      CompareCanonical(secret_canonical_, Canonicalize(spec_, h));
  Score score;
  score.functional_rel_err = f.rel_mse;
  score.max_abs_err = f.max_abs_err;
  score.bits = f.bits;
  const ParameterIdentifiability which = IdentifiabilityOf(spec_);
  score.theta_rel_err = p.theta_rel_err;
  score.omega_rel_err = p.omega_rel_err;
  MarkOmitted(which, &score);
  if (which.ffn) {
    // The unscaled layers: UnitOutputScale scales omega, which would move
    // the units' inputs against their biases; CompareFfn removes the
    // output scale itself where signs hide it.
    score.ffn_rel_err = CompareFfn(spec_, secret_, hypothesis, signs_);
  }
  if (signs_) {
    // Positive rescaling keeps every sign, so the scaled layers suffice.
    score.sign_disagreement =
        SignDisagreement(secret_outputs_, ForwardAll(spec_, h, probes_));
  }
  SetCost(spec_, usage.queries_used, usage.tokens_used, &score);
  return score;
}

}  // namespace attnoracle
