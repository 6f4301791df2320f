// ClientOptions and the two things every client stub needs from them: a
// channel to the server and a prepared call context (deadline, token).
// Shared by OracleClient and AdminClient so both speak to the server alike.
//
//   ClientOptions options{.server = "127.0.0.1:50051", .token = token};
//   std::shared_ptr<grpc::Channel> channel = NewChannel(options);
//   grpc::ClientContext context;
//   PrepareContext(options, &context);
#ifndef ATTNORACLE_CLIENT_CONNECTION_H_
#define ATTNORACLE_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

namespace attnoracle {

struct ClientOptions {
  std::string server = "127.0.0.1:50051";
  // Deadline of every call (of a whole stream for streaming calls).
  std::chrono::milliseconds deadline = std::chrono::seconds(30);
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string token;
};

// An insecure channel to options.server with no limit on the size of
// received messages (answers and transcript pages can be large). Connects
// lazily.
std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options);

// Sets the deadline and, when there is a token, the authorization metadata.
void PrepareContext(const ClientOptions& options, grpc::ClientContext* context);

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_CONNECTION_H_
