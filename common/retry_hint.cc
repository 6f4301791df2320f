#include "common/retry_hint.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace attnoracle {
namespace {

constexpr char kRetryAfterMsPayload[] = "type.attnoracle.dev/retry-after-ms";

bool ParseMs(absl::string_view text, int64_t* ms) {
  return absl::SimpleAtoi(text, ms) && *ms >= 0;
}

}  // namespace

absl::Status WithRetryAfter(absl::Status status, absl::Duration wait) {
  const auto ms = static_cast<int64_t>(std::ceil(
      absl::ToDoubleMilliseconds(std::max(wait, absl::ZeroDuration()))));
  status.SetPayload(kRetryAfterMsPayload, absl::Cord(absl::StrCat(ms)));
  return status;
}

absl::Status WithRetryAfterMs(absl::Status status, absl::string_view ms) {
  int64_t value = 0;
  if (status.ok() || !ParseMs(ms, &value)) return status;
  return WithRetryAfter(std::move(status), absl::Milliseconds(value));
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterMsPayload);
  int64_t ms = 0;
  if (!payload || !ParseMs(std::string(*payload), &ms)) return std::nullopt;
  return absl::Milliseconds(ms);
}

}  // namespace attnoracle
