// JSON forms of the client's documents (the CLI's --json output, query
// input files, hypothesis files and transcript exports).
//
//   absl::StatusOr<std::vector<Matrix>> seqs = SequencesFromJson(doc);
//   nlohmann::ordered_json out = {{"usage", UsageToJson(usage)}};
//   absl::StatusOr<TranscriptEntry> e = TranscriptEntryFromJson(line_doc);
#ifndef ATTNORACLE_CLIENT_JSON_CODEC_H_
#define ATTNORACLE_CLIENT_JSON_CODEC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "attnoracle/v1/oracle.pb.h"
#include "client/leaderboard_entry.h"
#include "common/access_policy.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/tensor.h"
#include "common/transcript.h"

namespace attnoracle {

// Reads {"sequences": [[[x11, ..., x1d], [x21, ...]], ...]}: each sequence a
// non-empty array of equally long, non-empty rows of numbers.
// INVALID_ARGUMENT naming the offending path (e.g. sequences[1][2]).
[[nodiscard]] absl::StatusOr<std::vector<Matrix>> SequencesFromJson(
    const nlohmann::ordered_json& doc);

nlohmann::ordered_json MatrixToJson(const Matrix& m);  // array of rows
// An ANSWERS_TOP_K answer (rows x 2k pairs, common/answer.h) as
// [[[index, value], ...] per row].
nlohmann::ordered_json TopKToJson(const Matrix& pairs);
// Answers as `query --json` prints them: one MatrixToJson per sequence, or
// with `top_k` one TopKToJson per sequence.
nlohmann::ordered_json AnswersToJson(const std::vector<Matrix>& answers,
                                     bool top_k);
nlohmann::ordered_json UsageToJson(const Usage& usage);
// With the commitment in hex, the scoring settings and whether secrets are
// per learner.
nlohmann::ordered_json InfoToJson(const ChallengeInfo& info);
// Always "feedback", "passed", "headline" (the field the challenge ranks
// by: HeadlineName) and the spend; the error metrics only when the feedback
// shows them (not for pass/fail, where the server sends zeros), with
// "sign_disagreement" on sign challenges (0 included); an omitted parameter
// error (theta_rel_err, omega_rel_err, ffn_rel_err) is null, with
// "parameter_note" saying why.
nlohmann::ordered_json ScoreToJson(
    const Score& score, Headline headline = Headline::kFunctionalRelErr);
// {"rank", "learner", "score": ScoreToJson, "submission_id",
//  "submitted_unix_ms", "submissions"}
nlohmann::ordered_json LeaderboardEntryToJson(
    const LeaderboardEntry& entry,
    Headline headline = Headline::kFunctionalRelErr);

// One line of a transcript export (JSONL):
//   {"learner", "index", "first_query_index",
//    "request": {"sequences": [M, ...]} (a sample: {"samples": [M, ...]}),
//    "response": {"outputs": [M, ...]} (top-k answers as their pairs
//    matrices, common/answer.h),
//    "request_digest": HEX, "response_digest": HEX, "chain_hash": HEX,
//    "answered_unix_ms"}
// with the request and response decoded from their canonical bytes.
// Numbers are printed so that they parse back to the same doubles, so
// TranscriptEntryFromJson re-encodes the very bytes the digests cover.
// INVALID_ARGUMENT when the canonical bytes do not decode.
[[nodiscard]] absl::StatusOr<nlohmann::ordered_json> TranscriptEntryToJson(
    const TranscriptEntry& entry);
// The inverse: re-encodes request and response with EncodeMatrices (a
// sample's request with EncodeSampleRequest).
// INVALID_ARGUMENT naming the offending field.
[[nodiscard]] absl::StatusOr<TranscriptEntry> TranscriptEntryFromJson(
    const nlohmann::ordered_json& doc);

// Lower- or upper-case hex to bytes. INVALID_ARGUMENT for an odd length or
// a character that is not a hex digit.
[[nodiscard]] absl::StatusOr<std::string> BytesFromHex(absl::string_view hex);

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
