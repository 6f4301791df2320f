// Helpers for in-process tests of a competition server: a Session calls the
// raw Oracle and Admin stubs with one "authorization" header, CompetitionTest
// runs an OracleServer on a temporary database with an admin token and can
// restart it, and ReplayTranscript checks a revealed secret against a
// transcript bit for bit.
//
//   Session admin = Admin();
//   ASSERT_TRUE(admin.Create(SmallConfig("ch")).ok());
//   Session alice = Register("alice");
//   absl::StatusOr<v1::QueryResponse> r = alice.Query("ch", sequences);
#ifndef ATTNORACLE_TESTS_SERVER_COMPETITION_FIXTURE_H_
#define ATTNORACLE_TESTS_SERVER_COMPETITION_FIXTURE_H_

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/admin.grpc.pb.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "common/transcript.h"
#include "server/service/call_context.h"
#include "server/service/oracle_server.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle::test {

inline constexpr char kAdminToken[] = "admin-secret";

inline std::string Bearer(const std::string& token) {
  return absl::StrCat("Bearer ", token);
}

// Where a Session finds the server: asked on every call, so that a session
// keeps working across server restarts.
using ChannelSource = std::function<std::shared_ptr<grpc::Channel>()>;

// One caller: every call carries `authorization` as its authorization
// metadata (none when empty), and the learner name of Named() if any.
// Cheap to copy; thread-safe.
class Session {
 public:
  Session(ChannelSource channel, std::string authorization)
      : channel_(std::move(channel)),
        authorization_(std::move(authorization)) {}

  // This caller, naming itself `learner` (kLearnerMetadata) on every call.
  Session Named(std::string learner) const {
    Session named = *this;
    named.learner_ = std::move(learner);
    return named;
  }

  // A unary call of either stub, with this session's metadata.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Unary(
      Stub& stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) const {
    grpc::ClientContext context;
    Authorize(&context);
    Response response;
    ATTN_RETURN_IF_ERROR(
        FromGrpcStatus((stub.*method)(&context, request, &response)));
    return response;
  }

  absl::StatusOr<v1::ListChallengesResponse> List() const {
    return Unary(*Oracle(), &v1::Oracle::Stub::ListChallenges,
                 v1::ListChallengesRequest());
  }
  absl::StatusOr<v1::ChallengeInfo> Describe(const std::string& id) const {
    v1::DescribeChallengeRequest request;
    request.set_challenge_id(id);
    return Unary(*Oracle(), &v1::Oracle::Stub::DescribeChallenge, request);
  }
  absl::StatusOr<v1::QueryResponse> Query(
      const std::string& id, const std::vector<Matrix>& sequences) const {
    return Unary(*Oracle(), &v1::Oracle::Stub::Query,
                 QueryRequestOf(id, sequences));
  }
  // One request over QueryStream; an in-band error becomes the status.
  absl::StatusOr<v1::QueryResponse> QueryOverStream(
      const std::string& id, const std::vector<Matrix>& sequences) const {
    grpc::ClientContext context;
    Authorize(&context);
    std::unique_ptr<v1::Oracle::Stub> stub = Oracle();
    auto stream = stub->QueryStream(&context);
    v1::QueryResponse response;
    const bool exchanged =
        stream->Write(QueryRequestOf(id, sequences)) && stream->Read(&response);
    stream->WritesDone();
    ATTN_RETURN_IF_ERROR(FromGrpcStatus(stream->Finish()));
    if (!exchanged) return absl::InternalError("the stream ended early");
    if (response.has_error()) return StatusFromProto(response.error());
    return response;
  }
  absl::StatusOr<v1::Usage> GetUsage(const std::string& id) const {
    v1::GetUsageRequest request;
    request.set_challenge_id(id);
    return Unary(*Oracle(), &v1::Oracle::Stub::GetUsage, request);
  }
  absl::StatusOr<v1::SubmitResponse> Submit(
      const std::string& id, const LayerParams& hypothesis) const {
    v1::SubmitRequest request;
    request.set_challenge_id(id);
    ParamsToProto(hypothesis, request.mutable_hypothesis());
    return Unary(*Oracle(), &v1::Oracle::Stub::Submit, request);
  }
  absl::StatusOr<v1::GetLeaderboardResponse> Leaderboard(
      const std::string& id) const {
    v1::GetLeaderboardRequest request;
    request.set_challenge_id(id);
    return Unary(*Oracle(), &v1::Oracle::Stub::GetLeaderboard, request);
  }
  absl::StatusOr<v1::GetTranscriptResponse> Transcript(
      const std::string& id, uint64_t first_index = 0,
      uint32_t max_entries = 0) const {
    v1::GetTranscriptRequest request;
    request.set_challenge_id(id);
    request.set_first_index(first_index);
    request.set_max_entries(max_entries);
    return Unary(*Oracle(), &v1::Oracle::Stub::GetTranscript, request);
  }
  absl::StatusOr<v1::GetRevealResponse> Reveal(
      const std::string& id, const std::string& learner = "") const {
    v1::GetRevealRequest request;
    request.set_challenge_id(id);
    request.set_learner(learner);
    return Unary(*Oracle(), &v1::Oracle::Stub::GetReveal, request);
  }

  absl::StatusOr<v1::ChallengeInfo> Create(
      const v1::ChallengeConfig& config) const {
    v1::CreateChallengeRequest request;
    *request.mutable_config() = config;
    return Unary(*Admin(), &v1::Admin::Stub::CreateChallenge, request);
  }
  absl::StatusOr<v1::ChallengeInfo> SetPhase(const std::string& id,
                                             v1::Phase phase) const {
    v1::SetPhaseRequest request;
    request.set_challenge_id(id);
    request.set_phase(phase);
    return Unary(*Admin(), &v1::Admin::Stub::SetPhase, request);
  }
  absl::StatusOr<v1::RegisterLearnerResponse> Register(
      const std::string& name) const {
    v1::RegisterLearnerRequest request;
    request.set_name(name);
    return Unary(*Admin(), &v1::Admin::Stub::RegisterLearner, request);
  }
  absl::Status Revoke(const std::string& name) const {
    v1::RevokeLearnerRequest request;
    request.set_name(name);
    return Unary(*Admin(), &v1::Admin::Stub::RevokeLearner, request).status();
  }
  absl::StatusOr<v1::Usage> Grant(const std::string& id,
                                  const std::string& learner, uint64_t queries,
                                  uint64_t tokens) const {
    v1::GrantBudgetRequest request;
    request.set_challenge_id(id);
    request.set_learner(learner);
    request.set_queries(queries);
    request.set_tokens(tokens);
    return Unary(*Admin(), &v1::Admin::Stub::GrantBudget, request);
  }
  // Every entry the stream sends, or the stream's status.
  absl::StatusOr<std::vector<v1::TranscriptEntry>> Export(
      const std::string& id) const {
    grpc::ClientContext context;
    Authorize(&context);
    v1::ExportTranscriptsRequest request;
    request.set_challenge_id(id);
    std::unique_ptr<v1::Admin::Stub> stub = Admin();
    auto reader = stub->ExportTranscripts(&context, request);
    std::vector<v1::TranscriptEntry> entries;
    v1::TranscriptEntry entry;
    while (reader->Read(&entry)) entries.push_back(entry);
    ATTN_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
    return entries;
  }

  static v1::QueryRequest QueryRequestOf(const std::string& id,
                                         const std::vector<Matrix>& sequences) {
    v1::QueryRequest request;
    request.set_challenge_id(id);
    for (const Matrix& x : sequences) MatrixToProto(x, request.add_sequences());
    return request;
  }

 private:
  std::unique_ptr<v1::Oracle::Stub> Oracle() const {
    return v1::Oracle::NewStub(channel_());
  }
  std::unique_ptr<v1::Admin::Stub> Admin() const {
    return v1::Admin::NewStub(channel_());
  }
  void Authorize(grpc::ClientContext* context) const {
    if (!authorization_.empty()) {
      context->AddMetadata("authorization", authorization_);
    }
    if (learner_.has_value()) context->AddMetadata(kLearnerMetadata, *learner_);
  }

  ChannelSource channel_;
  std::string authorization_;
  std::optional<std::string> learner_;
};

// One RPC with a request that would succeed were the caller allowed, for
// access matrices.
struct NamedCall {
  std::string name;
  std::function<absl::Status(const Session&)> call;
};

// A small challenge: one head on 4-dimensional tokens, float64, no noise.
inline v1::ChallengeConfig SmallConfig(const std::string& id,
                                       uint64_t seed = 7) {
  v1::ChallengeConfig c;
  c.set_id(id);
  c.mutable_spec()->set_d_model(4);
  c.mutable_spec()->set_heads(1);
  c.mutable_prior()->set_seed(seed);
  c.mutable_policy()->mutable_budget()->set_queries(40);
  c.mutable_policy()->mutable_budget()->set_tokens(400);
  return c;
}

inline constexpr int kSmallDModel = 4;

// `count` sequences of `tokens` tokens of width kSmallDModel, |x| <= 1.
inline std::vector<Matrix> SmallSequences(int count, int tokens,
                                          uint64_t seed) {
  Rng rng(seed);
  std::vector<Matrix> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(RandomMatrix(rng, tokens, kSmallDModel));
  }
  return out;
}

// The spec, policy and secret a reveal describes, resolved and checked.
struct RevealedLayer {
  ChallengeConfig config;
  LayerParams secret;
};

inline absl::StatusOr<RevealedLayer> LayerOf(
    const v1::GetRevealResponse& reveal) {
  ATTN_ASSIGN_OR_RETURN(ChallengeConfig config,
                        ResolveChallenge(ConfigFromProto(reveal.config())));
  ATTN_ASSIGN_OR_RETURN(LayerParams secret,
                        ParamsFromProto(reveal.secret(), config.spec));
  return RevealedLayer{std::move(config), std::move(secret)};
}

// Succeeds when the revealed secret matches its commitment and reproduces
// every entry of `entries` bit for bit (the forward pass, then the declared
// noise and precision at first_query_index + i), with digests and chain
// hashes as transcript.h defines them; otherwise names the first entry that
// fails.
inline ::testing::AssertionResult ReplayTranscript(
    const v1::GetRevealResponse& reveal,
    const std::vector<v1::TranscriptEntry>& entries) {
  absl::StatusOr<RevealedLayer> layer = LayerOf(reveal);
  if (!layer.ok()) {
    return ::testing::AssertionFailure() << "reveal: " << layer.status();
  }
  if (Commitment(layer->secret, reveal.nonce()) != reveal.commitment()) {
    return ::testing::AssertionFailure()
           << "the revealed secret does not match the commitment";
  }
  std::string previous;
  for (size_t k = 0; k < entries.size(); ++k) {
    const v1::TranscriptEntry& e = entries[k];
    auto fail = [&] {
      return ::testing::AssertionFailure() << "entry " << k << ": ";
    };
    if (e.index() != k) return fail() << "index " << e.index();
    if (RequestDigest(e.first_query_index(), e.request()) !=
        e.request_digest()) {
      return fail() << "request digest";
    }
    if (Sha256(e.response()) != e.response_digest()) {
      return fail() << "response digest";
    }
    if (ChainHash(previous, e.request_digest(), e.response_digest()) !=
        e.chain_hash()) {
      return fail() << "chain hash";
    }
    previous = e.chain_hash();
    absl::StatusOr<std::vector<Matrix>> inputs = DecodeMatrices(e.request());
    absl::StatusOr<std::vector<Matrix>> answers = DecodeMatrices(e.response());
    if (!inputs.ok() || !answers.ok() || inputs->size() != answers->size()) {
      return fail() << "undecodable request or response";
    }
    for (size_t i = 0; i < inputs->size(); ++i) {
      Matrix expected =
          Forward(layer->config.spec, layer->secret, (*inputs)[i]);
      DegradeAnswer(layer->config.policy, reveal.noise_seed(),
                    e.first_query_index() + i, expected);
      if (!BitwiseEqual(expected, (*answers)[i])) {
        return fail() << "answer " << i << " differs";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// An OracleServer in competition mode on a temporary database, with the
// built-in challenges; Restart() builds a new one on the same database.
class CompetitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.listen_address = "";
    options_.db_path = TempDbPath();
    options_.admin_token = kAdminToken;
    ASSERT_NO_FATAL_FAILURE(Start());
  }

  void Start() {
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->InProcessChannel();
  }

  // Destroys the server (closing the database) and starts a new one.
  void Restart() {
    server_.reset();
    ASSERT_NO_FATAL_FAILURE(Start());
  }

  // A caller of whatever server the fixture runs at the time of each call.
  Session As(const std::string& authorization) const {
    return Session([this] { return channel_; }, authorization);
  }
  Session Admin() const { return As(Bearer(kAdminToken)); }

  // Registers `name` and returns its token ("" after a failure).
  std::string RegisterToken(const std::string& name) const {
    absl::StatusOr<v1::RegisterLearnerResponse> r = Admin().Register(name);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->token() : "";
  }
  Session Register(const std::string& name) const {
    return As(Bearer(RegisterToken(name)));
  }

  void CreateChallenge(const v1::ChallengeConfig& config) const {
    absl::StatusOr<v1::ChallengeInfo> info = Admin().Create(config);
    ASSERT_TRUE(info.ok()) << info.status();
  }
  void SetPhase(const std::string& id, v1::Phase phase) const {
    absl::StatusOr<v1::ChallengeInfo> info = Admin().SetPhase(id, phase);
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_EQ(info->phase(), phase);
  }

  // The secret a learner is answered with ("" for the shared one).
  const LayerParams& HiddenSecret(const std::string& id,
                                  const std::string& learner = "") const {
    return (*server_->registry().Find(id))->SecretFor(learner)->params;
  }

  ServerOptions options_;
  std::unique_ptr<OracleServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_SERVER_COMPETITION_FIXTURE_H_
