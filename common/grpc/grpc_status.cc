#include "common/grpc/grpc_status.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/retry_hint.h"

namespace attnoracle {

grpc::Status ToGrpcStatus(const absl::Status& status,
                          grpc::ServerContextBase& context) {
  if (status.ok()) return grpc::Status::OK;
  if (std::optional<absl::Duration> wait = RetryAfter(status)) {
    context.AddTrailingMetadata(kRetryAfterMsMetadata,
                                absl::StrCat(absl::ToInt64Milliseconds(*wait)));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::Status FromGrpcStatus(const grpc::Status& status,
                            const grpc::ClientContext& context) {
  absl::Status converted = FromGrpcStatus(status);
  if (converted.ok()) return converted;
  const auto& trailers = context.GetServerTrailingMetadata();
  auto hint = trailers.find(kRetryAfterMsMetadata);
  if (hint == trailers.end()) return converted;
  return WithRetryAfterMs(
      std::move(converted),
      absl::string_view(hint->second.data(), hint->second.size()));
}

}  // namespace attnoracle
