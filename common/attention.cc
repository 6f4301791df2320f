#include "common/attention.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <limits>
#include <numeric>
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

namespace {

// Whether the product of a sequence's rows x depth block with a depth x
// cols matrix comes out bit for bit the same when the sequence is one
// block of a taller stack. Measured on Eigen 3.4 with SSE2 and AVX2
// packets (tests/common/forward_batch_test.cc holds it): rows that fill
// whole groups of four go through the same kernel steps in both; a
// remainder row, a matrix-vector product or the coefficient-wise product
// Eigen picks for tiny shapes would not.
bool StacksExactly(Eigen::Index rows, Eigen::Index depth, Eigen::Index cols) {
  return Eigen::internal::packet_traits<double>::size <= kBatchRowMultiple &&
         rows % kBatchRowMultiple == 0 && cols >= 2 &&
         rows + depth + cols >= EIGEN_GEMM_TO_COEFFBASED_THRESHOLD;
}

bool StacksExactly(const LayerSpec& spec, const LayerParams& params,
                   Eigen::Index n) {
  if (!params.lower_layers.empty() || spec.has_ffn ||
      spec.readout != Readout::kAll || spec.d_model > kBatchMaxDModel) {
    return false;
  }
  for (const HeadParams& head : params.heads) {
    if (!StacksExactly(n, head.wq.rows(), head.wq.cols()) ||
        !StacksExactly(n, head.wk.rows(), head.wk.cols()) ||
        !StacksExactly(n, head.wv.rows(), head.wv.cols())) {
      return false;
    }
  }
  return true;
}

// AttentionLayerInto (all positions) for the sequences xs[group[g]], all
// of n tokens: the query, key and value projections run once over the
// stacked rows; scores, weights and the output projection stay per
// sequence.
void StackedLayerInto(const LayerSpec& spec, const LayerParams& params,
                      std::span<const ConstMatrixMap> xs,
                      std::span<const size_t> group, Eigen::Index n,
                      std::span<MatrixMap> outs) {
  const Eigen::Index rows = n * static_cast<Eigen::Index>(group.size());
  Matrix x(rows, spec.d_model);
  for (size_t g = 0; g < group.size(); ++g) {
    x.middleRows(static_cast<Eigen::Index>(g) * n, n) = xs[group[g]];
  }
  Matrix out(rows, outs[group[0]].cols());
  if (spec.biases) {
    out.rowwise() = params.bo.transpose();
  } else {
    out.setZero();
  }
  if (spec.residual) out += x;
  const bool causal = spec.mask == Mask::kCausal;
  const bool linear = spec.attention == Attention::kLinear;
  auto causal_rows = [](Eigen::Index i) { return i + 1; };
  auto all_rows = [n](Eigen::Index) { return n; };
  Matrix q, k, v, scores;
  for (const HeadParams& head : params.heads) {
    q.noalias() = x * head.wq;
    k.noalias() = x * head.wk;
    v.noalias() = x * head.wv;
    if (spec.biases) {
      q.rowwise() += head.bq.transpose();
      k.rowwise() += head.bk.transpose();
      v.rowwise() += head.bv.transpose();
    }
    for (Eigen::Index first = 0; first < rows; first += n) {
      scores.noalias() =
          q.middleRows(first, n) * k.middleRows(first, n).transpose();
      scores *= spec.score_scale;
      if (linear) {
        if (causal) MaskedLinearRows(scores, causal_rows);
      } else if (causal) {
        MaskedSoftmaxRows(scores, causal_rows);
      } else {
        MaskedSoftmaxRows(scores, all_rows);
      }
      // Written as AttentionLayerInto writes it: Eigen evaluates the
      // nested product into a temporary of its own choosing, whose bits a
      // stacked output projection would not reproduce.
      out.middleRows(first, n).noalias() +=
          (scores * v.middleRows(first, n)) * head.wo;
    }
  }
  for (size_t g = 0; g < group.size(); ++g) {
    outs[group[g]] = out.middleRows(static_cast<Eigen::Index>(g) * n, n);
  }
}

}  // namespace

void ForwardBatchInto(const LayerSpec& spec, const LayerParams& params,
                      std::span<const ConstMatrixMap> xs,
                      std::span<MatrixMap> outs) {
  assert(xs.size() == outs.size());
  // Sequences by length, so that each length's run is one stack.
  std::vector<size_t> order(xs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return xs[a].rows() < xs[b].rows();
  });
  for (size_t begin = 0; begin < order.size();) {
    const Eigen::Index n = xs[order[begin]].rows();
    size_t end = begin + 1;
    while (end < order.size() && xs[order[end]].rows() == n) ++end;
    if (end - begin >= 2 && StacksExactly(spec, params, n)) {
      StackedLayerInto(
          spec, params, xs,
          std::span<const size_t>(order).subspan(begin, end - begin), n, outs);
    } else {
      for (size_t i = begin; i < end; ++i) {
        ForwardInto(spec, params, xs[order[i]], outs[order[i]]);
      }
    }
    begin = end;
  }
}

}  // namespace attnoracle
