// The one place where absl::Status and grpc::Status meet. Codes map one to
// one (both follow google.rpc.Code); messages pass through unchanged. A
// grpc::Status has no payloads, so the retry hint of a rate-limited status
// (common/retry_hint.h) travels as the call's trailing metadata
// kRetryAfterMsMetadata: the server edge writes it, the client edge reads it
// back.
//
//   // Server: every handler finishes through this, whatever the RPC.
//   reactor->Finish(ToGrpcStatus(core.GetUsage(...).status(), *context));
//   // Client: after the call has finished.
//   absl::Status status = FromGrpcStatus(stub->GetUsage(&context, ...),
//                                        context);
#ifndef ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_
#define ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace attnoracle {

// The status to finish a server call with. A retry hint on `status` is
// added to `context`'s trailing metadata, so call this before the call is
// finished (before Finish, or before a synchronous handler returns), once.
grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::ServerContextBase& context);

// A finished call's status, code and message only (for raw stubs in tests
// that read the trailing metadata themselves).
absl::Status FromGrpcStatus(const grpc::Status& status);
// The same, with the retry hint the server put in `context`'s trailing
// metadata. Only valid once the call has finished.
absl::Status FromGrpcStatus(const grpc::Status& status,
                            const grpc::ClientContext& context);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_GRPC_GRPC_STATUS_H_
