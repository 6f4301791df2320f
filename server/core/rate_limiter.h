// RateLimiter: a token bucket per (challenge, learner) that spaces out a
// learner's query requests, another that spaces out its submissions, and
// StreamSlots that cap a learner's concurrent
// QueryStreams. Both answer RESOURCE_EXHAUSTED when a learner is over its
// share; a refused request tells when to retry (RetryAfter).
//
//   RateLimiter limiter({.max_streams_per_learner = 8});
//   ATTN_RETURN_IF_ERROR(limiter.Admit(key, config.policy.limits,
//   absl::Now())); ATTN_ASSIGN_OR_RETURN(StreamSlot slot,
//   limiter.OpenStream("alice"));
//
// Thread-safe. Memory grows with the (challenge, learner) pairs that made a
// request under a rate limit and with the learners holding streams, both
// bounded by the registered learners.
#ifndef ATTNORACLE_SERVER_CORE_RATE_LIMITER_H_
#define ATTNORACLE_SERVER_CORE_RATE_LIMITER_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/access_policy.h"
#include "common/retry_hint.h"
#include "server/core/ledger.h"

namespace attnoracle {

struct RateLimiterOptions {
  // Used for challenges whose limits leave the rate at zero; 0 = no limit.
  double default_requests_per_second = 0;
  int default_request_burst = 0;  // 0: one second's worth, at least 1
  // Concurrent QueryStreams one learner may hold, over all challenges.
  int max_streams_per_learner = 16;
  // Submissions per minute for challenges whose limits leave that rate at
  // zero; 0 = no limit.
  double default_submissions_per_minute = 0;
  int default_submission_burst = 0;  // 0: one minute's worth, at least 1
};

class RateLimiter;

// A learner's claim on one concurrent stream, given back on destruction.
// Move-only.
class StreamSlot {
 public:
  StreamSlot(StreamSlot&& other) noexcept;
  StreamSlot& operator=(StreamSlot&& other) = delete;
  StreamSlot(const StreamSlot&) = delete;
  ~StreamSlot();

 private:
  friend class RateLimiter;
  StreamSlot(RateLimiter* limiter, std::string learner)
      : limiter_(limiter), learner_(std::move(learner)) {}
  RateLimiter* limiter_;  // null once moved from
  std::string learner_;
};

class RateLimiter {
 public:
  explicit RateLimiter(const RateLimiterOptions& options);

  // Takes one request from the bucket of `key` under `limits`, refilled at
  // the challenge's rate (or the default). OK, or RESOURCE_EXHAUSTED whose
  // message and RetryAfter() say how long until the next request is
  // admitted. `now` is passed in so tests can drive time.
  [[nodiscard]] absl::Status Admit(const LedgerKey& key, const Limits& limits,
                                   absl::Time now);

  // The same for one submission of `key`'s learner, with its own bucket
  // refilled at limits.max_submissions_per_minute (or the default).
  [[nodiscard]] absl::Status AdmitSubmission(const LedgerKey& key,
                                             const Limits& limits,
                                             absl::Time now);

  // A slot for one more stream of `learner`, or RESOURCE_EXHAUSTED when it
  // holds max_streams_per_learner already. The slot must not outlive this.
  [[nodiscard]] absl::StatusOr<StreamSlot> OpenStream(
      const std::string& learner);
  int OpenStreams(const std::string& learner) const;

 private:
  friend class StreamSlot;
  void CloseStream(const std::string& learner);

  struct Bucket {
    double available = 0;  // requests
    absl::Time refilled;
  };
  // Takes one from `key`'s bucket in `buckets`, refilled at `per_second`
  // up to `capacity`; `what` ("requests per second") words the refusal.
  absl::Status Take(std::map<LedgerKey, Bucket>& buckets, const LedgerKey& key,
                    double rate, double per_seconds, double capacity,
                    absl::string_view what, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimiterOptions options_;
  mutable absl::Mutex mu_;
  std::map<LedgerKey, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::map<LedgerKey, Bucket> submission_buckets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_RATE_LIMITER_H_
