// VerifyTranscript: the check a learner (or anyone holding an export) runs
// after the reveal, without trusting the server: the revealed secret must
// open the commitment published before any query, and must reproduce every
// answer of the transcript bit for bit, with the declared noise and
// precision, along an unbroken hash chain. Pure: no network.
//
//   absl::StatusOr<VerifiedTranscript> v =
//       VerifyTranscript(*reveal, info->commitment, *entries);
//   if (!v.ok()) std::cerr << v.status();   // names the first bad entry
//
// Bit-for-bit replay assumes this binary computes Forward exactly as the
// server does (same source, same floating-point contraction settings).
#ifndef ATTNORACLE_CLIENT_VERIFY_H_
#define ATTNORACLE_CLIENT_VERIFY_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/revealed_challenge.h"
#include "common/transcript.h"

namespace attnoracle {

// What a successful verification covered.
struct VerifiedTranscript {
  uint64_t entries = 0;
  uint64_t sequences = 0;
  uint64_t tokens = 0;
  std::string chain_head;  // raw; empty for an empty transcript
  // Query indices below the highest one used that no entry answers:
  // reserved by a replica that died before committing. Information, not
  // a failure (docs/VERIFICATION.md section 3).
  uint64_t unanswered_indices = 0;
};

// Checks, in this order:
//   - Commitment(reveal.secret, reveal.nonce) == commitment (the one
//     published before the reveal, not reveal.commitment), and the secret
//     fits reveal.config.spec: FAILED_PRECONDITION otherwise.
//   - the secret and reveal.noise_seed are the ones reveal.prior_seed
//     derives for the transcript's learner (entries[0].learner; with no
//     entries only a shared secret is checked), as docs/VERIFICATION.md
//     section 2 says: FAILED_PRECONDITION otherwise.
//   - for each entry k of `entries` (in chain order): index == k,
//     SHA-256(u64 little-endian first_query_index || request) ==
//     request_digest, SHA-256(response) == response_digest,
//     ChainHash(previous chain hash, request_digest, response_digest) ==
//     chain_hash (previous is empty for entry 0), the entry is a query or
//     a sample as the policy's access allows, a sample's every input equals
//     DrawExample(policy.examples, d_model, reveal.noise_seed,
//     first_query_index + i), every answer equals AnswerTo(spec, secret,
//     policy, reveal.noise_seed, first_query_index + i, x_i) (forward pass,
//     noise, precision, answer form), and the index range
//     [first_query_index, first_query_index + sequences) is disjoint from
//     every earlier entry's (any order; gaps are counted in
//     unanswered_indices, noisy or not).
//     DATA_LOSS "entry k: ..." for the first entry that fails.
// A prefix of a valid chain is valid: compare the returned chain_head with
// the head the last answer carried. The bytes and derivations are specified
// in docs/VERIFICATION.md.
// reveal.config must be resolved.
[[nodiscard]] absl::StatusOr<VerifiedTranscript> VerifyTranscript(
    const RevealedChallenge& reveal, absl::string_view commitment,
    std::span<const TranscriptEntry> entries);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_VERIFY_H_
