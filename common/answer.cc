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

Matrix AnswerTo(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())),
             AnswerCols(spec, policy));
  AnswerInto(spec, params, policy, noise_seed, query_index, x, out);
  return out;
}

}  // namespace attnoracle
