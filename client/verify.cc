#include "client/verify.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/access_policy.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/examples.h"
#include "common/hashing.h"
#include "common/message_quote.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

absl::Status EntryError(uint64_t k, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("entry ", k, ": ", what));
}

// Same shape and the same bits in every entry (so -0.0 differs from 0.0,
// as it does in the canonical encoding).
bool SameBits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

// Recomputes the answers of one entry from the revealed secret.
absl::Status Replay(const RevealedChallenge& reveal, uint64_t k,
                    const TranscriptEntry& entry, VerifiedTranscript& summary) {
  const LayerSpec& spec = reveal.config.spec;
  const AccessPolicy& policy = reveal.config.policy;
  absl::StatusOr<DecodedRequest> request = DecodeRequest(entry.request);
  if (!request.ok()) {
    return EntryError(k, absl::StrCat("the request does not decode: ",
                                      request.status().message()));
  }
  const std::vector<Matrix>* sequences = &request->sequences;
  if (request->sample && !AllowsExamples(policy)) {
    return EntryError(k,
                      "a sample on a challenge that offers no random "
                      "examples (policy.access ACCESS_QUERIES)");
  }
  if (!request->sample && !AllowsQueries(policy)) {
    return EntryError(k,
                      "a query on a challenge that answers random examples "
                      "only (policy.access ACCESS_EXAMPLES)");
  }
  absl::StatusOr<std::vector<Matrix>> answers = DecodeMatrices(entry.response);
  if (!answers.ok()) {
    return EntryError(k, absl::StrCat("the response does not decode: ",
                                      answers.status().message()));
  }
  if (answers->size() != sequences->size()) {
    return EntryError(k, absl::StrCat(answers->size(), " answers to ",
                                      sequences->size(), " sequences"));
  }
  for (size_t i = 0; i < sequences->size(); ++i) {
    const Matrix& x = (*sequences)[i];
    if (x.rows() < 1 || x.cols() != spec.d_model) {
      return EntryError(k, absl::StrCat("sequence ", i, " is ", x.rows(), "x",
                                        x.cols(), ", not n x ", spec.d_model));
    }
    const uint64_t index = entry.first_query_index + i;
    // A sample's input must be the one the seed dictates for its index, so
    // nobody can hand-pick examples and pass them off as drawn.
    if (request->sample &&
        !SameBits(x, DrawExample(policy.examples, spec.d_model,
                                 reveal.noise_seed, index))) {
      return EntryError(
          k, absl::StrCat("sample input ", i, " (sequence index ", index,
                          ") is not the example the seed dictates"));
    }
    const Matrix expected =
        AnswerTo(spec, reveal.secret, policy, reveal.noise_seed, index, x);
    if (!SameBits((*answers)[i], expected)) {
      return EntryError(k, absl::StrCat(request->sample ? "answer to sample "
                                                        : "answer to sequence ",
                                        i, " differs from the revealed layer"));
    }
    summary.tokens += static_cast<uint64_t>(x.rows());
  }
  summary.sequences += sequences->size();
  return absl::OkStatus();
}

// OK when the revealed secret and noise seed are the ones the revealed
// prior seed derives for `learner` (docs/VERIFICATION.md, section 2): the
// secret compared byte for byte with a fresh draw, the noise seed
// recomputed. An empty `learner` (an empty transcript names no one) checks
// the shared secret only, where the challenge has one.
absl::Status CheckDerivation(const RevealedChallenge& reveal,
                             const std::string& learner) {
  const ChallengeConfig& config = reveal.config;
  if (reveal.prior_seed != config.prior.seed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the revealed prior seed ", reveal.prior_seed,
        " is not the configuration's prior.seed ", config.prior.seed));
  }
  const uint64_t index = learner.empty() ? 0 : LearnerStreamIndex(learner);
  if (!config.per_learner_secrets || !learner.empty()) {
    const uint64_t secret_index = config.per_learner_secrets ? index : 0;
    const LayerParams derived =
        DrawSecret(config.spec, config.prior, secret_index);
    if (EncodeParams(derived) != EncodeParams(reveal.secret)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the revealed secret is not the one prior.seed derives",
          config.per_learner_secrets
              ? absl::StrCat(" for learner ", QuoteForMessage(learner))
              : std::string(" (the shared secret)")));
    }
  }
  if (learner.empty()) return absl::OkStatus();
  const uint64_t noise_seed =
      DeriveSeed(config.prior.seed, RngStream::kNoise, index);
  if (reveal.noise_seed != noise_seed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the revealed noise seed is not the one prior.seed derives for "
        "learner ",
        QuoteForMessage(learner)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifiedTranscript> VerifyTranscript(
    const RevealedChallenge& reveal, absl::string_view commitment,
    std::span<const TranscriptEntry> entries) {
  if (commitment.size() != kSha256Bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("the published commitment has ", commitment.size(),
                     " bytes, not the ", kSha256Bytes, " of a SHA-256 digest"));
  }
  if (Commitment(reveal.secret, reveal.nonce) != commitment) {
    return absl::FailedPreconditionError(
        "commitment does not match the revealed secret");
  }
  if (absl::Status s = CheckParams(reveal.config.spec, reveal.secret);
      !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the revealed secret does not fit the challenge: ", s.message()));
  }
  if (absl::Status s = CheckDerivation(
          reveal, entries.empty() ? std::string() : entries.front().learner);
      !s.ok()) {
    return s;
  }
  VerifiedTranscript summary;
  std::string previous;  // h_{-1} is empty
  struct Range {
    uint64_t end;    // one past the last index
    uint64_t entry;  // k of the entry that used it
  };
  std::map<uint64_t, Range> ranges;  // by first index
  uint64_t max_end = 0;
  for (uint64_t k = 0; k < entries.size(); ++k) {
    const TranscriptEntry& e = entries[k];
    if (e.index != k) {
      return EntryError(k, absl::StrCat("index is ", e.index,
                                        "; entries must run from 0 in order"));
    }
    if (RequestDigest(e.first_query_index, e.request) != e.request_digest) {
      return EntryError(k, "request digest does not match the request");
    }
    if (Sha256(e.response) != e.response_digest) {
      return EntryError(k, "response digest does not match the response");
    }
    if (ChainHash(previous, e.request_digest, e.response_digest) !=
        e.chain_hash) {
      return EntryError(k, "chain hash does not match");
    }
    const uint64_t sequences_before = summary.sequences;
    if (absl::Status s = Replay(reveal, k, e, summary); !s.ok()) return s;
    // Replicas on one database take indices at admission and commit in
    // any order, so ranges may come out of order and a killed replica
    // leaves a gap; what must hold is that no index answers twice.
    // Checked after the replay, which already names a shifted index where
    // the noise is keyed by it; without noise a re-used index replays
    // cleanly and is caught only here.
    const uint64_t first = e.first_query_index;
    const uint64_t n = summary.sequences - sequences_before;
    if (n > std::numeric_limits<uint64_t>::max() - first) {
      return EntryError(k, absl::StrCat("first query index ", first,
                                        " overflows with ", n, " sequences"));
    }
    if (n > 0) {
      // The neighbours by first index are the only ranges that can meet
      // [first, first + n), since the ranges held are disjoint.
      auto next = ranges.lower_bound(first);
      std::optional<uint64_t> overlapped;
      if (next != ranges.begin() && std::prev(next)->second.end > first) {
        overlapped = std::prev(next)->second.entry;
      } else if (next != ranges.end() && next->first < first + n) {
        overlapped = next->second.entry;
      }
      if (overlapped.has_value()) {
        return EntryError(
            k, absl::StrCat("query indices [", first, ", ", first + n,
                            ") overlap those of entry ", *overlapped,
                            "; an index answers at most one sequence"));
      }
      ranges.emplace(first, Range{first + n, k});
      max_end = std::max(max_end, first + n);
    }
    previous = e.chain_hash;
  }
  summary.entries = entries.size();
  summary.chain_head = previous;
  // Disjoint ranges inside [0, max_end): the rest were reserved, never
  // answered.
  summary.unanswered_indices = max_end - summary.sequences;
  return summary;
}

}  // namespace attnoracle
