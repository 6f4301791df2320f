#include "common/attention.h"

#include <cassert>
#include <limits>

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

void ForwardInto(const LayerSpec& spec, const LayerParams& params,
                 ConstMatrixRef x, MatrixRef out) {
  const Eigen::Index n = x.rows();
  assert(n >= 1 && x.cols() == spec.d_model);
  const bool last_only = spec.readout == Readout::kLast;
  assert(out.rows() == (last_only ? 1 : n) && out.cols() == spec.out_dim);
  // With last-position readout only the last query row is needed, and the
  // causal mask does not restrict it.
  const Eigen::Index first_query = last_only ? n - 1 : 0;
  const auto queries_in = x.bottomRows(n - first_query);

  if (spec.biases) {
    out.rowwise() = params.bo.transpose();
  } else {
    out.setZero();
  }
  // Matrix is row-major: each row of `scores` (one query's weights) is
  // contiguous, so its max, exp and sum run over SIMD packets.
  Matrix q, k, v, scores;
  for (const HeadParams& head : params.heads) {
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
    if (spec.mask == Mask::kCausal && !last_only) {
      MaskedSoftmaxRows(scores, [](Eigen::Index i) { return i + 1; });
    } else {
      MaskedSoftmaxRows(scores, [n](Eigen::Index) { return n; });
    }
    out.noalias() += (scores * v) * head.wo;
  }
}

Matrix Forward(const LayerSpec& spec, const LayerParams& params,
               ConstMatrixRef x) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())), spec.out_dim);
  ForwardInto(spec, params, x, out);
  return out;
}

}  // namespace attnoracle
