#include "common/attention_grad.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "common/attention.h"

namespace attnoracle {
namespace {

// Visits every block of the flat layout in order, with a pointer to its
// storage; `Block` is Matrix or Vector (possibly const).
template <typename Params, typename Fn>
void ForEachBlock(const LayerSpec& spec, Params& params, Fn&& fn) {
  for (auto& head : params.heads) {
    fn(head.wq);
    fn(head.wk);
    fn(head.wv);
    fn(head.wo);
    if (spec.biases) {
      fn(head.bq);
      fn(head.bk);
      fn(head.bv);
    }
  }
  if (spec.biases) fn(params.bo);
}

// Gives `params` the shapes of `spec` (no allocation when they already fit).
void ShapeLike(const LayerSpec& spec, LayerParams* params) {
  params->heads.resize(spec.heads);
  for (HeadParams& h : params->heads) {
    h.wq.resize(spec.d_model, spec.head_dim);
    h.wk.resize(spec.d_model, spec.head_dim);
    h.wv.resize(spec.d_model, spec.value_dim);
    h.wo.resize(spec.value_dim, spec.out_dim);
    h.bq.resize(spec.biases ? spec.head_dim : 0);
    h.bk.resize(spec.biases ? spec.head_dim : 0);
    h.bv.resize(spec.biases ? spec.value_dim : 0);
  }
  params->bo.resize(spec.biases ? spec.out_dim : 0);
}

// Gives `grad` the shapes of `params`.
void ShapeLike(const LayerParams& params, LayerParams* grad) {
  grad->heads.resize(params.heads.size());
  for (size_t i = 0; i < params.heads.size(); ++i) {
    const HeadParams& p = params.heads[i];
    HeadParams& g = grad->heads[i];
    g.wq.resize(p.wq.rows(), p.wq.cols());
    g.wk.resize(p.wk.rows(), p.wk.cols());
    g.wv.resize(p.wv.rows(), p.wv.cols());
    g.wo.resize(p.wo.rows(), p.wo.cols());
    g.bq.resize(p.bq.size());
    g.bk.resize(p.bk.size());
    g.bv.resize(p.bv.size());
  }
  grad->bo.resize(params.bo.size());
}

}  // namespace

int ParamCount(const LayerSpec& spec) {
  const int k = spec.head_dim, v = spec.value_dim;
  int per_head = 2 * spec.d_model * k + spec.d_model * v + v * spec.out_dim;
  if (spec.biases) per_head += 2 * k + v;
  return spec.heads * per_head + (spec.biases ? spec.out_dim : 0);
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
  t_.resize(query_rows, spec.out_dim);
  if (last_only_) x_query_.resize(query_rows, spec.d_model);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Eigen::Index n = lengths_[i];
    const Eigen::Index m = last_only_ ? 1 : n;
    assert(targets[i].rows() == m && targets[i].cols() == spec.out_dim);
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
  if (spec_.biases) {
    residual_.resize(t_.rows(), t_.cols());
    residual_.rowwise() = params.bo.transpose();
    residual_ -= t_;
  } else {
    residual_ = -t_;
  }
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
              -std::numeric_limits<double>::infinity());
        }
      }
      SoftmaxRows(p);
      c.z.middleRows(query_offsets_[s], m).noalias() = p * v;
    }
    residual_.noalias() += c.z * head.wo;
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
  ShapeLike(params, grad);
  if (spec_.biases) grad->bo = residual_.colwise().sum().transpose();
  for (size_t h = 0; h < params.heads.size(); ++h) {
    const HeadParams& head = params.heads[h];
    HeadParams& g = grad->heads[h];
    HeadCache& c = cache_[h];
    g.wo.noalias() = c.z.transpose() * residual_;
    c.dz.noalias() = residual_ * head.wo.transpose();
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
      d.array() *= p.array();
      for (Eigen::Index i = 0; i < m; ++i) {
        p.row(i) = d.row(i) - d.row(i).sum() * p.row(i);
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

double AttentionLoss::Evaluate(const LayerParams& params, LayerParams* grad) {
  assert(static_cast<int>(params.heads.size()) == spec_.heads);
  const double loss = Forward(params);
  if (grad != nullptr) Backward(params, grad);
  return loss;
}

double AttentionLoss::Evaluate(const Eigen::Ref<const Vector>& flat,
                               Vector* grad) {
  UnflattenParamsInto(spec_, flat, &flat_params_);
  const double loss = Evaluate(flat_params_, grad ? &flat_grad_ : nullptr);
  if (grad != nullptr) {
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
