#include "common/prior.h"

#include <cmath>

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
  LayerParams p;
  p.heads.resize(spec.heads);
  for (HeadParams& h : p.heads) {
    h.wq.resize(spec.d_model, spec.head_dim);
    h.wk.resize(spec.d_model, spec.head_dim);
    h.wv.resize(spec.d_model, spec.value_dim);
    h.wo.resize(spec.value_dim, spec.out_dim);
    Fill(rng, scale, h.wq);
    Fill(rng, scale, h.wk);
    Fill(rng, scale, h.wv);
    Fill(rng, scale, h.wo);
    if (spec.biases) {
      h.bq.resize(spec.head_dim);
      h.bk.resize(spec.head_dim);
      h.bv.resize(spec.value_dim);
      Fill(rng, scale, h.bq);
      Fill(rng, scale, h.bk);
      Fill(rng, scale, h.bv);
    }
  }
  if (spec.biases) {
    p.bo.resize(spec.out_dim);
    Fill(rng, scale, p.bo);
  }
  return p;
}

}  // namespace attnoracle
