// TranscriptEntry: one answered query of a learner's transcript as the
// client sees it (GetTranscript, ExportTranscripts, export files), with the
// canonical bytes of the request and the answer (common/transcript.h).
//
//   absl::StatusOr<std::vector<TranscriptEntry>> t =
//       client->GetTranscript("tiny-d4");
//   absl::Status s = VerifyTranscript(..., *t);   // client/verify.h
#ifndef ATTNORACLE_CLIENT_TRANSCRIPT_ENTRY_H_
#define ATTNORACLE_CLIENT_TRANSCRIPT_ENTRY_H_

#include <cstdint>
#include <string>

#include "attnoracle/v1/oracle.pb.h"

namespace attnoracle {

struct TranscriptEntry {
  std::string learner;             // empty where the server leaves it out
  uint64_t index = 0;              // position in the chain, from 0
  uint64_t first_query_index = 0;  // noise of sequence i is keyed by this + i
  std::string request;             // EncodeMatrices(sequences)
  std::string response;            // EncodeMatrices(answers)
  std::string request_digest;      // raw SHA-256 bytes
  std::string response_digest;
  std::string chain_hash;
  int64_t answered_unix_ms = 0;
};

TranscriptEntry TranscriptEntryFromProto(const v1::TranscriptEntry& p);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_TRANSCRIPT_ENTRY_H_
