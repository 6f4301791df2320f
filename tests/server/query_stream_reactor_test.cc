// QueryStreamReactor, the server side of every QueryStream, with a
// subclass that holds its answers back: the stream must read ahead to fill
// its window, and must write answers in request order however they finish.
#include "server/service/query_stream_reactor.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "attnoracle/v1/oracle.grpc.pb.h"

namespace attnoracle {
namespace {

constexpr int kWindow =
    static_cast<int>(QueryStreamReactor::kMaxRequestsInFlight);

// Holds every answer until a whole window of requests is waiting, then
// finishes them newest first. A request for challenge "refuse" is refused.
class HoldingStream final : public QueryStreamReactor {
 public:
  explicit HoldingStream(int* most_held, absl::Mutex* mu)
      : most_held_(most_held), stats_mu_(mu) {
    Start();
  }

 private:
  void Answer(const v1::QueryRequest& request, v1::QueryResponse* response,
              AnswerDone done) override {
    response->set_request_id(request.request_id());
    response->set_transcript_head("answered");
    const absl::Status status =
        request.challenge_id() == "refuse"
            ? absl::InvalidArgumentError("refused on purpose")
            : absl::OkStatus();
    std::vector<std::pair<AnswerDone, absl::Status>> release;
    {
      absl::MutexLock lock(&mu_);
      held_.emplace_back(std::move(done), status);
      {
        absl::MutexLock stats(stats_mu_);
        *most_held_ = std::max(*most_held_, static_cast<int>(held_.size()));
      }
      if (static_cast<int>(held_.size()) == kWindow) release.swap(held_);
    }
    for (auto it = release.rbegin(); it != release.rend(); ++it) {
      it->first(it->second);
    }
  }

  int* const most_held_;
  absl::Mutex* const stats_mu_;
  absl::Mutex mu_;
  std::vector<std::pair<AnswerDone, absl::Status>> held_ ABSL_GUARDED_BY(mu_);
};

class HoldingService final
    : public v1::Oracle::WithRawCallbackMethod_QueryStream<
          v1::Oracle::Service> {
 public:
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* QueryStream(
      grpc::CallbackServerContext*) override {
    return new HoldingStream(&most_held_, &mu_);
  }
  int most_held() const {
    absl::MutexLock lock(&mu_);
    return most_held_;
  }

 private:
  mutable absl::Mutex mu_;
  int most_held_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(QueryStreamReactorTest, ReadsAheadAndWritesInRequestOrder) {
  HoldingService service;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  std::unique_ptr<v1::Oracle::Stub> stub =
      v1::Oracle::NewStub(server->InProcessChannel(grpc::ChannelArguments()));

  const int requests = 2 * kWindow;  // every window fills and is released
  const int refused_at = 5;
  grpc::ClientContext context;
  // A stream that does not read ahead never fills a window: it fails here
  // instead of hanging.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  auto stream = stub->QueryStream(&context);
  std::thread writer([&] {
    for (int i = 0; i < requests; ++i) {
      v1::QueryRequest request;
      request.set_challenge_id(i == refused_at ? "refuse" : "c");
      request.set_request_id(i);
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  v1::QueryResponse response;
  int answers = 0;
  for (; answers < requests && stream->Read(&response); ++answers) {
    EXPECT_EQ(response.request_id(), static_cast<uint64_t>(answers));
    if (answers == refused_at) {
      EXPECT_EQ(response.error().code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(response.error().message(), "refused on purpose");
      EXPECT_TRUE(response.transcript_head().empty());
    } else {
      EXPECT_FALSE(response.has_error()) << "answer " << answers;
      EXPECT_EQ(response.transcript_head(), "answered");
    }
  }
  EXPECT_EQ(answers, requests);
  EXPECT_FALSE(stream->Read(&response));
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(service.most_held(), kWindow);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace
}  // namespace attnoracle
