// Canonical bytes of queries, answers and secrets, and the transcript hash
// chain. Everything a verifier recomputes is defined here, byte for byte,
// independent of protobuf's serialisation.
//
//   std::string req = EncodeMatrices(sequences);
//   std::string resp = EncodeMatrices(outputs);
//   std::string h = ChainHash(previous, RequestDigest(first_query_index, req),
//                             Sha256(resp));
//
// Encoding: u32 count, then per matrix u32 rows, u32 cols and rows*cols
// IEEE-754 float64 values in row-major order; all little-endian. Specified,
// with test vectors, in docs/VERIFICATION.md.
#ifndef ATTNORACLE_COMMON_TRANSCRIPT_H_
#define ATTNORACLE_COMMON_TRANSCRIPT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/layer_params.h"
#include "common/tensor.h"

namespace attnoracle {

// One answered query of a learner's transcript, as the server records it
// and a verifier reads it back.
struct TranscriptEntry {
  std::string challenge_id;        // empty where the context implies it
  std::string learner;             // empty where the context implies it
  uint64_t index = 0;              // position in the learner's chain, from 0
  uint64_t first_query_index = 0;  // noise of sequence i is keyed by this + i
  std::string request;             // EncodeMatrices(sequences)
  std::string response;            // EncodeMatrices(answers)
  std::string request_digest;      // RequestDigest(first_query_index, request)
  std::string response_digest;     // SHA-256(response)
  std::string chain_hash;          // ChainHash(previous, digests)
  int64_t answered_unix_ms = 0;
};

std::string EncodeMatrices(std::span<const Matrix> matrices);
std::string EncodeMatrices(std::span<const ConstMatrixMap> matrices);
// INVALID_ARGUMENT for truncated or trailing bytes.
[[nodiscard]] absl::StatusOr<std::vector<Matrix>> DecodeMatrices(
    absl::string_view bytes);

// A Sample entry's request: u32 0 (the count no query can have: a query
// has at least one sequence) followed by EncodeMatrices(inputs), the
// examples drawn. So a query entry and a sample entry never share bytes.
std::string EncodeSampleRequest(std::span<const Matrix> inputs);

// A transcript request decoded: a query's sequences, or a sample's inputs.
struct DecodedRequest {
  bool sample = false;
  std::vector<Matrix> sequences;
};
// INVALID_ARGUMENT for bytes that are neither encoding.
[[nodiscard]] absl::StatusOr<DecodedRequest> DecodeRequest(
    absl::string_view bytes);

// Canonical bytes of a layer's parameters: per attention layer, first layer
// first, u32 head count, per head wq, wk, wv, wo, bq, bk, bv, then bo; then,
// with an FFN block, w1, b1, w2, b2; each as a matrix (vectors as one row;
// empty as 0x0). Shared and tied blocks appear in every head that uses them.
// One layer without an FFN block: the original bytes.
std::string EncodeParams(const LayerParams& params);

// The commitment to a secret: SHA-256(EncodeParams(secret) || nonce).
std::string Commitment(const LayerParams& secret, absl::string_view nonce);

// The request digest binds the query index the answers' noise is keyed by:
// SHA-256(u64 little-endian first_query_index || request bytes), so a
// transcript entry cannot be replayed against other noise.
std::string RequestDigest(uint64_t first_query_index,
                          absl::string_view request);

// h_i = SHA-256(h_{i-1} || request digest || answer digest); h_0 is empty.
std::string ChainHash(absl::string_view previous,
                      absl::string_view request_digest,
                      absl::string_view response_digest);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_TRANSCRIPT_H_
