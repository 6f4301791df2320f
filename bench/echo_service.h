// EchoServiceImpl: the bare gRPC baseline of oracle-bench. It answers Query
// and QueryStream with the response registered for the request's
// challenge_id, built before the measurement, so a call costs what gRPC
// costs for those bytes and nothing else. Its QueryStream runs on the
// oracle's stream machinery (QueryStreamReactor), reading ahead as the
// oracle's does.
//
//   EchoServiceImpl echo;
//   echo.SetResponse("bench-d16", prebuilt_response);
//   builder.RegisterService(&echo);
//
// SetResponse must happen before the server starts; afterwards the service
// is read-only and thread-safe.
#ifndef ATTNORACLE_BENCH_ECHO_SERVICE_H_
#define ATTNORACLE_BENCH_ECHO_SERVICE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "attnoracle/bench/echo.grpc.pb.h"

namespace attnoracle {

// QueryStream registered raw, as QueryStreamReactor needs.
class EchoServiceImpl final
    : public bench::Echo::WithCallbackMethod_Query<
          bench::Echo::WithRawCallbackMethod_QueryStream<
              bench::Echo::Service>> {
 public:
  void SetResponse(const std::string& challenge_id,
                   const v1::QueryResponse& response);

  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const v1::QueryRequest* request,
                                  v1::QueryResponse* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* QueryStream(
      grpc::CallbackServerContext* context) override;

  // NOT_FOUND for a challenge with no registered response (on a stream,
  // answered in-band).
  absl::Status Fill(const v1::QueryRequest& request,
                    v1::QueryResponse* response) const;

 private:
  std::map<std::string, v1::QueryResponse> responses_;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_BENCH_ECHO_SERVICE_H_
