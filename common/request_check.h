// The checks every query request passes before anything is charged: shapes
// against the spec and values against the access policy's limits. Shared by
// the server and by in-process oracles so both refuse the same requests.
//
//   uint64_t tokens = 0;
//   absl::Status s = ValidateSequences("tiny-d4", spec, limits, views,
//   &tokens);
#ifndef ATTNORACLE_COMMON_REQUEST_CHECK_H_
#define ATTNORACLE_COMMON_REQUEST_CHECK_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/access_policy.h"
#include "common/layer_spec.h"
#include "common/tensor.h"

namespace attnoracle {

// INVALID_ARGUMENT naming the first offending sequence or token (and the
// limit by its configuration name) when `sequences` are empty, of the wrong
// width, empty, over a limit, non-finite or too large; OK otherwise, with the
// request's token count in *tokens.
[[nodiscard]] absl::Status ValidateSequences(
    absl::string_view challenge_id, const LayerSpec& spec, const Limits& limits,
    std::span<const ConstMatrixMap> sequences, uint64_t* tokens);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_REQUEST_CHECK_H_
