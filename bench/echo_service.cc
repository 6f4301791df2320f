#include "bench/echo_service.h"

#include "common/grpc/grpc_status.h"
#include "server/service/query_stream_reactor.h"

namespace attnoracle {
namespace {

// Answers each request of a stream with the registered response, through
// the stream machinery the oracle uses, so that the two streams differ only
// in the answering.
class EchoStreamReactor final : public QueryStreamReactor {
 public:
  explicit EchoStreamReactor(const EchoServiceImpl* echo) : echo_(echo) {
    Start();
  }

 private:
  void Answer(const v1::QueryRequest& request, v1::QueryResponse* response,
              AnswerDone done) override {
    done(echo_->Fill(request, response));
  }

  const EchoServiceImpl* const echo_;
};

}  // namespace

void EchoServiceImpl::SetResponse(const std::string& challenge_id,
                                  const v1::QueryResponse& response) {
  responses_[challenge_id] = response;
}

absl::Status EchoServiceImpl::Fill(const v1::QueryRequest& request,
                                   v1::QueryResponse* response) const {
  auto it = responses_.find(request.challenge_id());
  if (it == responses_.end()) {
    return absl::NotFoundError("no echo response for this challenge");
  }
  *response = it->second;
  response->set_request_id(request.request_id());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* EchoServiceImpl::Query(
    grpc::CallbackServerContext* context, const v1::QueryRequest* request,
    v1::QueryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(Fill(*request, response), *context));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
EchoServiceImpl::QueryStream(grpc::CallbackServerContext*) {
  return new EchoStreamReactor(this);
}

}  // namespace attnoracle
