// Request bytes parsed by the handlers themselves, and the one status for
// bytes that do not parse. gRPC answers bytes it cannot parse with a bare
// UNIMPLEMENTED (callback API) or ends the call before the handler runs;
// the Oracle methods take the raw bytes and the Admin methods read their
// request from a streamer, so both can say INVALID_ARGUMENT instead.
//
//   v1::QueryRequest request;
//   absl::Status parsed = ParseRequest(bytes, &request);
//   // or, where gRPC did the parsing and said only that it failed:
//   if (!streamer->Read(&request)) return UnparsableRequest<Request>();
#ifndef ATTNORACLE_SERVER_SERVICE_REQUEST_PARSE_H_
#define ATTNORACLE_SERVER_SERVICE_REQUEST_PARSE_H_

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace attnoracle {

// INVALID_ARGUMENT "the request could not be parsed as <full type name>".
template <typename Request>
absl::Status UnparsableRequest() {
  return absl::InvalidArgumentError(
      absl::StrCat("the request could not be parsed as ",
                   Request::descriptor()->full_name()));
}

// `bytes` parsed into *request; UnparsableRequest<Request>() when they do
// not parse.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, Request* request) {
  grpc::ByteBuffer consumed(bytes);  // Deserialize takes its buffer
  if (!grpc::SerializationTraits<Request>::Deserialize(&consumed, request)
           .ok()) {
    return UnparsableRequest<Request>();
  }
  return absl::OkStatus();
}

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVICE_REQUEST_PARSE_H_
