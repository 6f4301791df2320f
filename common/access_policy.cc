#include "common/access_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

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
  if (p.access == Access::kQueries) {
    if (p.examples.tokens != 0 || p.examples.scale.has_value() ||
        p.examples.inputs != InputDistribution::kSigns) {
      return absl::InvalidArgumentError(
          "policy.examples is set but policy.access is ACCESS_QUERIES (no "
          "Sample): set access to ACCESS_EXAMPLES or ACCESS_BOTH, or drop "
          "examples");
    }
  } else {
    if (p.examples.tokens <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy.examples.tokens = ", p.examples.tokens,
          ": random examples need at least 1 token (policy.access is ",
          AccessName(p.access), ")"));
    }
    if (p.examples.tokens > l.max_tokens_per_sequence) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy.examples.tokens = ", p.examples.tokens,
                       " is over policy.limits.max_tokens_per_sequence = ",
                       l.max_tokens_per_sequence));
    }
    const double scale = p.examples.scale.value_or(1.0);
    if (!std::isfinite(scale) || scale <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy.examples.scale = ", scale, " must be finite and > 0"));
    }
    p.examples.scale = scale;
  }
  if (p.answers != Answers::kTopK && p.top_k != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy.top_k = ", p.top_k, " is set but policy.answers is ",
        AnswersName(p.answers), ", not ANSWERS_TOP_K"));
  }
  if (p.answers == Answers::kTopK && p.top_k < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy.top_k = ", p.top_k, ": ANSWERS_TOP_K needs top_k >= 1"));
  }
  if (p.answers != Answers::kQuantized && p.quantize_step != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.quantize_step = ", p.quantize_step,
                     " is set but policy.answers is ", AnswersName(p.answers),
                     ", not ANSWERS_QUANTIZED"));
  }
  if (p.answers == Answers::kQuantized &&
      (!std::isfinite(p.quantize_step) || p.quantize_step <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy.quantize_step = ", p.quantize_step,
                     ": ANSWERS_QUANTIZED needs a finite step > 0"));
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

void ApplyAnswerForm(const AccessPolicy& policy, MatrixRef answer) {
  switch (policy.answers) {
    case Answers::kValues:
    case Answers::kTopK:
      return;
    case Answers::kSign:
      for (Eigen::Index i = 0; i < answer.rows(); ++i) {
        for (Eigen::Index j = 0; j < answer.cols(); ++j) {
          answer(i, j) = answer(i, j) >= 0 ? 1.0 : -1.0;
        }
      }
      return;
    case Answers::kQuantized: {
      const double q = policy.quantize_step;
      for (Eigen::Index i = 0; i < answer.rows(); ++i) {
        for (Eigen::Index j = 0; j < answer.cols(); ++j) {
          // nearbyint rounds ties to even in the default rounding mode;
          // adding +0 turns a -0 product into +0.
          answer(i, j) = q * std::nearbyint(answer(i, j) / q) + 0.0;
        }
      }
      return;
    }
  }
}

void TopKInto(ConstMatrixRef values, int k, MatrixRef pairs) {
  std::vector<int> order(static_cast<size_t>(values.cols()));
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    std::iota(order.begin(), order.end(), 0);
    // A strict weak order even with NaN (which only an overflowing forward
    // pass makes): numbers by value, largest first, then NaNs; equal values
    // (-0 and +0 included) and NaNs by lower column.
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) {
                        const double va = values(r, a), vb = values(r, b);
                        const bool nan_a = std::isnan(va);
                        const bool nan_b = std::isnan(vb);
                        if (nan_a != nan_b) return nan_b;
                        if (!nan_a && va != vb) return va > vb;
                        return a < b;
                      });
    for (int i = 0; i < k; ++i) {
      pairs(r, 2 * i) = order[static_cast<size_t>(i)];
      pairs(r, 2 * i + 1) = values(r, order[static_cast<size_t>(i)]);
    }
  }
}

const char* AccessName(Access access) {
  switch (access) {
    case Access::kQueries:
      return "ACCESS_QUERIES";
    case Access::kExamples:
      return "ACCESS_EXAMPLES";
    case Access::kBoth:
      return "ACCESS_BOTH";
  }
  return "ACCESS_QUERIES";
}

const char* InputDistributionName(InputDistribution inputs) {
  return inputs == InputDistribution::kGaussian ? "INPUTS_GAUSSIAN"
                                                : "INPUTS_SIGNS";
}

const char* AnswersName(Answers answers) {
  switch (answers) {
    case Answers::kValues:
      return "ANSWERS_VALUES";
    case Answers::kSign:
      return "ANSWERS_SIGN";
    case Answers::kTopK:
      return "ANSWERS_TOP_K";
    case Answers::kQuantized:
      return "ANSWERS_QUANTIZED";
  }
  return "ANSWERS_VALUES";
}

const char* PrecisionName(Precision precision) {
  return precision == Precision::kFloat32 ? "float32" : "float64";
}

}  // namespace attnoracle
