#include "server/service/call_context.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace attnoracle {

absl::StatusOr<Principal> CallerOf(const grpc::ServerContext& context,
                                   const Authenticator& authenticator) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return authenticator.Authenticate("");
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(value, kBearer)) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be 'Bearer TOKEN'");
  }
  return authenticator.Authenticate(value.substr(kBearer.size()));
}

void TranscriptToProto(const TranscriptRecord& r, v1::TranscriptEntry* out) {
  out->set_index(r.index);
  out->set_request_digest(r.request_digest);
  out->set_response_digest(r.response_digest);
  out->set_chain_hash(r.chain_hash);
  out->set_first_query_index(r.first_query_index);
  out->set_request(r.request);
  out->set_response(r.response);
  out->set_learner(r.learner);
  out->set_answered_unix_ms(r.created_ms);
}

}  // namespace attnoracle
