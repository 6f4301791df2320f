// The bench's required-work floor answers what it claims to compute: each
// step adds its piece of an oracle answer and nothing else.
#include "bench/floor_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

constexpr char kChallenge[] = R"pb(
  challenge {
    id: "floor-test"
    title: "floor test"
    spec { d_model: 4 heads: 2 }
    prior { seed: 11 }
  }
)pb";

class FloorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::vector<ChallengeConfig>> set =
        ParseChallengeSet(kChallenge, "test");
    ASSERT_TRUE(set.ok()) << set.status();
    spec_ = (*set)[0].spec;
    params_ = DrawSecret(spec_, (*set)[0].prior);
    service_ = std::make_unique<FloorServiceImpl>(spec_, params_);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = bench::Echo::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
    Rng rng(5);
    x_ = test::RandomMatrix(rng, 3, spec_.d_model);
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Query(const std::string& step, v1::QueryResponse* response,
                     ConstMatrixRef x, int sequences = 1) {
    v1::QueryRequest request;
    request.set_challenge_id(step);
    request.set_request_id(41);
    for (int i = 0; i < sequences; ++i) {
      MatrixToProto(x, request.add_sequences());
    }
    grpc::ClientContext context;
    return stub_->Query(&context, request, response);
  }

  static Matrix Output(const v1::QueryResponse& response) {
    absl::StatusOr<ConstMatrixMap> y = MatrixView(response.outputs(0), "y");
    EXPECT_TRUE(y.ok()) << y.status();
    return y.ok() ? Matrix(*y) : Matrix();
  }

  LayerSpec spec_;
  LayerParams params_;
  std::unique_ptr<FloorServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<bench::Echo::Stub> stub_;
  Matrix x_;
};

TEST_F(FloorServiceTest, ShapeCopiesTheInputThrough) {
  v1::QueryResponse response;
  ASSERT_TRUE(Query("shape", &response, x_).ok());
  EXPECT_EQ(response.request_id(), 41u);
  EXPECT_TRUE(test::BitwiseEqual(Output(response), x_));
  EXPECT_EQ(response.transcript_head().size(), 32u);
}

TEST_F(FloorServiceTest, EveryLaterStepAnswersWithTheForwardPass) {
  const Matrix expected = Forward(spec_, params_, x_);
  for (const std::string step : {"forward", "digests", "kept"}) {
    v1::QueryResponse response;
    ASSERT_TRUE(Query(step, &response, x_).ok()) << step;
    EXPECT_TRUE(test::BitwiseEqual(Output(response), expected)) << step;
  }
}

TEST_F(FloorServiceTest, DigestsChainTheTranscriptBytes) {
  v1::QueryResponse first;
  // Two sequences: query indices 0 and 1.
  ASSERT_TRUE(Query("forward", &first, x_, 2).ok());
  v1::QueryResponse response;
  ASSERT_TRUE(Query("digests", &response, x_).ok());
  const Matrix y = Forward(spec_, params_, x_);
  const std::string expected =
      ChainHash(std::string(32, '\x5a'),
                RequestDigest(2, EncodeMatrices(std::vector<Matrix>{x_})),
                Sha256(EncodeMatrices(std::vector<Matrix>{y})));
  EXPECT_EQ(HexEncode(response.transcript_head()), HexEncode(expected));
  // Before the digests step the head is not a hash of anything.
  EXPECT_EQ(first.transcript_head(), std::string(32, '\x5a'));
}

TEST_F(FloorServiceTest, OnlyKeptKeepsTheBytesUntilForgotten) {
  v1::QueryResponse response;
  for (const std::string step : {"shape", "forward", "digests"}) {
    ASSERT_TRUE(Query(step, &response, x_).ok()) << step;
  }
  EXPECT_EQ(service_->kept_bytes(), 0u);
  ASSERT_TRUE(Query("kept", &response, x_).ok());
  const Matrix y = Forward(spec_, params_, x_);
  const uint64_t one_answer = EncodeMatrices(std::vector<Matrix>{x_}).size() +
                              EncodeMatrices(std::vector<Matrix>{y}).size();
  EXPECT_EQ(service_->kept_bytes(), one_answer);
  ASSERT_TRUE(Query("kept", &response, x_).ok());
  EXPECT_EQ(service_->kept_bytes(), 2 * one_answer);
  service_->Forget();
  EXPECT_EQ(service_->kept_bytes(), 0u);
}

TEST_F(FloorServiceTest, BadRequestsGetPreciseCodesAndServingGoesOn) {
  v1::QueryResponse response;
  grpc::Status unknown = Query("everything", &response, x_);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("\"everything\""), std::string::npos);

  Rng rng(6);
  grpc::Status narrow =
      Query("forward", &response, test::RandomMatrix(rng, 3, 2));
  EXPECT_EQ(narrow.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(narrow.error_message().find("2 columns"), std::string::npos);

  EXPECT_TRUE(Query("kept", &response, x_).ok());
}

}  // namespace
}  // namespace attnoracle
