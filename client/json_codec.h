// JSON forms of the client's documents (the CLI's --json output and query
// input files).
//
//   absl::StatusOr<std::vector<Matrix>> seqs = SequencesFromJson(doc);
//   nlohmann::ordered_json out = {{"usage", UsageToJson(usage)}};
#ifndef ATTNORACLE_CLIENT_JSON_CODEC_H_
#define ATTNORACLE_CLIENT_JSON_CODEC_H_

#include <nlohmann/json.hpp>
#include <vector>

#include "absl/status/statusor.h"
#include "attnoracle/v1/oracle.pb.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/tensor.h"

namespace attnoracle {

// Reads {"sequences": [[[x11, ..., x1d], [x21, ...]], ...]}: each sequence a
// non-empty array of equally long, non-empty rows of numbers.
// INVALID_ARGUMENT naming the offending path (e.g. sequences[1][2]).
[[nodiscard]] absl::StatusOr<std::vector<Matrix>> SequencesFromJson(
    const nlohmann::ordered_json& doc);

nlohmann::ordered_json MatrixToJson(const Matrix& m);  // array of rows
nlohmann::ordered_json UsageToJson(const Usage& usage);
nlohmann::ordered_json InfoToJson(const ChallengeInfo& info);
nlohmann::ordered_json ScoreToJson(const Score& score);

// Hypothesis files:
//   {"heads": [{"wq": M, "wk": M, "wv": M, "wo": M}, ...], "bo": [...]}
// or per head {"theta": M, "omega": M}; M is an array of rows; with biases
// each head also has "bq", "bk", "bv" arrays. Shapes are checked against
// the challenge later (ParamsFromProto); here only the JSON structure is.
// INVALID_ARGUMENT naming the offending path.
[[nodiscard]] absl::StatusOr<v1::LayerParams> HypothesisFromJson(
    const nlohmann::ordered_json& doc);
// Writes factors (wq, wk, wv, wo and biases).
nlohmann::ordered_json HypothesisToJson(const LayerParams& params);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_JSON_CODEC_H_
