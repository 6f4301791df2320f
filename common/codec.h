// Conversions between the wire messages (attnoracle.v1) and the domain types,
// in one place. Shape checks happen here; value checks (limits, finiteness of
// inputs) belong to whoever owns the policy.
//
//   absl::StatusOr<ConstMatrixMap> x = MatrixView(request.sequences(0),
//   "sequences[0]"); MatrixToProto(y, response.add_outputs());
#ifndef ATTNORACLE_COMMON_CODEC_H_
#define ATTNORACLE_COMMON_CODEC_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "attnoracle/v1/oracle.pb.h"
#include "attnoracle/v1/types.pb.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/score.h"
#include "common/tensor.h"
#include "common/transcript.h"

namespace attnoracle {

namespace pb = ::attnoracle::v1;

// A view over m's buffer (no copy; valid while m lives and is not modified).
// INVALID_ARGUMENT naming `name` unless rows >= 1, cols >= 1 and
// values_size == rows * cols.
[[nodiscard]] absl::StatusOr<ConstMatrixMap> MatrixView(const pb::Matrix& m,
                                                        absl::string_view name);
void MatrixToProto(ConstMatrixRef m, pb::Matrix* out);
// Sizes `out` to rows x cols and returns a map for writing into it.
MatrixMap MutableMatrixProto(int rows, int cols, pb::Matrix* out);

// An ANSWERS_TOP_K answer (rows x 2k pairs, common/answer.h) and back.
// TopKFromProto: INVALID_ARGUMENT naming `name` unless k >= 1 and both lists
// hold rows * k entries.
void TopKToProto(ConstMatrixRef pairs, pb::TopKAnswer* out);
[[nodiscard]] absl::StatusOr<Matrix> TopKFromProto(const pb::TopKAnswer& p,
                                                   absl::string_view name);

LayerSpec SpecFromProto(const pb::LayerSpec& p);  // not resolved
void SpecToProto(const LayerSpec& spec, pb::LayerSpec* out);
AccessPolicy PolicyFromProto(const pb::AccessPolicy& p);  // not resolved
void PolicyToProto(const AccessPolicy& policy, pb::AccessPolicy* out);
ChallengeConfig ConfigFromProto(const pb::ChallengeConfig& p);  // not resolved
void ConfigToProto(const ChallengeConfig& config, pb::ChallengeConfig* out);
ChallengeInfo InfoFromProto(const pb::ChallengeInfo& p);
void InfoToProto(const ChallengeInfo& info, pb::ChallengeInfo* out);
// A refusal answered in-band on QueryStream, and back; codes map one to one
// (both follow google.rpc.Code).
void QueryErrorToProto(const absl::Status& status, pb::QueryError* out);
absl::Status StatusFromProto(const pb::QueryError& error);

Usage UsageFromProto(const pb::Usage& p);
void UsageToProto(const Usage& usage, pb::Usage* out);

// A hypothesis or secret. Per head either factors (wq, wk, wv, wo) or the
// products (theta, omega), which become wq = theta / score_scale, wk = I,
// wv = omega, wo = I. Under spec.tie_qk a head may leave wk (and bk) out:
// it is wq (bq). Products are refused under tie_qk and kv_heads < heads
// (they cannot carry the constraint). A stack comes as `layers` (first
// first), one layer as `heads`/`bo` or a one-entry `layers`; an FFN block
// as `ffn`. The result is checked with CheckParams against `spec`
// (resolved): INVALID_ARGUMENT naming the field for a wrong shape, a
// non-finite value, a head given both or neither way, a broken tie or
// sharing, or a missing or unexpected layer or FFN block.
[[nodiscard]] absl::StatusOr<LayerParams> ParamsFromProto(
    const pb::LayerParams& p, const LayerSpec& spec);
// Writes factors; a stack as `layers`, one layer as `heads`/`bo`.
void ParamsToProto(const LayerParams& params, pb::LayerParams* out);

// ---- Scores (Submit) ------------------------------------------------------
// Field for field; the proto's Score mirrors common/score.h.
void ScoreToProto(const Score& score, pb::Score* out);
Score ScoreFromProto(const pb::Score& p);

TranscriptEntry TranscriptEntryFromProto(const pb::TranscriptEntry& p);
void TranscriptEntryToProto(const TranscriptEntry& e, pb::TranscriptEntry* out);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_CODEC_H_
