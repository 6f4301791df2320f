// What both gRPC services need from a call: who it speaks for (from the
// "authorization: Bearer TOKEN" metadata, or in open mode the learner name
// a caller may give itself), and the status to finish it with.
//
//   absl::StatusOr<Principal> caller = CallerOf(*context, authenticator);
//   return FinishStatus(context, core.Query(...).status());
#ifndef ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
#define ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "attnoracle/v1/oracle.pb.h"
#include "common/retry_hint.h"
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

// ToGrpcStatus(status), after copying a rate-limit refusal's retry delay
// into the call's trailing metadata (kRetryAfterMsMetadata).
grpc::Status FinishStatus(grpc::ServerContextBase* context,
                          const absl::Status& status);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_CALL_CONTEXT_H_
