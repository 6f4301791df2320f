#include "common/request_check.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/message_quote.h"

namespace attnoracle {

absl::Status ValidateSequences(absl::string_view challenge_id,
                               const LayerSpec& spec, const Limits& limits,
                               std::span<const ConstMatrixMap> sequences,
                               uint64_t* tokens) {
  if (sequences.empty()) {
    return absl::InvalidArgumentError("the request has no sequences");
  }
  if (sequences.size() >
      static_cast<size_t>(limits.max_sequences_per_request)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", sequences.size(),
                     " sequences; challenge ", QuoteForMessage(challenge_id),
                     " allows at most ", limits.max_sequences_per_request,
                     " per request (max_sequences_per_request)"));
  }
  uint64_t total = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const ConstMatrixMap& x = sequences[i];
    if (x.cols() != spec.d_model) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequences[", i, "] has tokens of width ", x.cols(), "; challenge ",
          QuoteForMessage(challenge_id), " takes d_model = ", spec.d_model));
    }
    if (x.rows() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequences[", i, "] has no tokens"));
    }
    if (x.rows() > limits.max_tokens_per_sequence) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequences[", i, "] has ", x.rows(), " tokens; at most ",
                       limits.max_tokens_per_sequence,
                       " are allowed (max_tokens_per_sequence)"));
    }
    total += x.rows();
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      for (Eigen::Index j = 0; j < x.cols(); ++j) {
        const double v = x(t, j);
        if (!std::isfinite(v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("sequences[", i, "] token ", t, " entry ", j,
                           " is not finite (NaN or infinity)"));
        }
        if (std::abs(v) > limits.max_abs_input) {
          return absl::InvalidArgumentError(absl::StrCat(
              "sequences[", i, "] token ", t, " entry ", j, " = ", v,
              " exceeds max_abs_input = ", limits.max_abs_input));
        }
      }
    }
  }
  if (total > static_cast<uint64_t>(limits.max_tokens_per_request)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", total, " tokens; at most ",
                     limits.max_tokens_per_request,
                     " are allowed per request (max_tokens_per_request)"));
  }
  *tokens = total;
  return absl::OkStatus();
}

}  // namespace attnoracle
