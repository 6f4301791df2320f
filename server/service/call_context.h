// What both gRPC services need from a call before calling the core: who it
// speaks for, from the "authorization: Bearer TOKEN" metadata, or in open
// mode the learner name a caller may give itself. (The status a call
// finishes with goes through ToGrpcStatus in common/grpc/grpc_status.h.)
//
//   absl::StatusOr<Principal> caller = CallerOf(*context, authenticator);
#ifndef ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
#define ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/core/authenticator.h"
#include "server/core/store.h"

namespace attnoracle {

// The metadata entry in which an open-mode caller names itself (see
// OpenLearnerOptions); oracle-client sends it for --learner NAME.
inline constexpr char kLearnerMetadata[] = "x-attnoracle-learner";

// UNAUTHENTICATED for a malformed authorization header or a token the
// authenticator refuses; a learner name the authenticator refuses gets its
// code (see Authenticator::Authenticate).
[[nodiscard]] absl::StatusOr<Principal> CallerOf(
    const grpc::ServerContextBase& context, const Authenticator& authenticator);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
