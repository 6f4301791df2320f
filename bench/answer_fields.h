// The fields of the bench's answers that are not outputs: the usage, the
// first query index and a chain head, with values as long on the wire as a
// long-running oracle's. The echo baseline's prebuilt answers and the
// floor's answers both carry them, so that both send the same bytes.
//
//   v1::QueryResponse response;
//   SetAnswerFields(&response);
#ifndef ATTNORACLE_BENCH_ANSWER_FIELDS_H_
#define ATTNORACLE_BENCH_ANSWER_FIELDS_H_

#include <string>

#include "attnoracle/v1/oracle.pb.h"
#include "common/hashing.h"

namespace attnoracle {

// The byte every place of the chain head holds before a step hashes one.
inline constexpr char kAnswerHeadByte = '\x5a';

inline void SetAnswerFields(v1::QueryResponse* response) {
  v1::Usage* usage = response->mutable_usage();
  usage->set_queries_used(123456789);
  usage->set_tokens_used(987654321);
  usage->set_queries_left(999999999876543211ull);
  usage->set_tokens_left(999999999012345679ull);
  response->set_first_query_index(123456789);
  response->set_transcript_head(std::string(kSha256Bytes, kAnswerHeadByte));
}

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_ANSWER_FIELDS_H_
