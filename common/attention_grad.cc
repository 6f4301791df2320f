#include "common/attention_grad.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <vector>

#include "common/attention.h"

namespace attnoracle {
namespace {

// Visits every block of the flat layout in order, with a pointer to its
// storage; `Block` is Matrix or Vector (possibly const). Blocks a head does
// not own (tied wk, bk; wk, wv, bk, bv of a head that is not the first of
// its kv group) are skipped: the flat layout holds free numbers only.
template <typename Heads, typename Fn>
void ForEachLayerBlock(const LayerSpec& spec, Heads& heads, auto& bo, Fn&& fn) {
  for (int i = 0; i < static_cast<int>(heads.size()); ++i) {
    auto& head = heads[i];
    const bool lead = KvGroupStart(spec, i) == i;
    const bool own_k = lead && !spec.tie_qk;
    fn(head.wq);
    if (own_k) fn(head.wk);
    if (lead) fn(head.wv);
    fn(head.wo);
    if (spec.biases) {
      fn(head.bq);
      if (own_k) fn(head.bk);
      if (lead) fn(head.bv);
    }
  }
  if (spec.biases) fn(bo);
}

template <typename Params, typename Fn>
void ForEachBlock(const LayerSpec& spec, Params& params, Fn&& fn) {
  for (auto& layer : params.lower_layers) {
    ForEachLayerBlock(spec, layer.heads, layer.bo, fn);
  }
  ForEachLayerBlock(spec, params.heads, params.bo, fn);
  if (spec.has_ffn) {
    fn(params.ffn.w1);
    if (spec.ffn.biases) fn(params.ffn.b1);
    fn(params.ffn.w2);
    if (spec.ffn.biases) fn(params.ffn.b2);
  }
}

// Copies every shared or tied block from its owner (after an unflatten).
void CopyShared(const LayerSpec& spec, std::vector<HeadParams>& heads) {
  for (int i = 0; i < static_cast<int>(heads.size()); ++i) {
    HeadParams& h = heads[i];
    const int first = KvGroupStart(spec, i);
    if (spec.tie_qk) {
      h.wk = h.wq;
      h.bk = h.bq;
    } else if (first != i) {
      h.wk = heads[first].wk;
      h.bk = heads[first].bk;
    }
    if (first != i) {
      h.wv = heads[first].wv;
      h.bv = heads[first].bv;
    }
  }
}

// Adds the gradient of every copy into its owner (before a flatten): the
// loss depends on an owned block through each of its copies.
void GatherShared(const LayerSpec& spec, std::vector<HeadParams>& grads) {
  for (int i = 0; i < static_cast<int>(grads.size()); ++i) {
    HeadParams& g = grads[i];
    const int first = KvGroupStart(spec, i);
    if (spec.tie_qk) {
      g.wq += g.wk;
      if (spec.biases) g.bq += g.bk;
    } else if (first != i) {
      grads[first].wk += g.wk;
      if (spec.biases) grads[first].bk += g.bk;
    }
    if (first != i) {
      grads[first].wv += g.wv;
      if (spec.biases) grads[first].bv += g.bv;
    }
  }
}

void ShapeHeads(const LayerSpec& spec, int out_dim,
                std::vector<HeadParams>* heads, Vector* bo) {
  heads->resize(spec.heads);
  for (HeadParams& h : *heads) {
    h.wq.resize(spec.d_model, spec.head_dim);
    h.wk.resize(spec.d_model, spec.head_dim);
    h.wv.resize(spec.d_model, spec.value_dim);
    h.wo.resize(spec.value_dim, out_dim);
    h.bq.resize(spec.biases ? spec.head_dim : 0);
    h.bk.resize(spec.biases ? spec.head_dim : 0);
    h.bv.resize(spec.biases ? spec.value_dim : 0);
  }
  bo->resize(spec.biases ? out_dim : 0);
}

// Gives `params` the shapes of `spec` (no allocation when they already fit).
void ShapeLike(const LayerSpec& spec, LayerParams* params) {
  params->lower_layers.resize(std::max(spec.layers, 1) - 1);
  for (AttentionLayerParams& l : params->lower_layers) {
    ShapeHeads(spec, spec.d_model, &l.heads, &l.bo);
  }
  ShapeHeads(spec, spec.out_dim, &params->heads, &params->bo);
  FfnParams& f = params->ffn;
  const bool ffn = spec.has_ffn, fb = ffn && spec.ffn.biases;
  f.w1.resize(ffn ? spec.out_dim : 0, ffn ? spec.ffn.hidden : 0);
  f.b1.resize(fb ? spec.ffn.hidden : 0);
  f.w2.resize(ffn ? spec.ffn.hidden : 0, ffn ? spec.ffn.out_dim : 0);
  f.b2.resize(fb ? spec.ffn.out_dim : 0);
}

void ShapeHeadsLike(const std::vector<HeadParams>& params, const Vector& bo,
                    std::vector<HeadParams>* grads, Vector* gbo) {
  grads->resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const HeadParams& p = params[i];
    HeadParams& g = (*grads)[i];
    g.wq.resize(p.wq.rows(), p.wq.cols());
    g.wk.resize(p.wk.rows(), p.wk.cols());
    g.wv.resize(p.wv.rows(), p.wv.cols());
    g.wo.resize(p.wo.rows(), p.wo.cols());
    g.bq.resize(p.bq.size());
    g.bk.resize(p.bk.size());
    g.bv.resize(p.bv.size());
  }
  gbo->resize(bo.size());
}

// Gives `grad` the shapes of `params`.
void ShapeLike(const LayerParams& params, LayerParams* grad) {
  grad->lower_layers.resize(params.lower_layers.size());
  for (size_t l = 0; l < params.lower_layers.size(); ++l) {
    ShapeHeadsLike(params.lower_layers[l].heads, params.lower_layers[l].bo,
                   &grad->lower_layers[l].heads, &grad->lower_layers[l].bo);
  }
  ShapeHeadsLike(params.heads, params.bo, &grad->heads, &grad->bo);
  const FfnParams& f = params.ffn;
  grad->ffn.w1.resize(f.w1.rows(), f.w1.cols());
  grad->ffn.b1.resize(f.b1.size());
  grad->ffn.w2.resize(f.w2.rows(), f.w2.cols());
  grad->ffn.b2.resize(f.b2.size());
}

void SetZero(LayerParams* grad) {
  auto zero_heads = [](std::vector<HeadParams>& heads, Vector& bo) {
    for (HeadParams& h : heads) {
      for (Matrix* m : {&h.wq, &h.wk, &h.wv, &h.wo}) m->setZero();
      for (Vector* v : {&h.bq, &h.bk, &h.bv}) v->setZero();
    }
    bo.setZero();
  };
  for (AttentionLayerParams& l : grad->lower_layers) zero_heads(l.heads, l.bo);
  zero_heads(grad->heads, grad->bo);
  grad->ffn.w1.setZero();
  grad->ffn.b1.setZero();
  grad->ffn.w2.setZero();
  grad->ffn.b2.setZero();
}

}  // namespace

int ParamCount(const LayerSpec& spec) {
  const int k = spec.head_dim, v = spec.value_dim, d = spec.d_model;
  auto layer = [&](int out_dim) {
    int count = 0;
    for (int i = 0; i < spec.heads; ++i) {
      const bool lead = KvGroupStart(spec, i) == i;
      const bool own_k = lead && !spec.tie_qk;
      count += d * k + v * out_dim + (own_k ? d * k : 0) + (lead ? d * v : 0);
      if (spec.biases) count += k + (own_k ? k : 0) + (lead ? v : 0);
    }
    return count + (spec.biases ? out_dim : 0);
  };
  int count = (std::max(spec.layers, 1) - 1) * layer(d) + layer(spec.out_dim);
  if (spec.has_ffn) {
    const FfnSpec& f = spec.ffn;
    count += spec.out_dim * f.hidden + f.hidden * f.out_dim +
             (f.biases ? f.hidden + f.out_dim : 0);
  }
  return count;
}

Vector FlattenParams(const LayerSpec& spec, const LayerParams& params) {
  Vector flat(ParamCount(spec));
  Eigen::Index at = 0;
  ForEachBlock(spec, params, [&](const auto& block) {
    flat.segment(at, block.size()) =
        Eigen::Map<const Vector>(block.data(), block.size());
    at += block.size();
  });
  assert(at == flat.size());
  return flat;
}

void UnflattenParamsInto(const LayerSpec& spec,
                         const Eigen::Ref<const Vector>& flat,
                         LayerParams* params) {
  assert(flat.size() == ParamCount(spec));
  ShapeLike(spec, params);
  Eigen::Index at = 0;
  ForEachBlock(spec, *params, [&](auto& block) {
    Eigen::Map<Vector>(block.data(), block.size()) =
        flat.segment(at, block.size());
    at += block.size();
  });
  for (AttentionLayerParams& l : params->lower_layers) {
    CopyShared(spec, l.heads);
  }
  CopyShared(spec, params->heads);
}

LayerParams UnflattenParams(const LayerSpec& spec,
                            const Eigen::Ref<const Vector>& flat) {
  LayerParams params;
  UnflattenParamsInto(spec, flat, &params);
  return params;
}

AttentionLoss::AttentionLoss(const LayerSpec& spec,
                             std::span<const Matrix> inputs,
                             std::span<const Matrix> targets)
    : spec_(spec), last_only_(spec.readout == Readout::kLast) {
  assert(inputs.size() == targets.size());
  Eigen::Index tokens = 0, query_rows = 0, weights = 0, max_weights = 0;
  for (const Matrix& x : inputs) {
    assert(x.rows() >= 1 && x.cols() == spec.d_model);
    const Eigen::Index m = last_only_ ? 1 : x.rows();
    token_offsets_.push_back(tokens);
    query_offsets_.push_back(query_rows);
    p_offsets_.push_back(weights);
    lengths_.push_back(x.rows());
    tokens += x.rows();
    query_rows += m;
    weights += m * x.rows();
    max_weights = std::max(max_weights, m * x.rows());
  }
  x_.resize(tokens, spec.d_model);
  t_.resize(query_rows, OutputDim(spec));
  if (last_only_) x_query_.resize(query_rows, spec.d_model);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Eigen::Index n = lengths_[i];
    const Eigen::Index m = last_only_ ? 1 : n;
    assert(targets[i].rows() == m && targets[i].cols() == OutputDim(spec));
    x_.middleRows(token_offsets_[i], n) = inputs[i];
    if (last_only_) x_query_.row(i) = inputs[i].row(n - 1);
    t_.middleRows(query_offsets_[i], m) = targets[i];
  }
  target_sq_norm_ = t_.squaredNorm();
  cache_.resize(spec.heads);
  for (HeadCache& c : cache_) c.p.resize(weights);
  dp_.resize(max_weights);
}

double AttentionLoss::Forward(const LayerParams& params) {
  const Matrix& xq = last_only_ ? x_query_ : x_;
  const bool causal = spec_.mask == Mask::kCausal && !last_only_;
  const bool linear = spec_.attention == Attention::kLinear;
  // Without an FFN block the attention output minus the targets builds up
  // in residual_ directly; with one, the attention output in z_ first.
  Matrix& out = spec_.has_ffn ? z_ : residual_;
  if (spec_.biases) {
    out.resize(t_.rows(), spec_.out_dim);
    out.rowwise() = params.bo.transpose();
  } else {
    out.setZero(t_.rows(), spec_.out_dim);
  }
  if (!spec_.has_ffn) out -= t_;
  if (spec_.residual) out += xq;
  for (size_t h = 0; h < params.heads.size(); ++h) {
    const HeadParams& head = params.heads[h];
    HeadCache& c = cache_[h];
    c.q.noalias() = xq * head.wq;
    c.k.noalias() = x_ * head.wk;
    c.v.noalias() = x_ * head.wv;
    if (spec_.biases) {
      c.q.rowwise() += head.bq.transpose();
      c.k.rowwise() += head.bk.transpose();
      c.v.rowwise() += head.bv.transpose();
    }
    c.z.resize(xq.rows(), head.wv.cols());
    for (size_t s = 0; s < lengths_.size(); ++s) {
      const Eigen::Index n = lengths_[s];
      const Eigen::Index m = last_only_ ? 1 : n;
      MatrixMap p(c.p.data() + p_offsets_[s], m, n);
      const auto q = c.q.middleRows(query_offsets_[s], m);
      const auto k = c.k.middleRows(token_offsets_[s], n);
      const auto v = c.v.middleRows(token_offsets_[s], n);
      p.noalias() = q * k.transpose();
      p *= spec_.score_scale;
      if (causal) {
        for (Eigen::Index i = 0; i + 1 < n; ++i) {
          p.row(i).tail(n - 1 - i).setConstant(
              linear ? 0.0 : -std::numeric_limits<double>::infinity());
        }
      }
      if (!linear) SoftmaxRows(p);
      c.z.middleRows(query_offsets_[s], m).noalias() = p * v;
    }
    out.noalias() += c.z * head.wo;
  }
  if (spec_.has_ffn) {
    const FfnParams& f = params.ffn;
    pre_.noalias() = z_ * f.w1;
    if (spec_.ffn.biases) pre_.rowwise() += f.b1.transpose();
    act_ = pre_.cwiseMax(0.0);
    residual_.noalias() = act_ * f.w2;
    if (spec_.ffn.biases) residual_.rowwise() += f.b2.transpose();
    if (spec_.ffn.residual) residual_ += z_;
    residual_ -= t_;
  }
  return 0.5 * residual_.squaredNorm();
}

// With G = dL/dY = residual, per head and sequence (P the attention weights,
// S the scaled scores):
//   dWo = Z^T G, dZ = G Wo^T, dV = P^T dZ, dP = dZ V^T,
//   dS = P .* (dP - rowsum(P .* dP)), dQ = scale dS K, dK = scale dS^T Q,
//   dWq = Xq^T dQ, dWk = X^T dK, dWv = X^T dV; bias gradients are column
//   sums. Masked weights are exactly 0, so dS vanishes there too.
void AttentionLoss::Backward(const LayerParams& params, LayerParams* grad) {
  const Matrix& xq = last_only_ ? x_query_ : x_;
  const bool linear = spec_.attention == Attention::kLinear;
  const bool causal = spec_.mask == Mask::kCausal && !last_only_;
  ShapeLike(params, grad);
  // dL/d(attention output): the residual itself, or back through the FFN
  // block (see EvaluateGeneral).
  const Matrix* dy = &residual_;
  if (spec_.has_ffn) {
    const FfnParams& f = params.ffn;
    grad->ffn.w2.noalias() = act_.transpose() * residual_;
    if (spec_.ffn.biases) grad->ffn.b2 = residual_.colwise().sum().transpose();
    dh_.noalias() = residual_ * f.w2.transpose();
    dh_.array() *= (pre_.array() > 0).cast<double>();
    grad->ffn.w1.noalias() = z_.transpose() * dh_;
    if (spec_.ffn.biases) grad->ffn.b1 = dh_.colwise().sum().transpose();
    dz_.noalias() = dh_ * f.w1.transpose();
    if (spec_.ffn.residual) dz_ += residual_;
    dy = &dz_;
  }
  const Matrix& g_out = *dy;
  if (spec_.biases) grad->bo = g_out.colwise().sum().transpose();
  for (size_t h = 0; h < params.heads.size(); ++h) {
    const HeadParams& head = params.heads[h];
    HeadParams& g = grad->heads[h];
    HeadCache& c = cache_[h];
    g.wo.noalias() = c.z.transpose() * g_out;
    c.dz.noalias() = g_out * head.wo.transpose();
    c.dq.resize(c.q.rows(), c.q.cols());
    c.dk.resize(c.k.rows(), c.k.cols());
    c.dv.resize(c.v.rows(), c.v.cols());
    for (size_t s = 0; s < lengths_.size(); ++s) {
      const Eigen::Index n = lengths_[s];
      const Eigen::Index m = last_only_ ? 1 : n;
      const Eigen::Index qo = query_offsets_[s], to = token_offsets_[s];
      MatrixMap p(c.p.data() + p_offsets_[s], m, n);
      const auto dz = c.dz.middleRows(qo, m);
      c.dv.middleRows(to, n).noalias() = p.transpose() * dz;
      // dP overwrites P in place after dV no longer needs it: first
      // D = P .* dP, then dS = D - P .* rowsum(D).
      MatrixMap d(dp_.data(), m, n);
      d.noalias() = dz * c.v.middleRows(to, n).transpose();
      if (linear) {
        // dS = dP, except where the mask fixed the weight at 0.
        p = d;
        if (causal) {
          for (Eigen::Index i = 0; i + 1 < n; ++i) {
            p.row(i).tail(n - 1 - i).setZero();
          }
        }
      } else {
        d.array() *= p.array();
        for (Eigen::Index i = 0; i < m; ++i) {
          p.row(i) = d.row(i) - d.row(i).sum() * p.row(i);
        }
      }
      p *= spec_.score_scale;
      c.dq.middleRows(qo, m).noalias() = p * c.k.middleRows(to, n);
      c.dk.middleRows(to, n).noalias() = p.transpose() * c.q.middleRows(qo, m);
    }
    g.wq.noalias() = xq.transpose() * c.dq;
    g.wk.noalias() = x_.transpose() * c.dk;
    g.wv.noalias() = x_.transpose() * c.dv;
    if (spec_.biases) {
      g.bq = c.dq.colwise().sum().transpose();
      g.bk = c.dk.colwise().sum().transpose();
      g.bv = c.dv.colwise().sum().transpose();
    }
  }
}

namespace {

// One attention layer's intermediates for one sequence.
struct LayerTape {
  Matrix x;  // the layer's input, n x d_model
  std::vector<Matrix> q, k, v, p, z;
};

// Rows i of a causal layer see keys j <= i: zero the rest of `m`.
void ZeroAboveDiagonal(Matrix& m) {
  for (Eigen::Index i = 0; i + 1 < m.cols() && i < m.rows(); ++i) {
    m.row(i).tail(m.cols() - 1 - i).setZero();
  }
}

Matrix LayerForward(const LayerSpec& spec, const std::vector<HeadParams>& heads,
                    const Vector& bo, bool last_only, LayerTape& tape) {
  const Matrix& x = tape.x;
  const Eigen::Index n = x.rows();
  const Matrix xq = last_only ? Matrix(x.bottomRows(1)) : x;
  const bool causal = spec.mask == Mask::kCausal && !last_only;
  const int out_dim = static_cast<int>(heads[0].wo.cols());
  Matrix out = Matrix::Zero(xq.rows(), out_dim);
  if (spec.biases) out.rowwise() += bo.transpose();
  if (spec.residual) out += xq;
  const size_t h_count = heads.size();
  tape.q.resize(h_count), tape.k.resize(h_count), tape.v.resize(h_count);
  tape.p.resize(h_count), tape.z.resize(h_count);
  for (size_t h = 0; h < h_count; ++h) {
    const HeadParams& head = heads[h];
    Matrix& q = tape.q[h];
    Matrix& k = tape.k[h];
    Matrix& v = tape.v[h];
    Matrix& p = tape.p[h];
    q.noalias() = xq * head.wq;
    k.noalias() = x * head.wk;
    v.noalias() = x * head.wv;
    if (spec.biases) {
      q.rowwise() += head.bq.transpose();
      k.rowwise() += head.bk.transpose();
      v.rowwise() += head.bv.transpose();
    }
    p.noalias() = q * k.transpose();
    p *= spec.score_scale;
    if (spec.attention == Attention::kLinear) {
      if (causal) ZeroAboveDiagonal(p);
    } else {
      if (causal) {
        for (Eigen::Index i = 0; i + 1 < n; ++i) {
          p.row(i).tail(n - 1 - i).setConstant(
              -std::numeric_limits<double>::infinity());
        }
      }
      SoftmaxRows(p);
    }
    tape.z[h].noalias() = p * v;
    out.noalias() += tape.z[h] * head.wo;
  }
  return out;
}

// Accumulates the layer's parameter gradients into `grads`/`gbo` and
// returns dL/dx for the layer's input.
Matrix LayerBackward(const LayerSpec& spec,
                     const std::vector<HeadParams>& heads, bool last_only,
                     const LayerTape& tape, const Matrix& dy,
                     std::vector<HeadParams>& grads, Vector& gbo) {
  const Matrix& x = tape.x;
  const Eigen::Index n = x.rows();
  const Matrix xq = last_only ? Matrix(x.bottomRows(1)) : x;
  const bool causal = spec.mask == Mask::kCausal && !last_only;
  Matrix dx = Matrix::Zero(n, x.cols());
  Matrix dxq = Matrix::Zero(xq.rows(), x.cols());
  if (spec.biases) gbo += dy.colwise().sum().transpose();
  if (spec.residual) dxq += dy;
  for (size_t h = 0; h < heads.size(); ++h) {
    const HeadParams& head = heads[h];
    HeadParams& g = grads[h];
    const Matrix& p = tape.p[h];
    g.wo.noalias() += tape.z[h].transpose() * dy;
    const Matrix dz = dy * head.wo.transpose();
    const Matrix dv = p.transpose() * dz;
    Matrix ds = dz * tape.v[h].transpose();  // dL/dP first
    if (spec.attention == Attention::kLinear) {
      if (causal) ZeroAboveDiagonal(ds);
    } else {
      ds = (p.array() *
            (ds.array().colwise() - (p.array() * ds.array()).rowwise().sum()))
               .matrix();
    }
    ds *= spec.score_scale;
    const Matrix dq = ds * tape.k[h];
    const Matrix dk = ds.transpose() * tape.q[h];
    g.wq.noalias() += xq.transpose() * dq;
    g.wk.noalias() += x.transpose() * dk;
    g.wv.noalias() += x.transpose() * dv;
    if (spec.biases) {
      g.bq += dq.colwise().sum().transpose();
      g.bk += dk.colwise().sum().transpose();
      g.bv += dv.colwise().sum().transpose();
    }
    dxq.noalias() += dq * head.wq.transpose();
    dx.noalias() += dk * head.wk.transpose();
    dx.noalias() += dv * head.wv.transpose();
  }
  if (last_only) {
    dx.row(n - 1) += dxq.row(0);
  } else {
    dx += dxq;
  }
  return dx;
}

}  // namespace

// Stacks, linear attention, residuals and the FFN block: one sequence at a
// time through LayerForward/LayerBackward (the same formulas as Backward
// below, plus dL/dX to reach the layer beneath), and the FFN block by
// dW2 = A^T dY, dA = dY W2^T, dH = dA .* [H > 0], dW1 = Z^T dH,
// dZ = dH W1^T (+ dY with its residual).
double AttentionLoss::EvaluateGeneral(const LayerParams& params,
                                      LayerParams* grad) {
  if (grad != nullptr) {
    ShapeLike(params, grad);
    SetZero(grad);
  }
  const size_t layers = params.lower_layers.size() + 1;
  std::vector<LayerTape> tapes(layers);
  double loss = 0;
  for (size_t s = 0; s < lengths_.size(); ++s) {
    const Eigen::Index n = lengths_[s];
    const Eigen::Index m = last_only_ ? 1 : n;
    tapes[0].x = x_.middleRows(token_offsets_[s], n);
    Matrix z;
    for (size_t l = 0; l < layers; ++l) {
      const bool top = l + 1 == layers;
      const auto& heads = top ? params.heads : params.lower_layers[l].heads;
      const Vector& bo = top ? params.bo : params.lower_layers[l].bo;
      Matrix out = LayerForward(spec_, heads, bo, top && last_only_, tapes[l]);
      if (top) {
        z = std::move(out);
      } else {
        tapes[l + 1].x = std::move(out);
      }
    }
    Matrix y, pre, act;
    if (spec_.has_ffn) {
      const FfnParams& f = params.ffn;
      pre.noalias() = z * f.w1;
      if (spec_.ffn.biases) pre.rowwise() += f.b1.transpose();
      act = pre.cwiseMax(0.0);
      y.noalias() = act * f.w2;
      if (spec_.ffn.biases) y.rowwise() += f.b2.transpose();
      if (spec_.ffn.residual) y += z;
    } else {
      y = z;
    }
    const Matrix r = y - t_.middleRows(query_offsets_[s], m);
    loss += 0.5 * r.squaredNorm();
    if (grad == nullptr) continue;
    Matrix dz;
    if (spec_.has_ffn) {
      const FfnParams& f = params.ffn;
      grad->ffn.w2.noalias() += act.transpose() * r;
      if (spec_.ffn.biases) grad->ffn.b2 += r.colwise().sum().transpose();
      Matrix dh = r * f.w2.transpose();
      dh.array() *= (pre.array() > 0).cast<double>();
      grad->ffn.w1.noalias() += z.transpose() * dh;
      if (spec_.ffn.biases) grad->ffn.b1 += dh.colwise().sum().transpose();
      dz = dh * f.w1.transpose();
      if (spec_.ffn.residual) dz += r;
    } else {
      dz = r;
    }
    for (size_t l = layers; l-- > 0;) {
      const bool top = l + 1 == layers;
      const auto& heads = top ? params.heads : params.lower_layers[l].heads;
      auto& gheads = top ? grad->heads : grad->lower_layers[l].heads;
      Vector& gbo = top ? grad->bo : grad->lower_layers[l].bo;
      Matrix dx = LayerBackward(spec_, heads, top && last_only_, tapes[l], dz,
                                gheads, gbo);
      dz = std::move(dx);
    }
  }
  return loss;
}

double AttentionLoss::Evaluate(const LayerParams& params, LayerParams* grad) {
  assert(static_cast<int>(params.heads.size()) == spec_.heads);
  if (!params.lower_layers.empty()) return EvaluateGeneral(params, grad);
  const double loss = Forward(params);
  if (grad != nullptr) Backward(params, grad);
  return loss;
}

double AttentionLoss::Evaluate(const Eigen::Ref<const Vector>& flat,
                               Vector* grad) {
  UnflattenParamsInto(spec_, flat, &flat_params_);
  const double loss = Evaluate(flat_params_, grad ? &flat_grad_ : nullptr);
  if (grad != nullptr) {
    for (AttentionLayerParams& l : flat_grad_.lower_layers) {
      GatherShared(spec_, l.heads);
    }
    GatherShared(spec_, flat_grad_.heads);
    grad->resize(flat.size());
    Eigen::Index at = 0;
    ForEachBlock(spec_, flat_grad_, [&](const auto& block) {
      grad->segment(at, block.size()) =
          Eigen::Map<const Vector>(block.data(), block.size());
      at += block.size();
    });
  }
  return loss;
}

}  // namespace attnoracle
