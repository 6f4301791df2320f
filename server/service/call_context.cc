#include "server/service/call_context.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace attnoracle {

absl::StatusOr<Principal> CallerOf(const grpc::ServerContextBase& context,
                                   const Authenticator& authenticator) {
  const auto& metadata = context.client_metadata();
  std::optional<absl::string_view> learner;
  if (auto named = metadata.find(kLearnerMetadata); named != metadata.end()) {
    learner = absl::string_view(named->second.data(), named->second.size());
  }
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return authenticator.Authenticate("", learner);
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be 'Bearer TOKEN'");
  }
  return authenticator.Authenticate(value.substr(kBearer.size()), learner);
}

}  // namespace attnoracle
