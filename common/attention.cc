#include "common/attention.h"

#include <cassert>
#include <limits>
#include <vector>

namespace attnoracle {

void SoftmaxRows(MatrixRef logits) {
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    auto row = logits.row(i);
    const double max = row.maxCoeff();
    // Eigen's vectorised exp clamps its argument, so exp(-inf) would come out
    // as a subnormal, not 0: masked entries are zeroed explicitly.
    row = (row.array() == -std::numeric_limits<double>::infinity())
              .select(0.0, (row.array() - max).exp());
    row /= row.sum();
  }
}

namespace {

// Softmax of each row over its first visible(i) entries; the rest (keys a
// causal mask hides) get weight exactly 0. Unlike SoftmaxRows no -inf
// logits and no select(): Eigen 3.4 evaluates a select() one scalar at a
// time, which took the exp out of its vectorised form.
template <typename Visible>
void MaskedSoftmaxRows(Matrix& logits, Visible visible) {
  const Eigen::Index n = logits.cols();
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    const Eigen::Index seen = visible(i);
    auto row = logits.row(i).head(seen);
    const double max = row.maxCoeff();
    row = (row.array() - max).exp().matrix();
    row /= row.sum();
    logits.row(i).tail(n - seen).setZero();
  }
}

}  // namespace

namespace {

// Under linear attention the weights are the scaled scores themselves: only
// the keys a causal mask hides are set to 0.
template <typename Visible>
void MaskedLinearRows(Matrix& scores, Visible visible) {
  const Eigen::Index n = scores.cols();
  for (Eigen::Index i = 0; i < scores.rows(); ++i) {
    scores.row(i).tail(n - visible(i)).setZero();
  }
}

// One attention layer: the rows of `x` that are queries (all, or only the
// last with `last_only`) into `out`, which has those rows and wo's columns.
void AttentionLayerInto(const LayerSpec& spec,
                        const std::vector<HeadParams>& heads, const Vector& bo,
                        ConstMatrixRef x, bool last_only, MatrixRef out) {
  const Eigen::Index n = x.rows();
  // With last-position readout only the last query row is needed, and the
  // causal mask does not restrict it.
  const Eigen::Index first_query = last_only ? n - 1 : 0;
  const auto queries_in = x.bottomRows(n - first_query);
  const bool causal = spec.mask == Mask::kCausal && !last_only;
  const bool linear = spec.attention == Attention::kLinear;

  if (spec.biases) {
    out.rowwise() = bo.transpose();
  } else {
    out.setZero();
  }
  if (spec.residual) out += queries_in;
  // Matrix is row-major: each row of `scores` (one query's weights) is
  // contiguous, so its max, exp and sum run over SIMD packets.
  Matrix q, k, v, scores;
  for (const HeadParams& head : heads) {
    q.noalias() = queries_in * head.wq;
    k.noalias() = x * head.wk;
    v.noalias() = x * head.wv;
    if (spec.biases) {
      q.rowwise() += head.bq.transpose();
      k.rowwise() += head.bk.transpose();
      v.rowwise() += head.bv.transpose();
    }
    scores.noalias() = q * k.transpose();
    scores *= spec.score_scale;
    auto causal_rows = [](Eigen::Index i) { return i + 1; };
    auto all_rows = [n](Eigen::Index) { return n; };
    if (linear) {
      if (causal) MaskedLinearRows(scores, causal_rows);
    } else if (causal) {
      MaskedSoftmaxRows(scores, causal_rows);
    } else {
      MaskedSoftmaxRows(scores, all_rows);
    }
    out.noalias() += (scores * v) * head.wo;
  }
}

}  // namespace

void FfnInto(const LayerSpec& spec, const FfnParams& ffn, ConstMatrixRef z,
             MatrixRef out) {
  Matrix hidden = z * ffn.w1;
  if (spec.ffn.biases) hidden.rowwise() += ffn.b1.transpose();
  hidden = hidden.cwiseMax(0.0);
  out.noalias() = hidden * ffn.w2;
  if (spec.ffn.biases) out.rowwise() += ffn.b2.transpose();
  if (spec.ffn.residual) out += z;
}

void ForwardInto(const LayerSpec& spec, const LayerParams& params,
                 ConstMatrixRef x, MatrixRef out) {
  const Eigen::Index n = x.rows();
  assert(n >= 1 && x.cols() == spec.d_model);
  const bool last_only = spec.readout == Readout::kLast;
  assert(out.rows() == (last_only ? 1 : n) && out.cols() == OutputDim(spec));
  if (params.lower_layers.empty() && !spec.has_ffn) {
    AttentionLayerInto(spec, params.heads, params.bo, x, last_only, out);
    return;
  }
  // Every layer below the last sees (and returns) every position.
  Matrix current = x, next(n, spec.d_model);
  for (const AttentionLayerParams& layer : params.lower_layers) {
    AttentionLayerInto(spec, layer.heads, layer.bo, current, false, next);
    current.swap(next);
  }
  if (!spec.has_ffn) {
    AttentionLayerInto(spec, params.heads, params.bo, current, last_only, out);
    return;
  }
  Matrix z(last_only ? 1 : n, spec.out_dim);
  AttentionLayerInto(spec, params.heads, params.bo, current, last_only, z);
  FfnInto(spec, params.ffn, z, out);
}

Matrix Forward(const LayerSpec& spec, const LayerParams& params,
               ConstMatrixRef x) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())), OutputDim(spec));
  ForwardInto(spec, params, x, out);
  return out;
}

}  // namespace attnoracle
