// Status propagation helpers (abseil 20220623 ships none).
//
//   ATTN_RETURN_IF_ERROR(Validate(x));
//   ATTN_ASSIGN_OR_RETURN(auto spec, ResolveSpec(raw));
#ifndef ATTNORACLE_COMMON_STATUS_MACROS_H_
#define ATTNORACLE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ATTN_RETURN_IF_ERROR(expr)                                \
  do {                                                            \
    if (absl::Status _attn_status = (expr); !_attn_status.ok()) { \
      return _attn_status;                                        \
    }                                                             \
  } while (false)

#define ATTN_CONCAT_INNER_(a, b) a##b
#define ATTN_CONCAT_(a, b) ATTN_CONCAT_INNER_(a, b)

#define ATTN_ASSIGN_OR_RETURN(lhs, expr) \
  ATTN_ASSIGN_OR_RETURN_IMPL_(ATTN_CONCAT_(_attn_or_, __LINE__), lhs, expr)

#define ATTN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()

#endif  // ATTNORACLE_COMMON_STATUS_MACROS_H_
