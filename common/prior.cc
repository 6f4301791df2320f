#include "common/prior.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/hashing.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

template <typename M>
void Fill(Rng& rng, double scale, M& m) {
  // Row-major order by construction of Matrix; vectors are one row or column.
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = scale * rng.NextGaussian();
  }
}

}  // namespace

uint64_t LearnerStreamIndex(const std::string& learner) {
  const std::string digest = Sha256(learner);
  uint64_t index = 0;
  for (int i = 0; i < 8; ++i) {
    index = (index << 8) | static_cast<unsigned char>(digest[i]);
  }
  return index == 0 ? 1 : index;
}

LayerParams DrawSecret(const LayerSpec& spec, const Prior& prior,
                       uint64_t stream_index) {
  const double scale =
      prior.scale > 0 ? prior.scale : 1.0 / std::sqrt(spec.d_model);
  Rng rng(DeriveSeed(prior.seed, RngStream::kSecret, stream_index));
  // One attention layer whose heads map to `out_dim`. A head that shares
  // (kv group) or ties (tie_qk) a block copies it instead of drawing it.
  auto draw_layer = [&](std::vector<HeadParams>& heads, Vector& bo,
                        int out_dim) {
    heads.resize(spec.heads);
    for (int i = 0; i < spec.heads; ++i) {
      HeadParams& h = heads[i];
      const HeadParams* lead =
          KvGroupStart(spec, i) != i ? &heads[KvGroupStart(spec, i)] : nullptr;
      h.wq.resize(spec.d_model, spec.head_dim);
      h.wk.resize(spec.d_model, spec.head_dim);
      h.wv.resize(spec.d_model, spec.value_dim);
      h.wo.resize(spec.value_dim, out_dim);
      Fill(rng, scale, h.wq);
      if (spec.tie_qk) {
        h.wk = h.wq;
      } else if (lead != nullptr) {
        h.wk = lead->wk;
      } else {
        Fill(rng, scale, h.wk);
      }
      if (lead != nullptr) {
        h.wv = lead->wv;
      } else {
        Fill(rng, scale, h.wv);
      }
      Fill(rng, scale, h.wo);
      if (spec.biases) {
        h.bq.resize(spec.head_dim);
        h.bk.resize(spec.head_dim);
        h.bv.resize(spec.value_dim);
        Fill(rng, scale, h.bq);
        if (spec.tie_qk) {
          h.bk = h.bq;
        } else if (lead != nullptr) {
          h.bk = lead->bk;
        } else {
          Fill(rng, scale, h.bk);
        }
        if (lead != nullptr) {
          h.bv = lead->bv;
        } else {
          Fill(rng, scale, h.bv);
        }
      }
    }
    if (spec.biases) {
      bo.resize(out_dim);
      Fill(rng, scale, bo);
    }
  };
  LayerParams p;
  p.lower_layers.resize(std::max(spec.layers, 1) - 1);
  for (AttentionLayerParams& layer : p.lower_layers) {
    draw_layer(layer.heads, layer.bo, spec.d_model);
  }
  draw_layer(p.heads, p.bo, spec.out_dim);
  if (spec.has_ffn) {
    FfnParams& f = p.ffn;
    f.w1.resize(spec.out_dim, spec.ffn.hidden);
    f.w2.resize(spec.ffn.hidden, spec.ffn.out_dim);
    Fill(rng, scale, f.w1);
    if (spec.ffn.biases) {
      f.b1.resize(spec.ffn.hidden);
      Fill(rng, scale, f.b1);
    }
    Fill(rng, scale, f.w2);
    if (spec.ffn.biases) {
      f.b2.resize(spec.ffn.out_dim);
      Fill(rng, scale, f.b2);
    }
  }
  return p;
}

}  // namespace attnoracle
