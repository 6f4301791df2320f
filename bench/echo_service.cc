#include "bench/echo_service.h"

#include <functional>
#include <utility>

namespace attnoracle {
namespace {

// Reads a request, answers it, writes the answer, reads the next. The
// Oracle's QueryStream reads ahead while answers wait for their commit;
// an echo has nothing to wait for, so reading ahead would gain it nothing.
class EchoStreamReactor final
    : public grpc::ServerBidiReactor<v1::QueryRequest, v1::QueryResponse> {
 public:
  template <typename Fill>
  explicit EchoStreamReactor(Fill fill) : fill_(std::move(fill)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    if (grpc::Status status = fill_(request_, &response_); !status.ok()) {
      Finish(status);
      return;
    }
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  std::function<grpc::Status(const v1::QueryRequest&, v1::QueryResponse*)>
      fill_;
  v1::QueryRequest request_;
  v1::QueryResponse response_;
};

}  // namespace

void EchoServiceImpl::SetResponse(const std::string& challenge_id,
                                  const v1::QueryResponse& response) {
  responses_[challenge_id] = response;
}

grpc::Status EchoServiceImpl::Fill(const v1::QueryRequest& request,
                                   v1::QueryResponse* response) const {
  auto it = responses_.find(request.challenge_id());
  if (it == responses_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "no echo response for this challenge");
  }
  *response = it->second;
  response->set_request_id(request.request_id());
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* EchoServiceImpl::Query(
    grpc::CallbackServerContext* context, const v1::QueryRequest* request,
    v1::QueryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Fill(*request, response));
  return reactor;
}

grpc::ServerBidiReactor<v1::QueryRequest, v1::QueryResponse>*
EchoServiceImpl::QueryStream(grpc::CallbackServerContext*) {
  return new EchoStreamReactor(
      [this](const v1::QueryRequest& request, v1::QueryResponse* response) {
        return Fill(request, response);
      });
}

}  // namespace attnoracle
