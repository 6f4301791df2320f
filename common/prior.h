// Draws a secret layer from a seeded prior, identically on every machine.
//
//   LayerParams secret = DrawSecret(spec, Prior{.scale = 0.25, .seed = 7});
#ifndef ATTNORACLE_COMMON_PRIOR_H_
#define ATTNORACLE_COMMON_PRIOR_H_

#include <cstdint>
#include <string>

#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"

namespace attnoracle {

// Every entry i.i.d. N(0, prior.scale^2) (scale 0 means 1/sqrt(d_model)),
// drawn from Rng(DeriveSeed(prior.seed, kSecret, stream_index)) in the
// order: for each attention layer, first layer first, for each head wq, wk,
// wv, wo (row-major), then bq, bk, bv if the spec has biases, then the
// layer's bo; finally the FFN block's w1, b1, w2, b2 (biases only with
// ffn.biases). A block a head does not own is copied, not drawn: wk (bk)
// under tie_qk is its wq (bq); wk, wv (bk, bv) of a head that is not the
// first of its kv group are the first's. A one-layer spec without sharing,
// tying or FFN draws exactly as before these existed. head_dim < d_model
// gives low-rank heads.
// `stream_index` separates secrets drawn from one seed (0 for a challenge's
// shared secret). `spec` must be resolved.
LayerParams DrawSecret(const LayerSpec& spec, const Prior& prior,
                       uint64_t stream_index = 0);

// The stream index of a learner's own secret and noise: the first 8 bytes
// of SHA-256(name) read big-endian, 1 if those are all zero (0 is the
// shared secret's and the organiser's). Here rather than in the server so
// that verify can recompute what a seed derives (docs/VERIFICATION.md).
uint64_t LearnerStreamIndex(const std::string& learner);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_PRIOR_H_
