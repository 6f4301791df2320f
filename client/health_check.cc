#include "client/health_check.h"

#include <grpcpp/generic/generic_stub.h>

#include <cstdint>
#include <future>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace attnoracle {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
// HealthCheckRequest.service and HealthCheckResponse.status are field 1.
constexpr int kFieldNumber = 1;
// HealthCheckResponse.ServingStatus values.
constexpr uint32_t kServing = 1;

std::string EncodeRequest(const std::string& service) {
  std::string bytes;
  if (service.empty()) return bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  WireFormatLite::WriteString(kFieldNumber, service, &coded);
  coded.Trim();
  return bytes;
}

// The status field of a HealthCheckResponse (0, UNKNOWN, when absent);
// unknown fields are skipped as protobuf would.
absl::StatusOr<uint32_t> DecodeStatus(const std::string& bytes) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  uint32_t status = 0;
  while (const uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kFieldNumber &&
        WireFormatLite::GetTagWireType(tag) ==
            WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint32(&status)) break;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  if (!in.ConsumedEntireMessage()) {
    return absl::InternalError("health check: the answer does not parse");
  }
  return status;
}

const char* ServingStatusName(uint32_t status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "an unknown status";
  }
}

}  // namespace

absl::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                         const ClientOptions& options,
                         const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.deadline);
  grpc::Slice request_slice(EncodeRequest(service));
  const grpc::ByteBuffer request(&request_slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(s); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) return CallStatus(status, context, options);
  grpc::Slice slice;
  if (!response.DumpToSingleSlice(&slice).ok()) {
    return absl::InternalError("health check: the answer could not be read");
  }
  absl::StatusOr<uint32_t> serving = DecodeStatus(
      std::string(reinterpret_cast<const char*>(slice.begin()), slice.size()));
  if (!serving.ok()) return serving.status();
  if (*serving != kServing) {
    return absl::UnavailableError(absl::StrCat(
        "health check: ", options.server, " answers ",
        ServingStatusName(*serving), " for service \"", service, "\""));
  }
  return absl::OkStatus();
}

}  // namespace attnoracle
