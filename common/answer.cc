#include "common/answer.h"

#include "common/attention.h"

namespace attnoracle {

int AnswerCols(const LayerSpec& spec, const AccessPolicy& policy) {
  return policy.answers == Answers::kTopK ? 2 * policy.top_k : OutputDim(spec);
}

void AnswerInto(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x, MatrixRef out,
                TaskRunner* runner) {
  if (policy.answers != Answers::kTopK) {
    ForwardInto(spec, params, x, out, runner);
    DegradeAnswer(policy, noise_seed, query_index, out);
    ApplyAnswerForm(policy, out);
    return;
  }
  Matrix values = Forward(spec, params, x, runner);
  DegradeAnswer(policy, noise_seed, query_index, values);
  TopKInto(values, policy.top_k, out);
}

Matrix AnswerTo(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x, TaskRunner* runner) {
  Matrix out(OutputRows(spec, static_cast<int>(x.rows())),
             AnswerCols(spec, policy));
  AnswerInto(spec, params, policy, noise_seed, query_index, x, out, runner);
  return out;
}

}  // namespace attnoracle
