#include "common/answer.h"

#include "common/attention.h"

namespace attnoracle {

int AnswerCols(const LayerSpec& spec, const AccessPolicy& policy) {
  return policy.answers == Answers::kTopK ? 2 * policy.top_k : OutputDim(spec);
}

void AnswerInto(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x, MatrixRef out) {
  if (policy.answers != Answers::kTopK) {
    ForwardInto(spec, params, x, out);
    DegradeAnswer(policy, noise_seed, query_index, out);
    ApplyAnswerForm(policy, out);
    return;
  }
  Matrix values = Forward(spec, params, x);
  DegradeAnswer(policy, noise_seed, query_index, values);
  TopKInto(values, policy.top_k, out);
}

void AnswerBatchInto(const LayerSpec& spec, const LayerParams& params,
                     const AccessPolicy& policy, uint64_t noise_seed,
                     uint64_t first_query_index,
                     std::span<const ConstMatrixMap> xs,
                     std::span<MatrixMap> outs) {
  if (policy.answers == Answers::kTopK) {
    for (size_t i = 0; i < xs.size(); ++i) {
      AnswerInto(spec, params, policy, noise_seed, first_query_index + i, xs[i],
                 outs[i]);
    }
    return;
  }
  ForwardBatchInto(spec, params, xs, outs);
  for (size_t i = 0; i < xs.size(); ++i) {
    DegradeAnswer(policy, noise_seed, first_query_index + i, outs[i]);
    ApplyAnswerForm(policy, outs[i]);
  }
}

Matrix AnswerTo(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())),
             AnswerCols(spec, policy));
  AnswerInto(spec, params, policy, noise_seed, query_index, x, out);
  return out;
}

}  // namespace attnoracle
