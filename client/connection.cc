#include "client/connection.h"

#include "absl/strings/str_cat.h"

namespace attnoracle {

std::shared_ptr<grpc::Channel> NewChannel(const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(options.server,
                                   grpc::InsecureChannelCredentials(), args);
}

void PrepareContext(const ClientOptions& options,
                    grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + options.deadline);
  if (!options.token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options.token));
  }
}

}  // namespace attnoracle
