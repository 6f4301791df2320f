// The bench's echo answers its calls with the prepared response, and its
// streams as the oracle's do: in request order, refusals in-band. (The
// stream machinery itself is tested in query_stream_reactor_test.)
#include "bench/echo_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "server/service/query_stream_reactor.h"

namespace attnoracle {
namespace {

class EchoServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::QueryResponse prepared;
    prepared.set_first_query_index(7);
    prepared.set_transcript_head("head");
    echo_.SetResponse("known", prepared);
    grpc::ServerBuilder builder;
    builder.RegisterService(&echo_);
    server_ = builder.BuildAndStart();
    stub_ = bench::Echo::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(Deadline(5)); }

  // A broken stream fails its test at the deadline instead of hanging.
  static std::chrono::system_clock::time_point Deadline(int seconds) {
    return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
  }

  EchoServiceImpl echo_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<bench::Echo::Stub> stub_;
};

TEST_F(EchoServiceTest, UnaryAnswersThePreparedResponse) {
  v1::QueryRequest request;
  request.set_challenge_id("known");
  request.set_request_id(3);
  v1::QueryResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(20));
  ASSERT_TRUE(stub_->Query(&context, request, &response).ok());
  EXPECT_EQ(response.request_id(), 3u);
  EXPECT_EQ(response.first_query_index(), 7u);

  request.set_challenge_id("unknown");
  grpc::ClientContext unknown;
  unknown.set_deadline(Deadline(20));
  EXPECT_EQ(stub_->Query(&unknown, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// More requests than the stream reads ahead, written while the answers are
// read: every one is answered, in order, and an unknown challenge is
// refused in-band without ending the stream.
TEST_F(EchoServiceTest, StreamAnswersEveryRequestInOrder) {
  const int requests = 3 * QueryStreamReactor::kMaxRequestsInFlight + 1;
  const int unknown_at = 20;
  grpc::ClientContext context;
  context.set_deadline(Deadline(20));
  auto stream = stub_->QueryStream(&context);
  std::thread writer([&] {
    for (int i = 0; i < requests; ++i) {
      v1::QueryRequest request;
      request.set_challenge_id(i == unknown_at ? "unknown" : "known");
      request.set_request_id(100 + i);
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  v1::QueryResponse response;
  for (int i = 0; i < requests; ++i) {
    if (!stream->Read(&response)) {
      ADD_FAILURE() << "the stream ended before answer " << i;
      break;
    }
    EXPECT_EQ(response.request_id(), 100u + i);
    if (i == unknown_at) {
      EXPECT_TRUE(response.has_error());
      EXPECT_EQ(response.error().code(), grpc::StatusCode::NOT_FOUND);
    } else {
      EXPECT_FALSE(response.has_error()) << "answer " << i;
      EXPECT_EQ(response.transcript_head(), "head");
    }
  }
  EXPECT_FALSE(stream->Read(&response));
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace attnoracle
