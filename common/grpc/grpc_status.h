// The one place where absl::Status and grpc::Status meet. Codes map one to
// one (both follow google.rpc.Code); messages pass through unchanged.
//
//   return ToGrpcStatus(core.Query(...).status());
#ifndef ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_
#define ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace attnoracle {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_
