// The wall clock the core stamps its records with (challenge creation,
// learner registration, answered queries, submissions).
//
//   record.created_unix_ms = NowUnixMs();
//
// Thread-safe.
#ifndef ATTNORACLE_SERVER_CORE_CLOCK_H_
#define ATTNORACLE_SERVER_CORE_CLOCK_H_

#include <cstdint>

namespace attnoracle {

// Milliseconds since the Unix epoch, from the system clock.
int64_t NowUnixMs();

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_CLOCK_H_
