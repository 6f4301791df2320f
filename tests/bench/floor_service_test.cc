// The bench's required-work floor answers what it claims to compute: each
// step adds its piece of an oracle answer and nothing else.
#include "bench/floor_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
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
  static constexpr uint64_t kTestLogBytes = 64 << 10;

  void SetUp() override {
    absl::StatusOr<std::vector<ChallengeConfig>> set =
        ParseChallengeSet(kChallenge, "test");
    ASSERT_TRUE(set.ok()) << set.status();
    spec_ = (*set)[0].spec;
    params_ = DrawSecret(spec_, (*set)[0].prior);
    // A name of its own, also against other runs of this test.
    std::string pattern = ::testing::TempDir() + "floor-durable-XXXXXX";
    const int fd = mkstemp(pattern.data());
    ASSERT_GE(fd, 0) << pattern << ": " << std::strerror(errno);
    close(fd);
    durable_path_ = pattern;
    Serve(durable_path_);
    Rng rng(5);
    x_ = test::RandomMatrix(rng, 3, spec_.d_model);
  }
  void TearDown() override {
    Stop();
    std::remove(durable_path_.c_str());
  }

  // A floor whose durable step writes a log of `log_bytes` at
  // `durable_path`, in its own server.
  void Serve(const std::string& durable_path,
             uint64_t log_bytes = kTestLogBytes) {
    Stop();
    service_ = std::make_unique<FloorServiceImpl>(spec_, params_, durable_path,
                                                  log_bytes);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = bench::Echo::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void Stop() {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    service_.reset();  // after its server, as the service asks
  }

  // The transcript bytes of one answer to `x`.
  std::string AnswerBytes(const Matrix& x) const {
    return EncodeMatrices(std::vector<Matrix>{x}) +
           EncodeMatrices(std::vector<Matrix>{Forward(spec_, params_, x)});
  }

  // The chain head the digests and durable steps answer for `x` as the
  // queries from `first_index` on, chained onto the constant head.
  std::string ExpectedHead(uint64_t first_index, const Matrix& x) const {
    return ChainHash(
        std::string(32, '\x5a'),
        RequestDigest(first_index, EncodeMatrices(std::vector<Matrix>{x})),
        Sha256(
            EncodeMatrices(std::vector<Matrix>{Forward(spec_, params_, x)})));
  }

  static std::string FileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

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
  std::string durable_path_;
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
  for (const std::string step : {"forward", "digests", "kept", "durable"}) {
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
  EXPECT_EQ(HexEncode(response.transcript_head()),
            HexEncode(ExpectedHead(2, x_)));
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
  const uint64_t one_answer = AnswerBytes(x_).size();
  EXPECT_EQ(service_->kept_bytes(), one_answer);
  ASSERT_TRUE(Query("kept", &response, x_).ok());
  EXPECT_EQ(service_->kept_bytes(), 2 * one_answer);
  service_->Forget();
  EXPECT_EQ(service_->kept_bytes(), 0u);
}

TEST_F(FloorServiceTest, DurableWritesTheTranscriptBytesBeforeAnswering) {
  ASSERT_TRUE(service_->durable_status().ok()) << service_->durable_status();
  const std::string zeros(kTestLogBytes, '\0');
  EXPECT_EQ(FileBytes(durable_path_), zeros);  // the log, prepared
  v1::QueryResponse response;
  for (const std::string step : {"shape", "forward", "digests", "kept"}) {
    ASSERT_TRUE(Query(step, &response, x_).ok()) << step;
  }
  EXPECT_EQ(service_->durable_bytes(), 0u);
  EXPECT_EQ(FileBytes(durable_path_), zeros);
  ASSERT_TRUE(Query("durable", &response, x_).ok());
  const std::string one_answer = AnswerBytes(x_);
  // On disk when the answer arrives, and not kept in memory as well.
  EXPECT_EQ(service_->durable_bytes(), one_answer.size());
  EXPECT_EQ(FileBytes(durable_path_),
            one_answer + zeros.substr(one_answer.size()));
  EXPECT_EQ(service_->kept_bytes(), one_answer.size());  // "kept"'s own
  // The same chain as the digests step.
  EXPECT_EQ(HexEncode(response.transcript_head()),
            HexEncode(ExpectedHead(4, x_)));

  // After Forget the log is written from its start again.
  service_->Forget();
  EXPECT_EQ(service_->durable_bytes(), 0u);
  Rng rng(8);
  const Matrix other = test::RandomMatrix(rng, 3, spec_.d_model);
  ASSERT_TRUE(Query("durable", &response, other).ok());
  EXPECT_EQ(FileBytes(durable_path_).substr(0, one_answer.size()),
            AnswerBytes(other));
}

TEST_F(FloorServiceTest, DurableOverwritesTheLogInACycle) {
  Rng rng(9);
  std::vector<Matrix> xs;
  for (int i = 0; i < 3; ++i) {
    xs.push_back(test::RandomMatrix(rng, 3, spec_.d_model));
  }
  const uint64_t one_answer = AnswerBytes(xs[0]).size();
  // Room for two answers and a half: the third goes back to the start.
  const uint64_t log_bytes = 2 * one_answer + one_answer / 2;
  Serve(durable_path_, log_bytes);
  v1::QueryResponse response;
  for (const Matrix& x : xs) ASSERT_TRUE(Query("durable", &response, x).ok());
  const std::string log = FileBytes(durable_path_);
  ASSERT_EQ(log.size(), log_bytes);  // it did not grow
  EXPECT_EQ(log.substr(0, one_answer), AnswerBytes(xs[2]));
  EXPECT_EQ(log.substr(one_answer, one_answer), AnswerBytes(xs[1]));
  EXPECT_EQ(log.substr(2 * one_answer), std::string(one_answer / 2, '\0'));
  EXPECT_EQ(service_->durable_bytes(), 3 * one_answer);

  // Room for exactly two: the second still fits, the third goes back.
  Serve(durable_path_, 2 * one_answer);
  for (const Matrix& x : xs) ASSERT_TRUE(Query("durable", &response, x).ok());
  EXPECT_EQ(FileBytes(durable_path_), AnswerBytes(xs[2]) + AnswerBytes(xs[1]));
}

TEST_F(FloorServiceTest, DurableAnswersEveryConcurrentCall) {
  // Calls arriving while the writer syncs wait for its next write, which
  // takes all of them; every one is answered after its bytes are out.
  constexpr int kCalls = 64;
  v1::QueryRequest request;
  request.set_challenge_id("durable");
  MatrixToProto(x_, request.add_sequences());
  std::vector<grpc::ClientContext> contexts(kCalls);
  std::vector<v1::QueryResponse> responses(kCalls);
  std::vector<grpc::Status> statuses(kCalls);
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    contexts[i].set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(20));
    stub_->async()->Query(&contexts[i], &request, &responses[i],
                          [&, i](grpc::Status status) {
                            absl::MutexLock lock(&mu);
                            statuses[i] = std::move(status);
                            ++done;
                          });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* d) { return *d == kCalls; }, &done));
  }
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
  }
  const std::string one_answer = AnswerBytes(x_);
  EXPECT_EQ(service_->durable_bytes(), kCalls * one_answer.size());
  // Every answer's bytes are in the log, one after another.
  std::string all;
  for (int i = 0; i < kCalls; ++i) all += one_answer;
  ASSERT_LE(all.size(), kTestLogBytes);
  EXPECT_EQ(FileBytes(durable_path_).substr(0, all.size()), all);
}

TEST_F(FloorServiceTest, DurableWithoutALogFailsClearly) {
  Serve("");
  EXPECT_EQ(service_->durable_status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::QueryResponse response;
  grpc::Status none = Query("durable", &response, x_);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(none.error_message().find("no file"), std::string::npos);
  EXPECT_TRUE(Query("kept", &response, x_).ok());

  Serve(::testing::TempDir() + "no-such-directory/floor");
  EXPECT_EQ(service_->durable_status().code(),
            absl::StatusCode::kFailedPrecondition);
  grpc::Status unopened = Query("durable", &response, x_);
  EXPECT_EQ(unopened.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(unopened.error_message().find("no-such-directory/floor: "),
            std::string::npos)
      << unopened.error_message();
}

TEST_F(FloorServiceTest, DurableWritesThatFailAreAnsweredUnavailable) {
  // Every write to /dev/full fails with ENOSPC. Without it (a sandbox's
  // bare /dev) opening the path would create a plain file instead.
  struct stat device;
  if (stat("/dev/full", &device) != 0 || !S_ISCHR(device.st_mode)) {
    GTEST_SKIP() << "no /dev/full device here";
  }
  // First when the log is prepared, then, with no log to prepare, when an
  // answer is written.
  v1::QueryResponse response;
  Serve("/dev/full");
  grpc::Status unprepared = Query("durable", &response, x_);
  EXPECT_EQ(unprepared.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(unprepared.error_message().find("preparing"), std::string::npos)
      << unprepared.error_message();
  EXPECT_EQ(service_->durable_status().message(), unprepared.error_message());
  Serve("/dev/full", 0);
  grpc::Status full = Query("durable", &response, x_);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(full.error_message().find("writing the floor's file /dev/full: "),
            std::string::npos)
      << full.error_message();
  // The next group is written anew, and fails again on its own.
  EXPECT_EQ(Query("durable", &response, x_).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(service_->durable_bytes(), 0u);
  EXPECT_TRUE(Query("kept", &response, x_).ok());
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
