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
#include "common/access_policy.h"
#include "common/challenge_config.h"
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

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_JSON_CODEC_H_
