// The challenge set oracle-bench serves: configs/bench.textproto, compiled
// into the binary at configure time.
//
//   absl::string_view text = BenchChallengeSetText();
#ifndef ATTNORACLE_BENCH_BENCH_CHALLENGES_H_
#define ATTNORACLE_BENCH_BENCH_CHALLENGES_H_

#include "absl/strings/string_view.h"

namespace attnoracle {

// Protobuf text format of attnoracle.v1.ChallengeSet.
absl::string_view BenchChallengeSetText();

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_BENCH_CHALLENGES_H_
