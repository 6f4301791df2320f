#include "client/transcript_entry.h"

namespace attnoracle {

TranscriptEntry TranscriptEntryFromProto(const v1::TranscriptEntry& p) {
  TranscriptEntry e;
  e.learner = p.learner();
  e.index = p.index();
  e.first_query_index = p.first_query_index();
  e.request = p.request();
  e.response = p.response();
  e.request_digest = p.request_digest();
  e.response_digest = p.response_digest();
  e.chain_hash = p.chain_hash();
  e.answered_unix_ms = p.answered_unix_ms();
  return e;
}

}  // namespace attnoracle
