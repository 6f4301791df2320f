// Fuzz target: one line of a transcript export (`oracle-client verify
// --transcript FILE` reads such lines) as JSON text, through
// TranscriptEntryFromJson and then VerifyTranscript against the reveal of
// the tight challenge (FuzzReveal()).
// Invariants: refusals are INVALID_ARGUMENT; an entry that parses (a
// query's or a sample's) holds canonical bytes that decode, writes back out
// (TranscriptEntryToJson) and reads in again to the same entry; verification
// answers OK or DATA_LOSS.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "client/json_codec.h"
#include "client/verify.h"
#include "common/transcript.h"
#include "tests/fuzz/fuzz_challenges.h"
#include "tests/fuzz/fuzz_check.h"

namespace attnoracle::fuzz {
namespace {

bool SameEntry(const TranscriptEntry& a, const TranscriptEntry& b) {
  return a.learner == b.learner && a.index == b.index &&
         a.first_query_index == b.first_query_index && a.request == b.request &&
         a.response == b.response && a.request_digest == b.request_digest &&
         a.response_digest == b.response_digest &&
         a.chain_hash == b.chain_hash &&
         a.answered_unix_ms == b.answered_unix_ms;
}

}  // namespace
}  // namespace attnoracle::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnoracle;
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
      data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  absl::StatusOr<TranscriptEntry> entry = TranscriptEntryFromJson(doc);
  if (!entry.ok()) {
    FUZZ_CHECK(entry.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(DecodeRequest(entry->request).ok());
  FUZZ_CHECK(DecodeMatrices(entry->response).ok());

  absl::StatusOr<nlohmann::ordered_json> written =
      TranscriptEntryToJson(*entry);
  FUZZ_CHECK(written.ok());
  const nlohmann::ordered_json reread = nlohmann::ordered_json::parse(
      written->dump(), nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!reread.is_discarded());
  absl::StatusOr<TranscriptEntry> again = TranscriptEntryFromJson(reread);
  FUZZ_CHECK(again.ok() && fuzz::SameEntry(*entry, *again));

  const RevealedChallenge& reveal = fuzz::FuzzReveal();
  absl::StatusOr<VerifiedTranscript> verified = VerifyTranscript(
      reveal, reveal.commitment, std::span<const TranscriptEntry>(&*entry, 1));
  // DATA_LOSS for an entry the reveal does not give; FAILED_PRECONDITION
  // when the entry names a learner whose noise seed (derived from the
  // learner's name) is not the revealed one.
  FUZZ_CHECK(verified.ok() ||
             verified.status().code() == absl::StatusCode::kDataLoss ||
             verified.status().code() == absl::StatusCode::kFailedPrecondition);
  return 0;
}
