// The retry hint of a rate-limited request: how long to wait before the
// next one is admitted. The server's core attaches it to its
// RESOURCE_EXHAUSTED status as a payload; ToGrpcStatus sends it on every
// call as trailing metadata "retry-after-ms" and FromGrpcStatus puts it back
// on the client's status (common/grpc/grpc_status.h), so learners can wait.
//
//   absl::Status s = WithRetryAfter(absl::ResourceExhaustedError("..."),
//                                   absl::Milliseconds(40));
//   if (std::optional<absl::Duration> wait = RetryAfter(s)) Sleep(*wait);
#ifndef ATTNORACLE_COMMON_RETRY_HINT_H_
#define ATTNORACLE_COMMON_RETRY_HINT_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace attnoracle {

// Trailing metadata key; the value is whole milliseconds, decimal.
inline constexpr char kRetryAfterMsMetadata[] = "retry-after-ms";

// `status` with the hint attached (whole milliseconds, rounded up).
absl::Status WithRetryAfter(absl::Status status, absl::Duration wait);
// The same from a metadata value; `status` unchanged if it is not a
// non-negative integer.
absl::Status WithRetryAfterMs(absl::Status status, absl::string_view ms);

// The hint on `status`, if any.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_RETRY_HINT_H_
