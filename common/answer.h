// The answer to one sequence exactly as the server gives it: the forward
// pass, then the policy's noise and precision (DegradeAnswer), then its
// answer form (sign, quantized, top-k). One function, so the server, the
// local oracle of learner tests and verify agree bit for bit.
//
//   Matrix y(OutputRows(spec, x.rows()), AnswerCols(spec, policy));
//   AnswerInto(spec, secret, policy, noise_seed, query_index, x, y);
//
// Under ANSWERS_TOP_K an answer is OutputRows x 2k: each row holds its k
// (index, value) pairs as index, value, index, value, ... (TopKInto); this
// is also how transcripts and the client library carry it.
//
// Thread-safe: pure functions.
#ifndef ATTNORACLE_COMMON_ANSWER_H_
#define ATTNORACLE_COMMON_ANSWER_H_

#include <cstdint>
#include <span>

#include "common/access_policy.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// Columns of an answer: OutputDim(spec), or 2 * top_k under ANSWERS_TOP_K.
int AnswerCols(const LayerSpec& spec, const AccessPolicy& policy);

// Writes the answer to `x`, the sequence at the learner's index
// `query_index`, into `out` (OutputRows(spec, n) x AnswerCols). Same
// preconditions as ForwardInto; `policy` resolved.
void AnswerInto(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x, MatrixRef out);

// The answers to xs[i] at the learner's indices first_query_index + i
// into outs[i], each exactly as AnswerInto writes it; the forward passes
// of sequences of the same length share matrix products where that keeps
// every bit (ForwardBatchInto). xs and outs have the same size.
void AnswerBatchInto(const LayerSpec& spec, const LayerParams& params,
                     const AccessPolicy& policy, uint64_t noise_seed,
                     uint64_t first_query_index,
                     std::span<const ConstMatrixMap> xs,
                     std::span<MatrixMap> outs);

Matrix AnswerTo(const LayerSpec& spec, const LayerParams& params,
                const AccessPolicy& policy, uint64_t noise_seed,
                uint64_t query_index, ConstMatrixRef x);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ANSWER_H_
