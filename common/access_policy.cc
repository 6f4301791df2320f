#include "common/access_policy.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

absl::Status DefaultInt(const char* name, int& value, int fallback) {
  if (value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.limits.", name, " = ", value, " is negative"));
  }
  if (value == 0) value = fallback;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AccessPolicy> ResolvePolicy(const AccessPolicy& raw) {
  AccessPolicy p = raw;
  if (!std::isfinite(p.noise_sigma) || p.noise_sigma < 0) {
    return absl::InvalidArgumentError(
        "policy.noise_sigma must be finite and >= 0");
  }
  if (p.budget.queries == 0) p.budget.queries = kDefaultBudgetQueries;
  if (p.budget.tokens == 0) p.budget.tokens = kDefaultBudgetTokens;
  Limits& l = p.limits;
  if (!std::isfinite(l.max_abs_input) || l.max_abs_input < 0) {
    return absl::InvalidArgumentError(
        "policy.limits.max_abs_input must be finite and >= 0");
  }
  if (l.max_abs_input == 0) l.max_abs_input = kDefaultMaxAbsInput;
  if (!std::isfinite(l.max_requests_per_second) ||
      l.max_requests_per_second < 0) {
    return absl::InvalidArgumentError(
        "policy.limits.max_requests_per_second must be finite and >= 0");
  }
  if (l.request_burst < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy.limits.request_burst = ", l.request_burst, " is negative"));
  }
  if (!std::isfinite(l.max_submissions_per_minute) ||
      l.max_submissions_per_minute < 0) {
    return absl::InvalidArgumentError(
        "policy.limits.max_submissions_per_minute must be finite and >= 0");
  }
  if (l.submission_burst < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.limits.submission_burst = ", l.submission_burst,
                     " is negative"));
  }
  for (absl::Status s :
       {DefaultInt("max_tokens_per_sequence", l.max_tokens_per_sequence,
                   kDefaultMaxTokensPerSequence),
        DefaultInt("max_sequences_per_request", l.max_sequences_per_request,
                   kDefaultMaxSequencesPerRequest),
        DefaultInt("max_tokens_per_request", l.max_tokens_per_request,
                   kDefaultMaxTokensPerRequest)}) {
    if (!s.ok()) return s;
  }
  return p;
}

// Compiled with -ffp-contract=off (see CMakeLists.txt): the noise is
// sigma * z rounded, then added and rounded, never one fused multiply-add,
// so a build for any CPU replays it bit for bit.
void DegradeAnswer(const AccessPolicy& policy, uint64_t noise_seed,
                   uint64_t query_index, MatrixRef answer) {
  if (policy.noise_sigma > 0) {
    Rng rng(DeriveSeed(noise_seed, RngStream::kNoise, query_index));
    for (Eigen::Index i = 0; i < answer.rows(); ++i) {
      for (Eigen::Index j = 0; j < answer.cols(); ++j) {
        answer(i, j) += policy.noise_sigma * rng.NextGaussian();
      }
    }
  }
  if (policy.precision == Precision::kFloat32) {
    answer = answer.cast<float>().cast<double>();
  }
}

const char* PrecisionName(Precision precision) {
  return precision == Precision::kFloat32 ? "float32" : "float64";
}

}  // namespace attnoracle
