// The real OracleServer in process, driven through OracleClient and the raw
// stubs: black-box invariants of the built-in challenges, budgets, bad
// input, the query stream, health, unimplemented RPCs, bad configurations.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "attnoracle/v1/admin.grpc.pb.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/oracle_client.h"
#include "common/attention.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "server/service/oracle_server.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::MatricesNear;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kRelTol = 1e-12;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

constexpr char kTiny[] = "tiny-d4";
constexpr char kSingle[] = "single-head-d16";
constexpr char kCausal[] = "single-head-causal-d16";
constexpr char kLast[] = "last-token-d16";
constexpr char kTwoHead[] = "two-head-d16";
constexpr char kNoisy[] = "noisy-single-head-d16";
constexpr char kFloat32[] = "float32-single-head-d16";
constexpr int kDModel16 = 16;
constexpr double kNoiseSigma = 1e-3;

v1::QueryRequest Request(const std::string& challenge_id,
                         const std::vector<Matrix>& sequences,
                         uint64_t request_id = 0) {
  v1::QueryRequest request;
  request.set_challenge_id(challenge_id);
  request.set_request_id(request_id);
  for (const Matrix& x : sequences) MatrixToProto(x, request.add_sequences());
  return request;
}

// `count` random sequences of `tokens` tokens of width `width`.
std::vector<Matrix> RandomSequences(int count, int tokens, int width) {
  Rng rng(count * 1000 + tokens);
  std::vector<Matrix> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(RandomMatrix(rng, tokens, width));
  }
  return out;
}

// No network listener; `config_path` empty loads the built-in challenges.
ServerOptions InProcessOptions(const std::string& config_path = "") {
  ServerOptions options;
  options.listen_address = "";
  options.config_path = config_path;
  return options;
}

class OracleServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(InProcessOptions());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->InProcessChannel();
    client_ = std::make_unique<OracleClient>(channel_, ClientOptions{});
    stub_ = v1::Oracle::NewStub(channel_);
  }

  // The answers to `sequences`, or as many empty matrices after a failure.
  std::vector<Matrix> Answers(const std::string& id,
                              const std::vector<Matrix>& sequences) {
    absl::StatusOr<QueryAnswer> answer = client_->Query(id, sequences);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? answer->outputs
                       : std::vector<Matrix>(sequences.size());
  }

  Matrix Answer(const std::string& id, const Matrix& x) {
    return Answers(id, {x})[0];
  }

  Usage UsageOf(const std::string& id) {
    absl::StatusOr<Usage> usage = client_->GetUsage(id);
    EXPECT_TRUE(usage.ok()) << usage.status();
    return usage.value_or(Usage{});
  }

  absl::Status RawQuery(const v1::QueryRequest& request,
                        v1::QueryResponse* response = nullptr) {
    grpc::ClientContext context;
    v1::QueryResponse ignored;
    return FromGrpcStatus(stub_->Query(
        &context, request, response != nullptr ? response : &ignored));
  }

  // The challenge behind the service, to compare answers with the layer
  // itself. `id` must be a built-in challenge.
  const Challenge& Hidden(const std::string& id) {
    return **server_->registry().Find(id);
  }
  // The secret the open-mode caller is answered with.
  const Secret& HiddenSecret(const std::string& id) {
    return *Hidden(id).SecretFor(kAnonymousLearner);
  }

  std::unique_ptr<OracleServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<OracleClient> client_;
  std::unique_ptr<v1::Oracle::Stub> stub_;
};

TEST_F(OracleServiceTest, ListsTheBuiltInChallengesById) {
  absl::StatusOr<std::vector<ChallengeInfo>> list = client_->ListChallenges();
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> ids;
  for (const ChallengeInfo& info : *list) ids.push_back(info.id);
  EXPECT_THAT(
      ids, ElementsAre("chen-li-signs-d8-h2", kFloat32, kLast,
                       "linear-attention-d16", "multi-query-d16-h4",
                       "multihead-scalar-d8-h2", kNoisy,
                       "scalar-last-token-d16", "sign-scalar-d8", kCausal,
                       kSingle, "tied-two-layer-d16", kTiny,
                       "top3-last-token-d16", "transformer-ffn-d8", kTwoHead));
}

TEST_F(OracleServiceTest, DescribesAChallengeWithDefaultsFilledIn) {
  absl::StatusOr<ChallengeInfo> info = client_->Describe(kTiny);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->spec, Hidden(kTiny).config().spec);
  EXPECT_EQ(info->policy, Hidden(kTiny).config().policy);
  EXPECT_EQ(info->policy.budget, (Budget{.queries = 64, .tokens = 256}));
  EXPECT_EQ(info->phase, Phase::kOpen);

  absl::StatusOr<ChallengeInfo> missing = client_->Describe("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(missing.status()), HasSubstr("no challenge \"nope\""));
}

// With one token the softmax weight is 1, so without biases the output is
// x Wv Wo: linear in x.
class OneTokenIsLinear : public OracleServiceTest,
                         public ::testing::WithParamInterface<std::string> {};

TEST_P(OneTokenIsLinear, InItsToken) {
  const int d = Hidden(GetParam()).config().spec.d_model;
  Rng rng(31);
  const Matrix x1 = RandomMatrix(rng, 1, d), x2 = RandomMatrix(rng, 1, d);
  const std::vector<Matrix> y =
      Answers(GetParam(), {x1, Matrix(2 * x1), x2, Matrix(x1 + x2)});
  EXPECT_TRUE(MatricesNear(y[1], 2 * y[0], kRelTol));
  EXPECT_TRUE(MatricesNear(y[3], y[0] + y[2], kRelTol));
}

INSTANTIATE_TEST_SUITE_P(NoiselessFloat64, OneTokenIsLinear,
                         ::testing::Values(kTiny, kSingle, kCausal, kLast,
                                           kTwoHead),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string name = i.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_F(OracleServiceTest, RepeatedTokenAnswersItsOwnOutputTwice) {
  Rng rng(32);
  const Matrix x = RandomMatrix(rng, 1, kDModel16);
  Matrix xx(2, kDModel16);
  xx << x, x;
  const std::vector<Matrix> y = Answers(kSingle, {x, xx});
  ASSERT_EQ(y[1].rows(), 2);
  EXPECT_TRUE(MatricesNear(y[1].row(0), y[0], kRelTol));
  EXPECT_TRUE(MatricesNear(y[1].row(1), y[0], kRelTol));
}

TEST_F(OracleServiceTest, PermutingTokensPermutesOutputsWithoutMask) {
  Rng rng(33);
  Eigen::PermutationMatrix<Eigen::Dynamic> perm(5);
  perm.indices() << 3, 0, 4, 1, 2;
  for (const char* id : {kSingle, kTwoHead}) {
    SCOPED_TRACE(id);
    const Matrix x = RandomMatrix(rng, 5, kDModel16);
    const std::vector<Matrix> y = Answers(id, {x, Matrix(perm * x)});
    EXPECT_TRUE(MatricesNear(y[1], Matrix(perm * y[0]), kRelTol));
  }
}

TEST_F(OracleServiceTest, CausalPrefixIgnoresAppendedTokens) {
  Rng rng(34);
  const Matrix x = RandomMatrix(rng, 6, kDModel16);
  const std::vector<Matrix> y = Answers(kCausal, {Matrix(x.topRows(3)), x});
  ASSERT_EQ(y[1].rows(), 6);
  EXPECT_TRUE(MatricesNear(y[1].topRows(3), y[0], kRelTol));
}

// The converse, so the causal check above can tell the masks apart.
TEST_F(OracleServiceTest, UnmaskedPrefixChangesWhenTokensAreAppended) {
  Rng rng(34);
  const Matrix x = RandomMatrix(rng, 6, kDModel16);
  const std::vector<Matrix> y = Answers(kSingle, {Matrix(x.topRows(3)), x});
  ASSERT_EQ(y[1].rows(), 6);
  EXPECT_FALSE(MatricesNear(y[1].topRows(3), y[0], 1e-6));
}

TEST_F(OracleServiceTest, LastTokenReadoutAnswersOneRowDependingOnAll) {
  Rng rng(35);
  const Matrix x = RandomMatrix(rng, 5, kDModel16);
  Matrix changed_first = x;
  changed_first(0, 0) += 0.5;
  const std::vector<Matrix> y = Answers(kLast, {x, changed_first});
  EXPECT_EQ(y[0].rows(), 1);
  EXPECT_EQ(y[0].cols(), kDModel16);
  EXPECT_FALSE(MatricesNear(y[1], y[0], 1e-6));
}

TEST_F(OracleServiceTest, Float32AnswersAreFloats) {
  const Matrix y = Answer(kFloat32, RandomSequences(1, 7, kDModel16)[0]);
  ASSERT_EQ(y.rows(), 7);
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    const double v = y.data()[i];
    EXPECT_EQ(static_cast<double>(static_cast<float>(v)), v) << "entry " << i;
  }
}

double RootMeanSquare(const Matrix& m) {
  return std::sqrt(m.squaredNorm() / m.size());
}

TEST_F(OracleServiceTest, NoisyAnswersDifferByAboutSigma) {
  const Matrix x = RandomSequences(1, 8, kDModel16)[0];
  const std::vector<Matrix> y = Answers(kNoisy, {x, x});
  EXPECT_EQ((y[0].array() == y[1].array()).count(), 0);
  // Two independent draws: the difference has standard deviation sigma*sqrt2.
  EXPECT_NEAR(RootMeanSquare(y[1] - y[0]) / std::sqrt(2.0), kNoiseSigma,
              0.2 * kNoiseSigma);

  const Challenge& hidden = Hidden(kNoisy);
  const Matrix exact =
      Forward(hidden.config().spec, HiddenSecret(kNoisy).params, x);
  EXPECT_NEAR(RootMeanSquare(y[0] - exact), kNoiseSigma, 0.2 * kNoiseSigma);
  EXPECT_LT((y[0] - exact).cwiseAbs().maxCoeff(), 6 * kNoiseSigma);
}

TEST_F(OracleServiceTest, NoiseIsReproducibleFromSeedAndQueryIndex) {
  const Matrix x = RandomSequences(1, 4, kDModel16)[0];
  absl::StatusOr<QueryAnswer> first =
      client_->Query(kNoisy, std::vector<Matrix>{x});
  absl::StatusOr<QueryAnswer> second =
      client_->Query(kNoisy, std::vector<Matrix>{x});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(second->first_query_index, 1u);
  const Challenge& hidden = Hidden(kNoisy);
  const Secret& secret = HiddenSecret(kNoisy);
  Matrix expected = Forward(hidden.config().spec, secret.params, x);
  DegradeAnswer(hidden.config().policy, hidden.NoiseSeedFor(kAnonymousLearner),
                1, expected);
  EXPECT_TRUE(BitwiseEqual(second->outputs[0], expected));
}

void ExpectExhausted(absl::StatusOr<QueryAnswer> answer) {
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(MessageOf(answer.status()), HasSubstr("budget exhausted"));
}

TEST_F(OracleServiceTest, TinyTokenBudgetRunsOutExactly) {
  Answers(kTiny, RandomSequences(60, 4, 4));
  absl::StatusOr<QueryAnswer> last =
      client_->Query(kTiny, RandomSequences(2, 8, 4));
  ASSERT_TRUE(last.ok()) << last.status();
  const Usage spent{.queries_used = 62,
                    .tokens_used = 256,
                    .queries_left = 2,
                    .tokens_left = 0};
  EXPECT_EQ(last->usage, spent);
  ExpectExhausted(client_->Query(kTiny, RandomSequences(1, 1, 4)));
  EXPECT_EQ(UsageOf(kTiny), spent);
}

TEST_F(OracleServiceTest, TinyQueryBudgetRunsOutExactly) {
  Answers(kTiny, RandomSequences(63, 1, 4));
  Answers(kTiny, RandomSequences(1, 1, 4));
  const Usage spent{.queries_used = 64,
                    .tokens_used = 64,
                    .queries_left = 0,
                    .tokens_left = 192};
  EXPECT_EQ(UsageOf(kTiny), spent);
  ExpectExhausted(client_->Query(kTiny, RandomSequences(1, 1, 4)));
  EXPECT_EQ(UsageOf(kTiny), spent);
}

struct BadInput {
  std::string name;
  std::function<void(v1::QueryRequest&)> spoil;
  absl::StatusCode code;
  std::vector<std::string> message_parts;
};

void PrintTo(const BadInput& v, std::ostream* os) { *os << v.name; }

class OracleServiceRejects : public OracleServiceTest,
                             public ::testing::WithParamInterface<BadInput> {};

TEST_P(OracleServiceRejects, AndKeepsServing) {
  v1::QueryRequest request = Request(kSingle, RandomSequences(2, 3, kDModel16));
  GetParam().spoil(request);
  v1::QueryResponse response;
  const absl::Status status = RawQuery(request, &response);
  EXPECT_EQ(status.code(), GetParam().code);
  for (const std::string& part : GetParam().message_parts) {
    EXPECT_THAT(MessageOf(status), HasSubstr(part));
  }
  EXPECT_EQ(response.outputs_size(), 0);
  EXPECT_EQ(UsageOf(kSingle), (Usage{0, 0, 100'000, 1'000'000}));

  absl::StatusOr<QueryAnswer> good =
      client_->Query(kSingle, RandomSequences(1, 2, kDModel16));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->usage, (Usage{1, 2, 99'999, 999'998}));
}

void SetEntry(v1::QueryRequest& r, int sequence, int index, double value) {
  r.mutable_sequences(sequence)->set_values(index, value);
}

INSTANTIATE_TEST_SUITE_P(
    BadInputs, OracleServiceRejects,
    ::testing::Values(
        BadInput{"WrongWidth",
                 [](v1::QueryRequest& r) {
                   MatrixToProto(Matrix::Zero(2, 15), r.mutable_sequences(1));
                 },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[1]", "width 15", "d_model = 16"}},
        BadInput{"RaggedMatrix",
                 [](v1::QueryRequest& r) {
                   r.mutable_sequences(0)->mutable_values()->RemoveLast();
                 },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[0] declares 3x16 = 48 values but carries 47"}},
        BadInput{"EmptySequence",
                 [](v1::QueryRequest& r) {
                   r.mutable_sequences(1)->set_rows(0);
                   r.mutable_sequences(1)->clear_values();
                 },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[1] is empty"}},
        BadInput{"NoSequences",
                 [](v1::QueryRequest& r) { r.clear_sequences(); },
                 absl::StatusCode::kInvalidArgument,
                 {"no sequences"}},
        BadInput{"TooManyTokens",
                 [](v1::QueryRequest& r) {
                   MatrixToProto(Matrix::Zero(513, kDModel16),
                                 r.mutable_sequences(0));
                 },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[0] has 513 tokens", "max_tokens_per_sequence"}},
        BadInput{"NaN",
                 [](v1::QueryRequest& r) { SetEntry(r, 1, 17, kNaN); },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[1] token 1 entry 1", "not finite"}},
        BadInput{"Inf",
                 [](v1::QueryRequest& r) { SetEntry(r, 0, 0, -kInf); },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[0] token 0 entry 0", "not finite"}},
        BadInput{"TooLarge",
                 [](v1::QueryRequest& r) { SetEntry(r, 0, 47, 1000.5); },
                 absl::StatusCode::kInvalidArgument,
                 {"sequences[0] token 2 entry 15", "max_abs_input"}},
        BadInput{"UnknownChallenge",
                 [](v1::QueryRequest& r) { r.set_challenge_id("nope"); },
                 absl::StatusCode::kNotFound,
                 {"no challenge \"nope\""}}),
    [](const ::testing::TestParamInfo<BadInput>& info) {
      return info.param.name;
    });

// The server reads ahead of its answers; the answers still come in request
// order, each charged in that order, with refusals in-band in their place.
TEST_F(OracleServiceTest, StreamAnswersManyRequestsInFlightInOrder) {
  constexpr int kRequests = 50;  // more than the server reads ahead
  constexpr int kRefused = 17;
  grpc::ClientContext context;
  auto stream = stub_->QueryStream(&context);
  // Writes from another thread: the in-process transport hands a message
  // over only when the other side reads, so one thread could not write
  // all the requests before reading.
  std::thread writer([&] {
    for (int i = 0; i < kRequests; ++i) {
      const v1::QueryRequest request =
          i == kRefused ? Request(kSingle, {Matrix::Zero(1, 3)}, i)
                        : Request(kSingle, RandomSequences(1, 2, kDModel16), i);
      ASSERT_TRUE(stream->Write(request));
    }
    ASSERT_TRUE(stream->WritesDone());
  });
  uint64_t expected_index = 0;
  for (int i = 0; i < kRequests; ++i) {
    v1::QueryResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.request_id(), static_cast<uint64_t>(i));
    if (i == kRefused) {
      EXPECT_EQ(static_cast<absl::StatusCode>(response.error().code()),
                absl::StatusCode::kInvalidArgument);
      continue;
    }
    EXPECT_FALSE(response.has_error());
    EXPECT_EQ(response.first_query_index(), expected_index++);
  }
  v1::QueryResponse extra;
  EXPECT_FALSE(stream->Read(&extra));
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(OracleServiceTest, StreamAnswersBadRequestsInBandAndGoesOn) {
  const std::vector<v1::QueryRequest> requests = {
      Request(kSingle, RandomSequences(1, 2, kDModel16), 1),
      Request(kSingle, {Matrix::Zero(1, 3)}, 2),  // wrong width
      Request(kSingle, RandomSequences(1, 3, kDModel16), 3)};
  grpc::ClientContext context;
  auto stream = stub_->QueryStream(&context);
  std::vector<v1::QueryResponse> responses(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(stream->Write(requests[i]));
    ASSERT_TRUE(stream->Read(&responses[i]));
    EXPECT_EQ(responses[i].request_id(), i + 1);
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());

  EXPECT_FALSE(responses[0].has_error());
  EXPECT_EQ(responses[0].outputs_size(), 1);
  EXPECT_EQ(static_cast<absl::StatusCode>(responses[1].error().code()),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(responses[1].error().message(), HasSubstr("width 3"));
  EXPECT_EQ(responses[1].outputs_size(), 0);
  EXPECT_FALSE(responses[2].has_error());
  EXPECT_EQ(responses[2].first_query_index(), 1u);
  EXPECT_EQ(responses[2].usage().queries_used(), 2u);
  EXPECT_EQ(responses[2].usage().tokens_used(), 5u);
}

TEST_F(OracleServiceTest, HealthCheckAnswersServing) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  grpc::Slice empty_request{std::string()};
  const grpc::ByteBuffer request(&empty_request, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                    grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status s) { done.set_value(s); });
  const grpc::Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  grpc::Slice bytes;
  ASSERT_TRUE(response.DumpToSingleSlice(&bytes).ok());
  // HealthCheckResponse{status: SERVING}: field 1, varint 1.
  EXPECT_EQ(
      std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size()),
      std::string("\x08\x01", 2));
}

template <typename Call>
void ExpectCode(const char* name, absl::StatusCode code, Call call) {
  grpc::ClientContext context;
  const absl::Status status = FromGrpcStatus(call(&context));
  EXPECT_EQ(status.code(), code) << name << ": " << status;
}

// Every RPC is offered: in open mode each answers with its own codes, not
// UNIMPLEMENTED.
TEST_F(OracleServiceTest, NoRpcIsUnimplemented) {
  ExpectCode("Sample", absl::StatusCode::kNotFound,
             [&](grpc::ClientContext* c) {
               v1::SampleResponse r;
               return stub_->Sample(c, v1::SampleRequest(), &r);
             });
  ExpectCode("GetReveal", absl::StatusCode::kFailedPrecondition,
             [&](grpc::ClientContext* c) {
               v1::GetRevealRequest request;
               request.set_challenge_id(kTiny);
               v1::GetRevealResponse r;
               return stub_->GetReveal(c, request, &r);
             });
  auto admin = v1::Admin::NewStub(channel_);
  ExpectCode("CreateChallenge", absl::StatusCode::kPermissionDenied,
             [&](grpc::ClientContext* c) {
               v1::ChallengeInfo r;
               return admin->CreateChallenge(c, v1::CreateChallengeRequest(),
                                             &r);
             });
  ExpectCode("RegisterLearner", absl::StatusCode::kPermissionDenied,
             [&](grpc::ClientContext* c) {
               v1::RegisterLearnerResponse r;
               return admin->RegisterLearner(c, v1::RegisterLearnerRequest(),
                                             &r);
             });
}

// Sample over gRPC: the examples, their answers and the usage travel whole,
// and each example is charged like a query.
TEST_F(OracleServiceTest, SampleReturnsExamplesWithTheirAnswers) {
  absl::StatusOr<SampleAnswer> a = client_->Sample("chen-li-signs-d8-h2", 3);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->inputs.size(), 3u);
  ASSERT_EQ(a->outputs.size(), 3u);
  EXPECT_FALSE(a->top_k);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->inputs[i].rows(), 8);
    EXPECT_EQ(a->inputs[i].cols(), 8);
    EXPECT_TRUE((a->inputs[i].array().abs() == 1.0).all());
    EXPECT_EQ(a->outputs[i].rows(), 8);
    EXPECT_EQ(a->outputs[i].cols(), 8);
  }
  EXPECT_EQ(a->first_query_index, 0u);
  EXPECT_EQ(a->usage.queries_used, 3u);
  EXPECT_EQ(a->usage.tokens_used, 24u);
  absl::StatusOr<SampleAnswer> b = client_->Sample("chen-li-signs-d8-h2", 1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->first_query_index, 3u);
  EXPECT_NE(b->inputs[0], a->inputs[0]);
}

// Top-k answers leave the server as TopKAnswer messages and come back as
// (index, value) pair matrices; outputs stay empty.
TEST_F(OracleServiceTest, TopKAnswersTravelAsPairs) {
  v1::QueryRequest request;
  request.set_challenge_id("top3-last-token-d16");
  Matrix x = Matrix::Zero(2, 16);
  x(0, 0) = 1;
  x(1, 1) = 1;
  MatrixToProto(x, request.add_sequences());
  grpc::ClientContext context;
  v1::QueryResponse response;
  ASSERT_TRUE(stub_->Query(&context, request, &response).ok());
  EXPECT_EQ(response.outputs_size(), 0);
  ASSERT_EQ(response.top_k_size(), 1);
  EXPECT_EQ(response.top_k(0).rows(), 1u);
  EXPECT_EQ(response.top_k(0).k(), 3u);
  ASSERT_EQ(response.top_k(0).indices_size(), 3);
  ASSERT_EQ(response.top_k(0).values_size(), 3);
  EXPECT_GE(response.top_k(0).values(0), response.top_k(0).values(1));
  EXPECT_GE(response.top_k(0).values(1), response.top_k(0).values(2));
  absl::StatusOr<QueryAnswer> answer =
      client_->Query("top3-last-token-d16", std::vector<Matrix>{x});
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_TRUE(answer->top_k);
  ASSERT_EQ(answer->outputs[0].rows(), 1);
  ASSERT_EQ(answer->outputs[0].cols(), 6);
  EXPECT_EQ(answer->outputs[0](0, 0), response.top_k(0).indices(0));
  EXPECT_EQ(answer->outputs[0](0, 1), response.top_k(0).values(0));
}

std::string WriteConfig(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

absl::Status StartWith(const ServerOptions& options) {
  return OracleServer::BuildAndStart(options).status();
}

TEST(OracleServerTest, MalformedConfigIsInvalidArgument) {
  const std::string path =
      WriteConfig("malformed.textproto", "challenge {\n  id: \"x\"\n  spec {");
  const absl::Status status = StartWith(InProcessOptions(path));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(status), HasSubstr(path));
  EXPECT_THAT(MessageOf(status), HasSubstr("line"));
}

TEST(OracleServerTest, MissingConfigIsNotFound) {
  const std::string path = ::testing::TempDir() + "/missing.textproto";
  const absl::Status status = StartWith(InProcessOptions(path));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(status), HasSubstr(path));
}

TEST(OracleServerTest, UnusableAddressIsUnavailable) {
  ServerOptions options;
  // TEST-NET-1 (RFC 5737): never an address of this host.
  options.listen_address = "192.0.2.1:1";
  const absl::Status status = StartWith(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(MessageOf(status), HasSubstr("192.0.2.1:1"));
}

TEST(OracleServerTest, ServesTheChallengesOfItsConfigFile) {
  const std::string path = WriteConfig(
      "custom.textproto", "challenge { id: \"custom\" spec { d_model: 3 } }");
  absl::StatusOr<std::unique_ptr<OracleServer>> server =
      OracleServer::BuildAndStart(InProcessOptions(path));
  ASSERT_TRUE(server.ok()) << server.status();
  OracleClient client((*server)->InProcessChannel(), ClientOptions{});
  absl::StatusOr<std::vector<ChallengeInfo>> list = client.ListChallenges();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, "custom");
  EXPECT_EQ((*list)[0].spec.d_model, 3);
}

}  // namespace
}  // namespace attnoracle
