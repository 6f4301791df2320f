#include "common/attention.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"

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

// Runs task(0..count-1) on `runner`, or in order on this thread without one.
void RunTasks(TaskRunner* runner, int count,
              absl::FunctionRef<void(int)> task) {
  if (runner == nullptr) {
    for (int i = 0; i < count; ++i) task(i);
  } else {
    runner->Run(count, task);
  }
}

// Row blocks [begin, end) of `rows` output rows for the tasks of a
// row-parallel product. Every block but the last has a multiple of
// kRowBlockAlign rows, and each has about rows / blocks >= kMinRowsPerBlock
// - kRowBlockAlign rows, so each output entry goes through the same Eigen
// kernel, with the same order of sums, as in one product over all rows
// (Eigen picks kernels by panels of 4 rows of a row-major result, and
// changes method for a single row or a tiny product).
constexpr Eigen::Index kMinRowsPerBlock = 64;
constexpr Eigen::Index kRowBlockAlign = 4;
constexpr int kMaxRowBlocks = 4;

std::vector<std::pair<Eigen::Index, Eigen::Index>> RowBlocks(Eigen::Index rows,
                                                             bool split) {
  const Eigen::Index blocks =
      split
          ? std::clamp<Eigen::Index>(rows / kMinRowsPerBlock, 1, kMaxRowBlocks)
          : 1;
  Eigen::Index step = (rows + blocks - 1) / blocks;
  step = (step + kRowBlockAlign - 1) / kRowBlockAlign * kRowBlockAlign;
  std::vector<std::pair<Eigen::Index, Eigen::Index>> out;
  for (Eigen::Index begin = 0; begin < rows; begin += step) {
    out.emplace_back(begin, std::min(rows, begin + step));
  }
  return out;
}

// A layer is split into tasks only when its products are this large (in
// multiply-adds): below, handing tasks to another thread costs more than
// it saves, and small queries keep their single-thread path.
constexpr double kMinParallelMultiplyAdds = 4e6;

// True when head h reads the keys and values of head `first` (the first of
// its kv group): the spec shares them and the copies are equal, as
// CheckParams holds them. Equal inputs give equal products bit for bit, so
// computing them once per group changes no answer.
bool SharesKeysValues(const HeadParams& head, const HeadParams& first) {
  return &head == &first || (head.wk == first.wk && head.wv == first.wv &&
                             head.bk == first.bk && head.bv == first.bv);
}

// The intermediates of one small layer's forward pass. A small layer runs
// on the calling thread alone, so each thread keeps one set and reuses its
// storage from sequence to sequence: a batched request's 8-token sequences
// otherwise paid about ten allocations each. Capacity stays bounded, since
// only layers under kMinParallelMultiplyAdds use it. Reuse changes no
// product, so no bit of an answer.
struct LayerScratch {
  std::vector<int> source;
  std::vector<int> kv_owners;
  std::vector<Matrix> keys;
  std::vector<Matrix> values;
  std::vector<Eigen::MatrixXd> weighted;
  Matrix q;
  Matrix scores;
};

LayerScratch& ThreadLayerScratch() {
  thread_local LayerScratch scratch;
  return scratch;
}

// One attention layer: the rows of `x` that are queries (all, or only the
// last with `last_only`) into `out`, which has those rows and wo's columns.
//
// Three rounds of tasks, each on every thread `runner` lends: the keys and
// values of each kv group, then per head its weights and their weighted sum
// of values C_h, then blocks of output rows, each summing bo + (residual)
// + C_1 wo_1 + ... + C_H wo_H in head order. Every product has the shape
// and operand layout of the single-thread formula, so the answers keep
// their bits (docs/VERIFICATION.md, "Threads do not change the bits").
void AttentionLayerInto(const LayerSpec& spec,
                        const std::vector<HeadParams>& heads, const Vector& bo,
                        ConstMatrixRef x, bool last_only, MatrixRef out,
                        TaskRunner* runner) {
  const Eigen::Index n = x.rows();
  // With last-position readout only the last query row is needed, and the
  // causal mask does not restrict it.
  const Eigen::Index first_query = last_only ? n - 1 : 0;
  const auto queries_in = x.bottomRows(n - first_query);
  const bool causal = spec.mask == Mask::kCausal && !last_only;
  const bool linear = spec.attention == Attention::kLinear;
  const int head_count = static_cast<int>(heads.size());

  double multiply_adds = 0;
  for (const HeadParams& head : heads) {
    multiply_adds += static_cast<double>(n) *
                     (x.cols() * (2.0 * head.wq.cols() + head.wv.cols()) +
                      n * (head.wq.cols() + head.wv.cols()) +
                      head.wv.cols() * head.wo.cols());
  }
  const bool small = multiply_adds < kMinParallelMultiplyAdds;
  if (small) runner = nullptr;
  // Not reentrant: nothing below calls AttentionLayerInto again.
  LayerScratch own;
  LayerScratch& scratch = small ? ThreadLayerScratch() : own;

  // Keys and values, once per group of heads sharing them.
  std::vector<int>& source = scratch.source;
  source.resize(head_count);
  for (int h = 0; h < head_count; ++h) {
    const int first = KvGroupStart(spec, h);
    source[h] = SharesKeysValues(heads[h], heads[first]) ? first : h;
  }
  std::vector<int>& kv_owners = scratch.kv_owners;
  kv_owners.clear();
  for (int h = 0; h < head_count; ++h) {
    if (source[h] == h) kv_owners.push_back(h);
  }
  std::vector<Matrix>& keys = scratch.keys;
  std::vector<Matrix>& values = scratch.values;
  keys.resize(head_count);
  values.resize(head_count);
  RunTasks(runner, static_cast<int>(kv_owners.size()), [&](int i) {
    const int h = kv_owners[i];
    const HeadParams& head = heads[h];
    keys[h].noalias() = x * head.wk;
    values[h].noalias() = x * head.wv;
    if (spec.biases) {
      keys[h].rowwise() += head.bk.transpose();
      values[h].rowwise() += head.bv.transpose();
    }
  });

  // Matrix is row-major: each row of `scores` (one query's weights) is
  // contiguous, so its max, exp and sum run over SIMD packets. C_h is
  // column-major, the layout Eigen gives the temporary of
  // (scores * v) * wo, which the single-thread formula was.
  std::vector<Eigen::MatrixXd>& weighted = scratch.weighted;
  weighted.resize(head_count);
  RunTasks(runner, head_count, [&](int h) {
    const HeadParams& head = heads[h];
    const Matrix& k = keys[source[h]];
    const Matrix& v = values[source[h]];
    // On the small path the tasks run one after another on this thread,
    // so they can share the scratch's q and scores.
    Matrix own_q, own_scores;
    Matrix& q = small ? scratch.q : own_q;
    Matrix& scores = small ? scratch.scores : own_scores;
    q.noalias() = queries_in * head.wq;
    if (spec.biases) q.rowwise() += head.bq.transpose();
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
    weighted[h].noalias() = scores * v;
  });

  const auto blocks = RowBlocks(out.rows(), runner != nullptr);
  RunTasks(runner, static_cast<int>(blocks.size()), [&](int b) {
    const auto [begin, end] = blocks[b];
    auto rows = out.middleRows(begin, end - begin);
    if (spec.biases) {
      rows.rowwise() = bo.transpose();
    } else {
      rows.setZero();
    }
    if (spec.residual) rows += queries_in.middleRows(begin, end - begin);
    for (int h = 0; h < head_count; ++h) {
      rows.noalias() +=
          weighted[h].middleRows(begin, end - begin) * heads[h].wo;
    }
  });
}

}  // namespace

void FfnInto(const LayerSpec& spec, const FfnParams& ffn, ConstMatrixRef z,
             MatrixRef out, TaskRunner* runner) {
  const double multiply_adds = static_cast<double>(z.rows()) * ffn.w1.cols() *
                               (ffn.w1.rows() + ffn.w2.cols());
  if (multiply_adds < kMinParallelMultiplyAdds) runner = nullptr;
  const auto blocks = RowBlocks(z.rows(), runner != nullptr);
  RunTasks(runner, static_cast<int>(blocks.size()), [&](int b) {
    const auto [begin, end] = blocks[b];
    const auto z_rows = z.middleRows(begin, end - begin);
    auto out_rows = out.middleRows(begin, end - begin);
    Matrix hidden = z_rows * ffn.w1;
    if (spec.ffn.biases) hidden.rowwise() += ffn.b1.transpose();
    hidden = hidden.cwiseMax(0.0);
    out_rows.noalias() = hidden * ffn.w2;
    if (spec.ffn.biases) out_rows.rowwise() += ffn.b2.transpose();
    if (spec.ffn.residual) out_rows += z_rows;
  });
}

void ForwardInto(const LayerSpec& spec, const LayerParams& params,
                 ConstMatrixRef x, MatrixRef out, TaskRunner* runner) {
  const Eigen::Index n = x.rows();
  assert(n >= 1 && x.cols() == spec.d_model);
  const bool last_only = spec.readout == Readout::kLast;
  assert(out.rows() == (last_only ? 1 : n) && out.cols() == OutputDim(spec));
  if (params.lower_layers.empty() && !spec.has_ffn) {
    AttentionLayerInto(spec, params.heads, params.bo, x, last_only, out,
                       runner);
    return;
  }
  // Every layer below the last sees (and returns) every position.
  Matrix current = x, next(n, spec.d_model);
  for (const AttentionLayerParams& layer : params.lower_layers) {
    AttentionLayerInto(spec, layer.heads, layer.bo, current, false, next,
                       runner);
    current.swap(next);
  }
  if (!spec.has_ffn) {
    AttentionLayerInto(spec, params.heads, params.bo, current, last_only, out,
                       runner);
    return;
  }
  Matrix z(last_only ? 1 : n, spec.out_dim);
  AttentionLayerInto(spec, params.heads, params.bo, current, last_only, z,
                     runner);
  FfnInto(spec, params.ffn, z, out, runner);
}

Matrix Forward(const LayerSpec& spec, const LayerParams& params,
               ConstMatrixRef x, TaskRunner* runner) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())), OutputDim(spec));
  ForwardInto(spec, params, x, out, runner);
  return out;
}

}  // namespace attnoracle
