// AccessPolicy: what a learner may ask and how answers are degraded
// (precision, seeded noise), plus budgets and per-request limits.
//
//   absl::StatusOr<AccessPolicy> policy = ResolvePolicy(raw);
//   DegradeAnswer(*policy, noise_seed, query_index, y);
#ifndef ATTNORACLE_COMMON_ACCESS_POLICY_H_
#define ATTNORACLE_COMMON_ACCESS_POLICY_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "common/score.h"
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

// Which RPCs answer: Query/QueryStream (inputs the learner chooses), Sample
// (inputs the server draws), or both.
enum class Access { kQueries, kExamples, kBoth };
enum class InputDistribution { kSigns, kGaussian };
// The form of every answered number, after noise and precision.
enum class Answers { kValues, kSign, kTopK, kQuantized };

// Random examples: `tokens` x d_model inputs whose entries are +-scale
// (kSigns) or N(0, scale^2) (kGaussian). common/examples.h draws them.
struct ExampleDistribution {
  InputDistribution inputs = InputDistribution::kSigns;
  int tokens = 0;
  // Unset: 1 (ResolvePolicy fills it in); set: finite and > 0.
  std::optional<double> scale;
  friend bool operator==(const ExampleDistribution&,
                         const ExampleDistribution&) = default;
};

struct AccessPolicy {
  Precision precision = Precision::kFloat64;
  double noise_sigma = 0;  // standard deviation of additive gaussian noise
  Budget budget;
  Limits limits;
  Access access = Access::kQueries;
  ExampleDistribution examples;  // used when access allows Sample
  Answers answers = Answers::kValues;
  int top_k = 0;             // kTopK: entries per row, 1 to out_dim
  double quantize_step = 0;  // kQuantized: finite and > 0
  friend bool operator==(const AccessPolicy&, const AccessPolicy&) = default;
};

// Scores of challenges answering signs are ranked by sign disagreement.
inline Headline HeadlineOf(const AccessPolicy& p) {
  return p.answers == Answers::kSign ? Headline::kSignDisagreement
                                     : Headline::kFunctionalRelErr;
}

inline bool AllowsQueries(const AccessPolicy& p) {
  return p.access != Access::kExamples;
}
inline bool AllowsExamples(const AccessPolicy& p) {
  return p.access != Access::kQueries;
}

// A learner's consumption of one challenge's budget.
struct Usage {
  uint64_t queries_used = 0;
  uint64_t tokens_used = 0;
  uint64_t queries_left = 0;
  uint64_t tokens_left = 0;
  friend bool operator==(const Usage&, const Usage&) = default;
};

// Fills defaults. INVALID_ARGUMENT naming the field for negative or
// non-finite values, for examples without tokens (when access allows
// Sample) or set when it does not, an example scale that is not finite and
// > 0, a quantize_step that is not finite and > 0 under kQuantized, a
// top_k < 1 under kTopK, and top_k or quantize_step set under another
// answer form. top_k against out_dim is checked by ResolveChallenge, which
// knows the spec.
[[nodiscard]] absl::StatusOr<AccessPolicy> ResolvePolicy(
    const AccessPolicy& raw);

// Adds the policy's noise for the sequence at `query_index` (a function of
// noise_seed, query_index and the entry's position only) and then rounds to
// the declared precision, in place. The server keys noise_seed by the
// learner (docs/VERIFICATION.md gives every step).
void DegradeAnswer(const AccessPolicy& policy, uint64_t noise_seed,
                   uint64_t query_index, MatrixRef answer);

// Applies an element-wise answer form (kValues, kSign, kQuantized) in
// place, after DegradeAnswer: kSign gives +1 for every number >= 0 (-0
// included) and -1 otherwise; kQuantized gives quantize_step *
// nearbyint(y / quantize_step) (ties to even), with -0 written as +0.
// kTopK is not element-wise: see TopKInto.
void ApplyAnswerForm(const AccessPolicy& policy, MatrixRef answer);

// For each row of `values`, its k largest entries, largest first (equal
// values, -0 and +0 among them: lower column first; NaNs rank below every
// number), written to row r of `pairs` (rows x 2k) as
// index, value, index, value, ... (indices as exact doubles). k must be
// 1 to values.cols().
void TopKInto(ConstMatrixRef values, int k, MatrixRef pairs);

const char* PrecisionName(Precision precision);
const char* AccessName(Access access);
const char* InputDistributionName(InputDistribution inputs);
const char* AnswersName(Answers answers);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_ACCESS_POLICY_H_
