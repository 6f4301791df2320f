#include "server/core/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace attnoracle {

StreamSlot::StreamSlot(StreamSlot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)),
      learner_(std::move(other.learner_)) {}

StreamSlot::~StreamSlot() {
  if (limiter_ != nullptr) limiter_->CloseStream(learner_);
}

RateLimiter::RateLimiter(const RateLimiterOptions& options)
    : options_(options) {}

absl::Status RateLimiter::Admit(const LedgerKey& key, const Limits& limits,
                                absl::Time now) {
  double rate = limits.max_requests_per_second;
  int burst = limits.request_burst;
  if (rate <= 0) {
    rate = options_.default_requests_per_second;
    if (burst == 0) burst = options_.default_request_burst;
  }
  if (rate <= 0) return absl::OkStatus();
  const double capacity = burst > 0 ? burst : std::max(1.0, std::ceil(rate));
  absl::MutexLock lock(&mu_);
  return Take(buckets_, key, rate, 1, capacity, "requests per second", now);
}

absl::Status RateLimiter::AdmitSubmission(const LedgerKey& key,
                                          const Limits& limits,
                                          absl::Time now) {
  double rate = limits.max_submissions_per_minute;
  int burst = limits.submission_burst;
  if (rate <= 0) {
    rate = options_.default_submissions_per_minute;
    if (burst == 0) burst = options_.default_submission_burst;
  }
  if (rate <= 0) return absl::OkStatus();
  const double capacity = burst > 0 ? burst : std::max(1.0, std::ceil(rate));
  absl::MutexLock lock(&mu_);
  return Take(submission_buckets_, key, rate, 60, capacity,
              "submissions per minute", now);
}

absl::Status RateLimiter::Take(std::map<LedgerKey, Bucket>& buckets,
                               const LedgerKey& key, double rate,
                               double per_seconds, double capacity,
                               absl::string_view what, absl::Time now) {
  const double per_second = rate / per_seconds;
  auto [it, added] = buckets.try_emplace(key, Bucket{capacity, now});
  Bucket& b = it->second;
  if (!added && now > b.refilled) {
    b.available = std::min(
        capacity,
        b.available + absl::ToDoubleSeconds(now - b.refilled) * per_second);
    b.refilled = now;
  }
  if (b.available >= 1) {
    b.available -= 1;
    return absl::OkStatus();
  }
  const auto wait_ms =
      static_cast<int64_t>(std::ceil((1 - b.available) / per_second * 1000));
  return WithRetryAfter(absl::ResourceExhaustedError(absl::StrCat(
                            "rate limit: at most ", rate, " ", what, " (burst ",
                            capacity, ") per learner on \"", key.challenge_id,
                            "\"; retry after ", wait_ms, " ms")),
                        absl::Milliseconds(wait_ms));
}

absl::StatusOr<StreamSlot> RateLimiter::OpenStream(const std::string& learner) {
  absl::MutexLock lock(&mu_);
  int& open = streams_[learner];
  if (open >= options_.max_streams_per_learner) {
    return absl::ResourceExhaustedError(
        absl::StrCat("at most ", options_.max_streams_per_learner,
                     " concurrent QueryStreams per learner; close one first"));
  }
  ++open;
  return StreamSlot(this, learner);
}

int RateLimiter::OpenStreams(const std::string& learner) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(learner);
  return it == streams_.end() ? 0 : it->second;
}

void RateLimiter::CloseStream(const std::string& learner) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(learner);
  if (it != streams_.end() && --it->second == 0) streams_.erase(it);
}

}  // namespace attnoracle
