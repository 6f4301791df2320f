// RateLimiter: token buckets driven by an explicit clock, the retry hint,
// per-challenge rates over the server default, and the stream cap.
#include "server/core/rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <utility>
#include <vector>

#include "common/retry_hint.h"

namespace attnoracle {
namespace {

using ::testing::HasSubstr;

const LedgerKey kAlice{"ch", "alice"};
const LedgerKey kBob{"ch", "bob"};
const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

Limits Rate(double per_second, int burst = 0) {
  Limits l;
  l.max_requests_per_second = per_second;
  l.request_burst = burst;
  return l;
}

TEST(RateLimiterTest, NoRateMeansNoLimit) {
  RateLimiter limiter({});
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(limiter.Admit(kAlice, Limits{}, kT0).ok()) << i;
  }
}

TEST(RateLimiterTest, BurstThenRefusedWithRetryHint) {
  RateLimiter limiter({});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Admit(kAlice, Rate(10, 3), kT0).ok()) << i;
  }
  absl::Status refused = limiter.Admit(kAlice, Rate(10, 3), kT0);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("rate limit"));
  EXPECT_THAT(refused.message(), HasSubstr("retry after 100 ms"));
  EXPECT_EQ(RetryAfter(refused), absl::Milliseconds(100));
  // Another learner has a bucket of its own.
  EXPECT_TRUE(limiter.Admit(kBob, Rate(10, 3), kT0).ok());
}

TEST(RateLimiterTest, RefillsAtTheRate) {
  RateLimiter limiter({});
  const Limits limits = Rate(4, 1);  // one request per 250 ms
  ASSERT_TRUE(limiter.Admit(kAlice, limits, kT0).ok());
  EXPECT_FALSE(
      limiter.Admit(kAlice, limits, kT0 + absl::Milliseconds(200)).ok());
  EXPECT_TRUE(
      limiter.Admit(kAlice, limits, kT0 + absl::Milliseconds(250)).ok());
  // A long idle refills the bucket only up to the burst.
  const absl::Time later = kT0 + absl::Seconds(60);
  EXPECT_TRUE(limiter.Admit(kAlice, limits, later).ok());
  EXPECT_FALSE(limiter.Admit(kAlice, limits, later).ok());
}

TEST(RateLimiterTest, SustainedRateOverTenSeconds) {
  RateLimiter limiter({});
  int admitted = 0;
  // A client trying every millisecond for 10 s at 50 requests/s, burst 5.
  for (int ms = 0; ms < 10'000; ++ms) {
    admitted +=
        limiter.Admit(kAlice, Rate(50, 5), kT0 + absl::Milliseconds(ms)).ok();
  }
  EXPECT_GE(admitted, 500);
  EXPECT_LE(admitted, 505);
}

TEST(RateLimiterTest, ServerDefaultAppliesWhenTheChallengeSetsNone) {
  RateLimiter limiter(
      {.default_requests_per_second = 2, .default_request_burst = 2});
  EXPECT_TRUE(limiter.Admit(kAlice, Limits{}, kT0).ok());
  EXPECT_TRUE(limiter.Admit(kAlice, Limits{}, kT0).ok());
  EXPECT_EQ(limiter.Admit(kAlice, Limits{}, kT0).code(),
            absl::StatusCode::kResourceExhausted);
  // The challenge's own rate wins over the default.
  RateLimiter generous(
      {.default_requests_per_second = 2, .default_request_burst = 2});
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(generous.Admit(kAlice, Rate(100), kT0).ok()) << i;
  }
}

TEST(RateLimiterTest, DefaultBurstIsOneSecondsWorth) {
  RateLimiter limiter({});
  int admitted = 0;
  for (int i = 0; i < 100; ++i)
    admitted += limiter.Admit(kAlice, Rate(7.5), kT0).ok();
  EXPECT_EQ(admitted, 8);
}

TEST(RateLimiterTest, RetryAfterIgnoresOtherStatuses) {
  EXPECT_EQ(RetryAfter(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(RetryAfter(absl::ResourceExhaustedError("budget spent")),
            std::nullopt);
}

TEST(RateLimiterTest, StreamCapPerLearner) {
  RateLimiter limiter({.max_streams_per_learner = 2});
  std::vector<StreamSlot> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<StreamSlot> slot = limiter.OpenStream("alice");
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(*std::move(slot));
  }
  absl::StatusOr<StreamSlot> third = limiter.OpenStream("alice");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("2 concurrent QueryStreams"));
  EXPECT_TRUE(limiter.OpenStream("bob").ok());
  EXPECT_EQ(limiter.OpenStreams("alice"), 2);
  held.pop_back();  // closing one gives its slot back
  EXPECT_EQ(limiter.OpenStreams("alice"), 1);
  EXPECT_TRUE(limiter.OpenStream("alice").ok());
  held.clear();
  EXPECT_EQ(limiter.OpenStreams("alice"), 0);
}

// Submissions have buckets of their own, counted per minute: a learner
// that used its query burst may still submit, and the other way round.
TEST(RateLimiterTest, SubmissionsPerMinuteApartFromQueries) {
  RateLimiter limiter({});
  Limits limits = Rate(1, 1);
  limits.max_submissions_per_minute = 6;  // one per 10 s
  limits.submission_burst = 2;
  ASSERT_TRUE(limiter.Admit(kAlice, limits, kT0).ok());
  EXPECT_FALSE(limiter.Admit(kAlice, limits, kT0).ok());
  ASSERT_TRUE(limiter.AdmitSubmission(kAlice, limits, kT0).ok());
  ASSERT_TRUE(limiter.AdmitSubmission(kAlice, limits, kT0).ok());
  const absl::Status refused = limiter.AdmitSubmission(kAlice, limits, kT0);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("6 submissions per minute"));
  EXPECT_EQ(RetryAfter(refused), absl::Seconds(10));
  EXPECT_TRUE(limiter.AdmitSubmission(kBob, limits, kT0).ok());
  EXPECT_TRUE(
      limiter.AdmitSubmission(kAlice, limits, kT0 + absl::Seconds(10)).ok());
}

TEST(RateLimiterTest, SubmissionDefaultAppliesWhenTheChallengeSetsNone) {
  RateLimiter limiter(
      {.default_submissions_per_minute = 60, .default_submission_burst = 1});
  ASSERT_TRUE(limiter.AdmitSubmission(kAlice, Limits{}, kT0).ok());
  const absl::Status refused = limiter.AdmitSubmission(kAlice, Limits{}, kT0);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfter(refused), absl::Seconds(1));
  // The queries of the same learner are not limited by it.
  EXPECT_TRUE(limiter.Admit(kAlice, Limits{}, kT0).ok());
}

}  // namespace
}  // namespace attnoracle
