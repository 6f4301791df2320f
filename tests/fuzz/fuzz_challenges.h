// The challenges the fuzz targets check inputs against: the built-in set
// (configs/default.textproto, which has sign and top-k answers and an
// examples-only challenge) plus one with tight limits, biases, a causal
// mask and last-position readout, and one with quantized answers and
// gaussian examples, so that every limit and every branch of
// the request checks is reachable with inputs of a few hundred bytes. Each
// comes with its secret and the scorer's probe set (the constants of
// server/core/scorer.h), computed once.
//
//   const FuzzChallenge& c = FuzzChallenges()[data[0] %
//   FuzzChallenges().size()]; absl::StatusOr<LayerParams> h =
//   ParamsFromProto(proto, c.config.spec);
#ifndef ATTNORACLE_TESTS_FUZZ_FUZZ_CHALLENGES_H_
#define ATTNORACLE_TESTS_FUZZ_FUZZ_CHALLENGES_H_

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "client/revealed_challenge.h"
#include "common/challenge_config.h"
#include "common/layer_comparison.h"
#include "common/layer_params.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/tensor.h"
#include "common/transcript.h"
#include "server/core/scorer.h"
#include "tests/fuzz/fuzz_check.h"

namespace attnoracle::fuzz {

inline constexpr char kTightChallengeText[] = R"pb(
  challenge {
    id: "tight-limits-d4"
    spec {
      d_model: 4
      heads: 2
      head_dim: 3
      mask: MASK_CAUSAL
      readout: READOUT_LAST
      biases: true
    }
    prior { seed: 9 }
    policy {
      precision: PRECISION_FLOAT32
      noise_sigma: 0.5
      limits {
        max_abs_input: 10
        max_tokens_per_sequence: 4
        max_sequences_per_request: 3
        max_tokens_per_request: 6
      }
    }
  }
  challenge {
    id: "quantized-examples-d3"
    spec { d_model: 3 heads: 1 out_dim: 2 }
    prior { seed: 11 }
    policy {
      access: ACCESS_BOTH
      examples { inputs: INPUTS_GAUSSIAN tokens: 2 scale: 0.5 }
      answers: ANSWERS_QUANTIZED
      quantize_step: 0.01
      limits { max_tokens_per_sequence: 4 max_tokens_per_request: 8 }
    }
  }
)pb";

struct FuzzChallenge {
  ChallengeConfig config;
  LayerParams secret;
  std::vector<Matrix> probes;
  std::vector<Matrix> secret_outputs;
  std::vector<CanonicalHead> secret_canonical;
};

inline const std::vector<FuzzChallenge>& FuzzChallenges() {
  static const std::vector<FuzzChallenge>* const challenges = [] {
    auto* out = new std::vector<FuzzChallenge>;
    absl::StatusOr<std::vector<ChallengeConfig>> defaults =
        ParseChallengeSet(DefaultChallengeSetText(), "built-in challenges");
    absl::StatusOr<std::vector<ChallengeConfig>> tight =
        ParseChallengeSet(kTightChallengeText, "tight challenge");
    FUZZ_CHECK(defaults.ok() && tight.ok());
    std::vector<ChallengeConfig> configs = *defaults;
    configs.insert(configs.end(), tight->begin(), tight->end());
    for (ChallengeConfig& config : configs) {
      FuzzChallenge c;
      c.secret = DrawSecret(config.spec, config.prior);
      c.probes =
          DrawProbeSet(config.spec, config.prior.seed,
                       kProbeTypicalLengthTokens, kProbeSequencesPerLength);
      c.secret_outputs = ForwardAll(config.spec, c.secret, c.probes);
      c.secret_canonical = Canonicalize(config.spec, c.secret);
      c.config = std::move(config);
      out->push_back(std::move(c));
    }
    return out;
  }();
  return *challenges;
}

inline constexpr absl::string_view kTightChallengeId = "tight-limits-d4";
inline constexpr absl::string_view kRevealNonce = "fuzz-nonce";

// The reveal of the tight challenge that transcripts are verified against;
// its commitment is the one "published" before any query.
inline const RevealedChallenge& FuzzReveal() {
  static const RevealedChallenge* const reveal = [] {
    for (const FuzzChallenge& c : FuzzChallenges()) {
      if (c.config.id != kTightChallengeId) continue;
      const std::string nonce(kRevealNonce);
      return new RevealedChallenge{
          c.config, c.secret, nonce, c.config.prior.seed,
          // as verify requires: the seed's
          // derivation for stream index 0
          DeriveSeed(c.config.prior.seed, RngStream::kNoise, 0),
          Commitment(c.secret, nonce)};
    }
    std::abort();
  }();
  return *reveal;
}

// Same shape and the same bits (so -0.0 differs from 0.0, and NaN equals
// itself): what a lossless round trip must give back.
inline bool SameBits(ConstMatrixRef a, ConstMatrixRef b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      const double x = a(i, j);
      const double y = b(i, j);
      if (std::memcmp(&x, &y, sizeof x) != 0) return false;
    }
  }
  return true;
}

inline bool SameVectorBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

inline bool SameParams(const LayerParams& a, const LayerParams& b) {
  if (a.heads.size() != b.heads.size() || !SameVectorBits(a.bo, b.bo))
    return false;
  for (size_t h = 0; h < a.heads.size(); ++h) {
    const HeadParams& x = a.heads[h];
    const HeadParams& y = b.heads[h];
    if (!SameBits(x.wq, y.wq) || !SameBits(x.wk, y.wk) ||
        !SameBits(x.wv, y.wv) || !SameBits(x.wo, y.wo) ||
        !SameVectorBits(x.bq, y.bq) || !SameVectorBits(x.bk, y.bk) ||
        !SameVectorBits(x.bv, y.bv)) {
      return false;
    }
  }
  return true;
}

// What CheckParams promises, restated independently: the spec's number of
// heads, outer dimensions d_model and out_dim, consistent inner dimensions,
// biases exactly when the spec has them, every entry finite.
inline void CheckHeadsFit(const LayerSpec& spec,
                          const std::vector<HeadParams>& heads,
                          const Vector& bo, int out_dim) {
  FUZZ_CHECK(static_cast<int>(heads.size()) == spec.heads);
  const Eigen::Index bias = spec.biases ? 1 : 0;
  for (size_t i = 0; i < heads.size(); ++i) {
    const HeadParams& h = heads[i];
    FUZZ_CHECK(h.wq.rows() == spec.d_model && h.wk.rows() == spec.d_model);
    FUZZ_CHECK(h.wq.cols() >= 1 && h.wk.cols() == h.wq.cols());
    FUZZ_CHECK(h.wv.rows() == spec.d_model && h.wv.cols() >= 1);
    FUZZ_CHECK(h.wo.rows() == h.wv.cols() && h.wo.cols() == out_dim);
    FUZZ_CHECK(h.bq.size() == bias * h.wq.cols());
    FUZZ_CHECK(h.bk.size() == bias * h.wq.cols());
    FUZZ_CHECK(h.bv.size() == bias * h.wv.cols());
    FUZZ_CHECK(h.wq.allFinite() && h.wk.allFinite() && h.wv.allFinite() &&
               h.wo.allFinite() && h.bq.allFinite() && h.bk.allFinite() &&
               h.bv.allFinite());
    // Tied and shared blocks are copies.
    if (spec.tie_qk) FUZZ_CHECK(h.wk == h.wq);
    const HeadParams& lead = heads[KvGroupStart(spec, static_cast<int>(i))];
    FUZZ_CHECK(h.wk == lead.wk && h.wv == lead.wv);
  }
  FUZZ_CHECK(bo.size() == bias * out_dim && bo.allFinite());
}

inline void CheckFitsSpec(const LayerSpec& spec, const LayerParams& p) {
  FUZZ_CHECK(static_cast<int>(p.lower_layers.size()) == spec.layers - 1);
  for (const AttentionLayerParams& l : p.lower_layers) {
    CheckHeadsFit(spec, l.heads, l.bo, spec.d_model);
  }
  CheckHeadsFit(spec, p.heads, p.bo, spec.out_dim);
  if (spec.has_ffn) {
    const Eigen::Index bias = spec.ffn.biases ? 1 : 0;
    FUZZ_CHECK(p.ffn.w1.rows() == spec.out_dim &&
               p.ffn.w1.cols() == spec.ffn.hidden && p.ffn.w1.allFinite());
    FUZZ_CHECK(p.ffn.w2.rows() == spec.ffn.hidden &&
               p.ffn.w2.cols() == spec.ffn.out_dim && p.ffn.w2.allFinite());
    FUZZ_CHECK(p.ffn.b1.size() == bias * spec.ffn.hidden);
    FUZZ_CHECK(p.ffn.b2.size() == bias * spec.ffn.out_dim);
  } else {
    FUZZ_CHECK(p.ffn.w1.size() == 0 && p.ffn.w2.size() == 0);
  }
}

}  // namespace attnoracle::fuzz

#endif  // ATTNORACLE_TESTS_FUZZ_FUZZ_CHALLENGES_H_
