// AccessPolicy: what a learner may ask and how answers are degraded
// (precision, seeded noise), plus budgets and per-request limits.
//
//   absl::StatusOr<AccessPolicy> policy = ResolvePolicy(raw);
//   DegradeAnswer(*policy, noise_seed, query_index, y);
#ifndef ATTNORACLE_COMMON_ACCESS_POLICY_H_
#define ATTNORACLE_COMMON_ACCESS_POLICY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace attnoracle {

enum class Precision { kFloat64, kFloat32 };

struct Budget {
  uint64_t queries = 0;  // sequences
  uint64_t tokens = 0;
  friend bool operator==(const Budget&, const Budget&) = default;
};

// Zero in a limit means "use the default" before ResolvePolicy.
struct Limits {
  double max_abs_input = 0;
  int max_tokens_per_sequence = 0;
  int max_sequences_per_request = 0;
  int max_tokens_per_request = 0;
  // Zero: the server's default rate (see RateLimiter); burst zero: one
  // second's worth, at least 1. Not filled by ResolvePolicy.
  double max_requests_per_second = 0;
  int request_burst = 0;
  // Zero: the server's default submission rate; burst zero: one minute's
  // worth, at least 1. Not filled by ResolvePolicy.
  double max_submissions_per_minute = 0;
  int submission_burst = 0;
  friend bool operator==(const Limits&, const Limits&) = default;
};

inline constexpr uint64_t kDefaultBudgetQueries = 100'000;
inline constexpr uint64_t kDefaultBudgetTokens = 1'000'000;
inline constexpr double kDefaultMaxAbsInput = 1000;
inline constexpr int kDefaultMaxTokensPerSequence = 512;
inline constexpr int kDefaultMaxSequencesPerRequest = 1024;
// 65,536 tokens of width 16 are 8 MiB of float64 on the wire.
inline constexpr int kDefaultMaxTokensPerRequest = 65'536;

struct AccessPolicy {
  Precision precision = Precision::kFloat64;
  double noise_sigma = 0;  // standard deviation of additive gaussian noise
  Budget budget;
  Limits limits;
  friend bool operator==(const AccessPolicy&, const AccessPolicy&) = default;
};

// A learner's consumption of one challenge's budget.
struct Usage {
  uint64_t queries_used = 0;
  uint64_t tokens_used = 0;
  uint64_t queries_left = 0;
  uint64_t tokens_left = 0;
  friend bool operator==(const Usage&, const Usage&) = default;
};

// Fills defaults. INVALID_ARGUMENT naming the field for negative or
// non-finite values.
[[nodiscard]] absl::StatusOr<AccessPolicy> ResolvePolicy(
    const AccessPolicy& raw);

// Adds the policy's noise for the sequence at `query_index` (a function of
// noise_seed, query_index and the entry's position only) and then rounds to
// the declared precision, in place. The server keys noise_seed by the
// learner (docs/VERIFICATION.md gives every step).
void DegradeAnswer(const AccessPolicy& policy, uint64_t noise_seed,
                   uint64_t query_index, MatrixRef answer);

const char* PrecisionName(Precision precision);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ACCESS_POLICY_H_
