// What both gRPC services need from a call before calling the core: who it
// speaks for, from the "authorization: Bearer TOKEN" metadata. (The status
// a call finishes with goes through ToGrpcStatus in
// common/grpc/grpc_status.h.)
//
//   absl::StatusOr<Principal> caller = CallerOf(*context, authenticator);
#ifndef ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
#define ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/core/authenticator.h"
#include "server/core/store.h"

namespace attnoracle {

// UNAUTHENTICATED for a malformed authorization header or a token the
// authenticator refuses.
[[nodiscard]] absl::StatusOr<Principal> CallerOf(
    const grpc::ServerContextBase& context, const Authenticator& authenticator);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
