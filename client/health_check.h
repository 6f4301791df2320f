// CheckHealth: asks a server's grpc.health.v1.Health/Check whether it
// serves, as container healthchecks and load balancers do, without a
// generated stub (the standard health proto is gRPC's, not ours: the request
// and the one field of the answer are encoded here by the protobuf library's
// coded streams).
//
//   ClientOptions options{.server = "127.0.0.1:50051"};
//   absl::Status s = CheckHealth(NewChannel(options), options, "");
//   // OK: SERVING; UNAVAILABLE: NOT_SERVING or no server reached.
#ifndef ATTNORACLE_CLIENT_HEALTH_CHECK_H_
#define ATTNORACLE_CLIENT_HEALTH_CHECK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "client/connection.h"

namespace attnoracle {

// One Check call for `service` ("" is the server as a whole) within
// options.deadline. OK when the server answers SERVING; UNAVAILABLE when it
// answers anything else (the message names the status) or cannot be reached;
// NOT_FOUND when it does not know `service`; otherwise the call's status.
// Thread-safe; sends no token.
[[nodiscard]] absl::Status CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const ClientOptions& options,
    const std::string& service);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_HEALTH_CHECK_H_
