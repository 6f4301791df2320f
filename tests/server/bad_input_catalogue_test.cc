// The bad-input catalogue: every way a learner or organiser can send the
// server something wrong, one table row each, run through the real Oracle
// and Admin services over loopback TCP (so gRPC's own size limits apply).
// For every row: the exact status code, a message naming the offending
// field, no charge on any challenge, no secret value in anything the
// server said or logged, and the next good request is answered and
// charged exactly. File inputs (challenge configs, hypothesis and
// transcript files) are rows too.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/connection.h"
#include "client/json_codec.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/prior.h"
#include "common/retry_hint.h"
#include "server/service/call_context.h"
#include "tests/secret_leak.h"
#include "tests/server/competition_fixture.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::Bearer;
using ::attnoracle::test::kAdminToken;
using ::attnoracle::test::SecretScanner;
using ::attnoracle::test::Session;
using ::attnoracle::test::SmallConfig;
using ::attnoracle::test::SmallSequences;
using ::attnoracle::test::TempPath;
using ::testing::HasSubstr;

constexpr char kMain[] = "cat";                // open, the usual target
constexpr char kShut[] = "shut";               // closed
constexpr char kTight[] = "tight";             // a budget of 2 queries
constexpr char kRated[] = "rated";             // 2 requests, then 1 per second
constexpr char kOnce[] = "once";               // 1 submission per learner
constexpr char kSlowSubmit[] = "slow-submit";  // 1 submission a minute
constexpr char kDrawn[] = "drawn";             // random examples only
const char* const kChallenges[] = {kMain, kShut,       kTight, kRated,
                                   kOnce, kSlowSubmit, kDrawn};

constexpr int kMaxStreams = 2;
constexpr int kMaxMessageBytes = 1 << 20;
constexpr int kMaxMetadataBytes = 8 << 10;
constexpr int kMaxTokensPerSequence = 16;
constexpr int kMaxSequencesPerRequest = 8;
constexpr int kMaxTokensPerRequest = 32;
constexpr double kMaxAbsInput = 10;
constexpr size_t kMaxSubmissionBytes = 64 << 10;

// What a catalogue row's call left behind: its status, and everything the
// server sent that the secret scan must read.
struct Outcome {
  absl::Status status;
  std::string said;  // messages and serialised responses
};

class CatalogueTest;
using RowCall = std::function<Outcome(CatalogueTest&)>;

struct Row {
  std::string name;
  absl::StatusCode code;
  std::string names;  // the message must contain this (the field, mostly)
  RowCall call;
  // Runs before the usage snapshot (may spend budget); optional.
  std::function<void(CatalogueTest&)> setup = nullptr;
  // Good requests the row itself makes on kMain, and so is charged for.
  uint64_t good_queries = 0;
  uint64_t good_tokens = 0;
  // gRPC answers oversized metadata by closing the connection (HTTP/2 has
  // no way to skip a header block): the next request then comes from a
  // client that reconnected, on a new channel.
  bool closes_connection = false;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

v1::ChallengeConfig LimitedConfig(const std::string& id) {
  v1::ChallengeConfig c = SmallConfig(id);
  v1::Limits* l = c.mutable_policy()->mutable_limits();
  l->set_max_abs_input(kMaxAbsInput);
  l->set_max_tokens_per_sequence(kMaxTokensPerSequence);
  l->set_max_sequences_per_request(kMaxSequencesPerRequest);
  l->set_max_tokens_per_request(kMaxTokensPerRequest);
  return c;
}

template <typename T>
Outcome OutcomeOf(const absl::StatusOr<T>& r) {
  std::string said(r.status().message());
  if constexpr (std::is_base_of_v<google::protobuf::Message, T>) {
    if (r.ok()) said = r->SerializeAsString();
  }
  return {r.status(), said};
}
Outcome OutcomeOf(const absl::Status& s) {
  return {s, std::string(s.message())};
}

class CatalogueTest : public ::testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.db_path = test::TempDbPath();
    options.admin_token = kAdminToken;
    options.max_receive_message_bytes = kMaxMessageBytes;
    options.max_metadata_bytes = kMaxMetadataBytes;
    options.rate_limits.max_streams_per_learner = kMaxStreams;
    options.max_submission_bytes = kMaxSubmissionBytes;
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel_ =
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  grpc::InsecureChannelCredentials(), args);

    Session admin = Admin();
    for (const char* id : kChallenges) {
      v1::ChallengeConfig c = LimitedConfig(id);
      if (id == std::string(kTight)) {
        c.mutable_policy()->mutable_budget()->set_queries(2);
      }
      if (id == std::string(kRated)) {
        c.mutable_policy()->mutable_limits()->set_max_requests_per_second(1);
        c.mutable_policy()->mutable_limits()->set_request_burst(2);
      }
      if (id == std::string(kOnce)) {
        c.mutable_scoring()->set_max_submissions(1);
      }
      if (id == std::string(kDrawn)) {
        c.mutable_policy()->set_access(v1::ACCESS_EXAMPLES);
        c.mutable_policy()->mutable_examples()->set_tokens(
            kMaxTokensPerSequence);
      }
      if (id == std::string(kSlowSubmit)) {
        c.mutable_policy()->mutable_limits()->set_max_submissions_per_minute(1);
        c.mutable_policy()->mutable_limits()->set_submission_burst(1);
      }
      ASSERT_TRUE(admin.Create(c).ok()) << id;
    }
    ASSERT_TRUE(admin.SetPhase(kShut, v1::PHASE_CLOSED).ok());
    alice_token_ = RegisterToken("alice");
    RegisterToken("bob");
    mallory_token_ = RegisterToken("mallory");
    ASSERT_TRUE(admin.Revoke("mallory").ok());
  }

 public:
  Session As(const std::string& authorization) const {
    return Session([this] { return channel_; }, authorization);
  }
  Session Admin() const { return As(Bearer(kAdminToken)); }
  Session Alice() const { return As(Bearer(alice_token_)); }
  const std::string& alice_token() const { return alice_token_; }
  const std::string& mallory_token() const { return mallory_token_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<v1::Oracle::Stub> OracleStub() const {
    return v1::Oracle::NewStub(channel_);
  }
  void Authorize(grpc::ClientContext* context) const {
    context->AddMetadata("authorization", Bearer(alice_token_));
  }
  const ChallengeConfig& ConfigOf(const std::string& id) const {
    return (*server_->registry().Find(id))->config();
  }

  // A query request for kMain with `tokens` tokens per sequence.
  static v1::QueryRequest Good(const std::string& id = kMain, int count = 1,
                               int tokens = 2) {
    return Session::QueryRequestOf(id, SmallSequences(count, tokens, 3));
  }

  absl::StatusOr<v1::QueryResponse> RawQuery(const v1::QueryRequest& request) {
    return Alice().Unary(*OracleStub(), &v1::Oracle::Stub::Query, request);
  }

 protected:
  std::string RegisterToken(const std::string& name) const {
    absl::StatusOr<v1::RegisterLearnerResponse> r = Admin().Register(name);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->token() : "";
  }

  std::shared_ptr<grpc::Channel> NewChannel() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // A private connection, not one shared with the test's other channels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()),
        grpc::InsecureChannelCredentials(), args);
  }

  // Alice's usage of every challenge.
  std::map<std::string, Usage> Spend() const {
    std::map<std::string, Usage> out;
    for (const char* id : kChallenges) {
      absl::StatusOr<v1::Usage> u = Alice().GetUsage(id);
      EXPECT_TRUE(u.ok()) << u.status();
      if (u.ok()) out[id] = UsageFromProto(*u);
    }
    return out;
  }

  std::unique_ptr<OracleServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string alice_token_;
  std::string mallory_token_;
};

TEST_P(CatalogueTest, RefusedPreciselyWithoutChargeAndServingGoesOn) {
  const Row& row = GetParam();
  if (row.setup) {
    ASSERT_NO_FATAL_FAILURE(row.setup(*this));
  }
  const std::map<std::string, Usage> before = Spend();
  ::testing::internal::CaptureStderr();
  Outcome outcome = row.call(*this);
  // The next good request is answered and charged exactly its size.
  if (row.closes_connection) channel_ = NewChannel();
  absl::StatusOr<v1::QueryResponse> next = RawQuery(Good(kMain, 1, 3));
  const std::string log = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(outcome.status.code(), row.code) << outcome.status;
  EXPECT_THAT(std::string(outcome.status.message()), HasSubstr(row.names));
  ASSERT_TRUE(next.ok()) << next.status();
  std::map<std::string, Usage> after = Spend();
  Usage expected = before.at(kMain);
  expected.queries_used += 1 + row.good_queries;
  expected.tokens_used += 3 + row.good_tokens;
  expected.queries_left -= 1 + row.good_queries;
  expected.tokens_left -= 3 + row.good_tokens;
  EXPECT_EQ(after.at(kMain), expected) << "the good request after the row";
  after[kMain] = before.at(kMain);
  EXPECT_EQ(after, before) << "a refused request was charged";

  // Nothing the server said or logged holds a secret value.
  for (const char* id : kChallenges) {
    const auto challenge = *server_->registry().Find(id);
    SecretScanner scanner(challenge->config().spec,
                          challenge->SecretFor("alice")->params);
    ASSERT_GT(scanner.values(), 0u);
    for (const std::string& text :
         {outcome.said, log, next->SerializeAsString()}) {
      EXPECT_EQ(scanner.Find(text), "") << id;
    }
  }
}

// --- rows -----------------------------------------------------------------

RowCall Query(std::function<void(v1::QueryRequest&)> spoil,
              const std::string& id = kMain) {
  return [spoil, id](CatalogueTest& t) {
    v1::QueryRequest request = CatalogueTest::Good(id, 2, 2);
    spoil(request);
    return OutcomeOf(t.RawQuery(request));
  };
}

RowCall WithMetadata(std::string key, std::string value) {
  return [key, value](CatalogueTest& t) {
    grpc::ClientContext context;
    context.AddMetadata(key, value);
    v1::QueryResponse response;
    grpc::Status s =
        t.OracleStub()->Query(&context, CatalogueTest::Good(), &response);
    return OutcomeOf(FromGrpcStatus(s));
  };
}

RowCall Submit(std::function<void(v1::LayerParams&)> spoil,
               const std::string& id = kMain) {
  return [spoil, id](CatalogueTest& t) {
    // Every challenge here has kMain's spec; `id` may not exist.
    Prior prior = t.ConfigOf(kMain).prior;
    prior.seed += 1;  // a guess, not the secret
    LayerParams h = DrawSecret(t.ConfigOf(kMain).spec, prior);
    v1::SubmitRequest request;
    request.set_challenge_id(id);
    ParamsToProto(h, request.mutable_hypothesis());
    spoil(*request.mutable_hypothesis());
    return OutcomeOf(
        t.Alice().Unary(*t.OracleStub(), &v1::Oracle::Stub::Submit, request));
  };
}

RowCall SampleCall(const std::string& id, uint32_t count, uint32_t tokens) {
  return [id, count, tokens](CatalogueTest& t) {
    v1::SampleRequest request;
    request.set_challenge_id(id);
    request.set_count(count);
    request.set_tokens(tokens);
    return OutcomeOf(
        t.Alice().Unary(*t.OracleStub(), &v1::Oracle::Stub::Sample, request));
  };
}

RowCall CreateChallenge(std::function<void(v1::ChallengeConfig&)> spoil) {
  return [spoil](CatalogueTest& t) {
    v1::ChallengeConfig c = LimitedConfig("new-one");
    spoil(c);
    return OutcomeOf(t.Admin().Create(c));
  };
}

// A file the user hands to a program, read by the same code the program
// uses.
RowCall ConfigFile(std::string text) {
  return [text](CatalogueTest&) {
    const std::string path = TempPath("config", ".textproto");
    std::ofstream(path) << text;
    return OutcomeOf(LoadChallengeSet(path));
  };
}

RowCall HypothesisFile(std::string json) {
  return [json](CatalogueTest& t) {
    nlohmann::ordered_json doc =
        nlohmann::ordered_json::parse(json, nullptr, false);
    if (doc.is_discarded()) {
      return OutcomeOf(
          absl::InvalidArgumentError("hypothesis file: not valid JSON"));
    }
    absl::StatusOr<v1::LayerParams> proto = HypothesisFromJson(doc);
    if (!proto.ok()) return OutcomeOf(proto.status());
    return OutcomeOf(ParamsFromProto(*proto, t.ConfigOf(kMain).spec).status());
  };
}

// A --server target a client is handed, checked as the client does.
RowCall ServerTarget(std::string target) {
  return
      [target](CatalogueTest&) { return OutcomeOf(CheckServerTarget(target)); };
}

RowCall TranscriptLine(std::string json) {
  return [json](CatalogueTest&) {
    return OutcomeOf(
        TranscriptEntryFromJson(nlohmann::ordered_json::parse(json)).status());
  };
}

// Bytes that do not parse as any protobuf message of ours: a varint cut
// short, wire type 7, field number 0, a length past the end, a start-group,
// invalid UTF-8 in a string field (challenge_id), lengths 2^31 - 1 and
// 2^64 - 1.
const std::vector<std::string> kUnparsable = {
    std::string("\x08\x80", 2),
    std::string("\x0f", 1),
    std::string("\x00\x01", 2),
    std::string("\x0a\x05"
                "ab",
                4),
    std::string("\x0b", 1),
    std::string("\x0a\x01\xff", 3),
    std::string("\x0a\xff\xff\xff\xff\x07", 6),
    "\x0a" + std::string(9, '\xff') + "\x01"};

// The kUnparsable entry that is a string field 1 holding invalid UTF-8.
constexpr size_t kInvalidUtf8 = 5;

// QueryStream over raw bytes, as alice: writes each message and reads its
// answer, then half-closes. The answers read (as bytes) and how it ended.
struct RawStreamEnd {
  std::vector<std::string> answers;
  grpc::Status status;
};
RawStreamEnd RawStream(CatalogueTest& t,
                       const std::vector<std::string>& messages) {
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(t.channel());
  grpc::ClientContext context;
  t.Authorize(&context);
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, "/attnoracle.v1.Oracle/QueryStream", &cq);
  // One operation at a time: start it, then wait for it.
  auto wait = [&cq] {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  RawStreamEnd end;
  call->StartCall(nullptr);
  bool open = wait();
  for (const std::string& message : messages) {
    if (!open) break;
    grpc::Slice slice(message);
    call->Write(grpc::ByteBuffer(&slice, 1), nullptr);
    grpc::ByteBuffer answer;
    open = wait();
    if (open) {
      call->Read(&answer, nullptr);
      open = wait();
    }
    grpc::Slice bytes;
    if (open && answer.DumpToSingleSlice(&bytes).ok()) {
      end.answers.emplace_back(reinterpret_cast<const char*>(bytes.begin()),
                               bytes.size());
    }
  }
  call->WritesDone(nullptr);
  wait();
  call->Finish(&end.status, nullptr);
  wait();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return end;
}

// A unary call of `method` ("Service/Method" of attnoracle.v1) with
// `bytes` as the request, as alice.
absl::Status RawUnary(CatalogueTest& t, const std::string& method,
                      const std::string& bytes) {
  grpc::GenericStub stub(t.channel());
  grpc::ClientContext context;
  t.Authorize(&context);
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/attnoracle.v1." + method, grpc::StubOptions(),
                 &request, &response,
                 [&done](grpc::Status s) { done.set_value(s); });
  return FromGrpcStatus(done.get_future().get());
}

// Every kind of kUnparsable bytes sent to `method`: the status of the first,
// or INTERNAL when another kind was answered differently. Without a string
// field 1 (ListChallengesRequest has no fields), the invalid UTF-8 there is
// an unknown field that parses, and is left out.
RowCall Unparsable(const std::string& oracle_method, bool string_field_1 = true,
                   const std::string& service = "Oracle") {
  const std::string method = service + "/" + oracle_method;
  return [method, string_field_1](CatalogueTest& t) {
    const absl::Status first = RawUnary(t, method, kUnparsable[0]);
    for (size_t i = 1; i < kUnparsable.size(); ++i) {
      if (!string_field_1 && i == kInvalidUtf8) continue;
      const absl::Status s = RawUnary(t, method, kUnparsable[i]);
      if (s != first) {
        return OutcomeOf(absl::InternalError(
            absl::StrCat("unparsable bytes ", i, " got ", s.ToString(),
                         ", bytes 0 got ", first.ToString())));
      }
    }
    return OutcomeOf(first);
  };
}

// A request-provided value far longer than any valid id or name, and the
// first 128 bytes (kMaxQuotedBytes) an error message may repeat of it.
constexpr size_t kHugeValueBytes = 512 << 10;
const std::string kHugeValue(kHugeValueBytes, 'z');
const std::string kHugeQuoted =
    absl::StrCat("\"", std::string(128, 'z'), "\"...(524288 bytes)");

// `call`, refused with INTERNAL when its message is longer than a stock
// client takes in a status comfortably (a long echo came back whole once).
RowCall ShortMessage(RowCall call) {
  constexpr size_t kMaxMessageBytes = 1024;
  return [call](CatalogueTest& t) {
    Outcome out = call(t);
    if (out.status.message().size() > kMaxMessageBytes) {
      out.status = absl::InternalError(
          absl::StrCat("a message of ", out.status.message().size(), " bytes"));
    }
    return out;
  };
}

void SetSeq(v1::QueryRequest& r, int i, int rows, int cols, double fill) {
  v1::Matrix* m = r.mutable_sequences(i);
  m->set_rows(rows);
  m->set_cols(cols);
  m->clear_values();
  for (int k = 0; k < rows * cols; ++k) m->add_values(fill);
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// Rows for bytes that are no message, echoes of long or unprintable
// values, and transcript indices past the signed range.
std::vector<Row> MalformedRows() {
  using C = absl::StatusCode;
  std::vector<Row> rows = {
      // Bytes that are no protobuf message at all: INVALID_ARGUMENT naming the
      // message type (gRPC once answered UNIMPLEMENTED with no message).
      {"QueryUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as attnoracle.v1.QueryRequest",
       Unparsable("Query")},
      {"ListChallengesUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.ListChallengesRequest",
       Unparsable("ListChallenges", /*string_field_1=*/false)},
      {"DescribeUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.DescribeChallengeRequest",
       Unparsable("DescribeChallenge")},
      {"UsageUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.GetUsageRequest",
       Unparsable("GetUsage")},
      {"SubmitUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as attnoracle.v1.SubmitRequest",
       Unparsable("Submit")},
      {"LeaderboardUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.GetLeaderboardRequest",
       Unparsable("GetLeaderboard")},
      {"TranscriptUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.GetTranscriptRequest",
       Unparsable("GetTranscript")},
      {"RevealUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.GetRevealRequest",
       Unparsable("GetReveal")},
      // The Admin methods read their requests themselves too (they answered
      // UNIMPLEMENTED with no message before).
      {"AdminCreateUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.CreateChallengeRequest",
       Unparsable("CreateChallenge", /*string_field_1=*/false, "Admin")},
      {"AdminSetPhaseUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as attnoracle.v1.SetPhaseRequest",
       Unparsable("SetPhase", true, "Admin")},
      {"AdminRegisterUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.RegisterLearnerRequest",
       Unparsable("RegisterLearner", true, "Admin")},
      {"AdminRevokeUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.RevokeLearnerRequest",
       Unparsable("RevokeLearner", true, "Admin")},
      {"AdminGrantUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as attnoracle.v1.GrantBudgetRequest",
       Unparsable("GrantBudget", true, "Admin")},
      {"AdminExportUnparsableBytes", C::kInvalidArgument,
       "the request could not be parsed as "
       "attnoracle.v1.ExportTranscriptsRequest",
       Unparsable("ExportTranscripts", true, "Admin")},
      // Unparsable messages on a stream are refused in-band and the stream goes
      // on (it used to end, with OK, at the first one).
      {"StreamUnparsableMessagesBetweenGoodOnes", C::kInvalidArgument,
       "a stream message could not be parsed as "
       "attnoracle.v1.QueryRequest",
       [](CatalogueTest& t) {
         const std::string good = CatalogueTest::Good().SerializeAsString();
         std::vector<std::string> messages = {good};
         for (const std::string& bad : kUnparsable) messages.push_back(bad);
         messages.push_back(good);
         const RawStreamEnd end = RawStream(t, messages);
         std::string said;
         for (const std::string& a : end.answers) said += a;
         if (!end.status.ok() || end.answers.size() != messages.size()) {
           return Outcome{absl::InternalError(absl::StrCat(
                              "stream ended with ", end.answers.size(),
                              " answers to ", messages.size(), ": ",
                              FromGrpcStatus(end.status).ToString())),
                          said};
         }
         std::vector<v1::QueryResponse> answers(end.answers.size());
         for (size_t i = 0; i < answers.size(); ++i) {
           answers[i].ParseFromString(end.answers[i]);
         }
         if (answers.front().has_error() || answers.back().has_error()) {
           return Outcome{absl::InternalError("a good message was refused"),
                          said};
         }
         const absl::Status first = StatusFromProto(answers[1].error());
         for (size_t i = 2; i + 1 < answers.size(); ++i) {
           if (StatusFromProto(answers[i].error()) != first) {
             return Outcome{
                 absl::InternalError(absl::StrCat(
                     "unparsable message ", i, " was answered ",
                     StatusFromProto(answers[i].error()).ToString())),
                 said};
           }
         }
         return Outcome{first, said};
       },
       nullptr, /*good_queries=*/2, /*good_tokens=*/4},
      // Echoed ids and names are cut at 128 bytes and escaped.
      {"QueryHugeChallengeId", C::kNotFound, "no challenge " + kHugeQuoted,
       ShortMessage(Query([](auto&) {}, kHugeValue))},
      {"DescribeUnprintableChallengeId", C::kNotFound,
       "no challenge \"a\\x01-b\\n\\xc3\\xa9\"",
       [](CatalogueTest& t) {
         return OutcomeOf(t.Alice().Describe("a\x01-b\n\xc3\xa9"));
       }},
      {"StreamHugeChallengeId", C::kNotFound, "no challenge " + kHugeQuoted,
       ShortMessage([](CatalogueTest& t) {
         return OutcomeOf(
             t.Alice().QueryOverStream(kHugeValue, SmallSequences(1, 2, 3)));
       })},
      {"GrantHugeLearnerName", C::kNotFound, "no learner " + kHugeQuoted,
       ShortMessage([](CatalogueTest& t) {
         return OutcomeOf(t.Admin().Grant(kMain, kHugeValue, 1, 1));
       })},
      {"RegisterHugeName", C::kInvalidArgument,
       "learner name " + kHugeQuoted + " must be",
       ShortMessage([](CatalogueTest& t) {
         return OutcomeOf(t.Admin().Register(kHugeValue));
       })},
      // An index past INT64_MAX once wrapped round to index 0 in the store: the
      // page after the last entry is empty, however far.
      {"TranscriptFromPastTheSignedRange", C::kOk, "",
       [](CatalogueTest& t) {
         v1::GetTranscriptRequest request;
         request.set_challenge_id(kMain);
         request.set_first_index(uint64_t{1} << 63);
         absl::StatusOr<v1::GetTranscriptResponse> page = t.Alice().Unary(
             *t.OracleStub(), &v1::Oracle::Stub::GetTranscript, request);
         if (page.ok() &&
             (page->entries_size() != 0 || page->total_entries() != 1)) {
           return Outcome{absl::InternalError(absl::StrCat(
                              page->entries_size(), " entries of ",
                              page->total_entries(), ", expected 0 of 1")),
                          page->SerializeAsString()};
         }
         return OutcomeOf(page);
       },
       [](CatalogueTest& t) { ASSERT_TRUE(t.RawQuery(t.Good()).ok()); }},
  };
  return rows;
}

std::vector<Row> Rows() {
  using C = absl::StatusCode;
  std::vector<Row>
      rows =
          {
              // Query: shapes and values.
              {"QueryNoSequences", C::kInvalidArgument, "no sequences",
               Query([](auto& r) { r.clear_sequences(); })},
              {"QueryEmptySequence", C::kInvalidArgument, "sequences[1]",
               Query([](auto& r) { SetSeq(r, 1, 0, 4, 0); })},
              {"QueryWrongWidth", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) { SetSeq(r, 0, 2, 5, 0.5); })},
              {"QueryZeroWidth", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) { SetSeq(r, 0, 2, 0, 0); })},
              {"QueryRaggedData", C::kInvalidArgument, "sequences[1]",
               Query([](auto& r) { r.mutable_sequences(1)->add_values(1); })},
              {"QueryDataShort", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) {
                 r.mutable_sequences(0)->mutable_values()->RemoveLast();
               })},
              {"QueryOverflowingShape", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) {
                 r.mutable_sequences(0)->set_rows(1u << 31);
                 r.mutable_sequences(0)->set_cols(1u << 31);
               })},
              {"QueryNaN", C::kInvalidArgument, "sequences[1]",
               Query([](auto& r) {
                 r.mutable_sequences(1)->set_values(3, kNaN);
               })},
              {"QueryInfinity", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) {
                 r.mutable_sequences(0)->set_values(0, -kInf);
               })},
              {"QueryHugeValue", C::kInvalidArgument, "sequences[0]",
               Query([](auto& r) {
                 r.mutable_sequences(0)->set_values(1, 1e300);
               })},
              {"QueryOverMaxAbsInput", C::kInvalidArgument, "max_abs_input",
               Query([](auto& r) {
                 r.mutable_sequences(1)->set_values(2, 10.5);
               })},
              // Query: every limit.
              {"QueryTooManyTokensPerSequence", C::kInvalidArgument,
               "sequences[0]", Query([](auto& r) {
                 SetSeq(r, 0, kMaxTokensPerSequence + 1, 4, 0.1);
               })},
              {"QueryTooManySequences", C::kInvalidArgument, "sequences",
               Query([](auto& r) {
                 r = CatalogueTest::Good(kMain, kMaxSequencesPerRequest + 1, 1);
               })},
              {"QueryTooManyTokensPerRequest", C::kInvalidArgument,
               "max_tokens_per_request", Query([](auto& r) {
                 r = CatalogueTest::Good(kMain, 3, kMaxTokensPerSequence);
               })},
              {"QueryMessageOverMaxReceiveSize", C::kResourceExhausted,
               "larger than max", Query([](auto& r) {
                 SetSeq(r, 0, 1, kMaxMessageBytes / 8 + 16, 0.25);
               })},
              // Query: who, where and when.
              {"QueryUnknownChallenge", C::kNotFound, "no-such",
               Query([](auto&) {}, "no-such")},
              {"QueryEmptyChallengeId", C::kNotFound, "challenge",
               Query([](auto&) {}, "")},
              {"QueryClosedChallenge", C::kFailedPrecondition, "closed",
               Query([](auto&) {}, kShut)},
              {"QueryBudgetSpent", C::kResourceExhausted, "budget",
               Query([](auto&) {}, kTight),
               [](CatalogueTest& t) {
                 ASSERT_TRUE(
                     t.RawQuery(CatalogueTest::Good(kTight, 2, 1)).ok());
               }},
              {"QueryOverTheBudgetByOne", C::kResourceExhausted, "budget",
               Query([](auto&) {}, kTight),  // 2 sequences, 1 query left
               [](CatalogueTest& t) {
                 ASSERT_TRUE(
                     t.RawQuery(CatalogueTest::Good(kTight, 1, 1)).ok());
               }},
              {"QueryRateLimited", C::kResourceExhausted, "retry after",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 t.Authorize(&context);
                 v1::QueryResponse response;
                 grpc::Status s = t.OracleStub()->Query(
                     &context, CatalogueTest::Good(kRated), &response);
                 auto hint = context.GetServerTrailingMetadata().find(
                     kRetryAfterMsMetadata);
                 if (hint == context.GetServerTrailingMetadata().end()) {
                   return OutcomeOf(absl::InternalError("no retry-after-ms"));
                 }
                 return OutcomeOf(FromGrpcStatus(s));
               },
               [](CatalogueTest& t) {
                 for (int i = 0; i < 2; ++i) {
                   ASSERT_TRUE(t.RawQuery(CatalogueTest::Good(kRated)).ok());
                 }
               }},
              // Tokens and metadata.
              {"QueryNoToken", C::kUnauthenticated, "token",
               [](CatalogueTest& t) {
                 return OutcomeOf(
                     t.As("").Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryGarbageToken", C::kUnauthenticated, "token",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.As(Bearer("ao_0123 not-hex ~!@#$%^&*()"))
                                      .Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryEmptyBearerToken", C::kUnauthenticated, "token",
               [](CatalogueTest& t) {
                 return OutcomeOf(
                     t.As("Bearer ").Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryNotBearer", C::kUnauthenticated, "Bearer",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.As(absl::StrCat("Basic ", t.alice_token()))
                                      .Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryRevokedToken", C::kUnauthenticated, "revoked",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.As(Bearer(t.mallory_token()))
                                      .Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryWithAdminToken", C::kPermissionDenied, "learner token",
               [](CatalogueTest& t) {
                 return OutcomeOf(
                     t.Admin().Query(kMain, SmallSequences(1, 1, 1)));
               }},
              {"QueryOversizedMetadata", C::kResourceExhausted, "metadata",
               WithMetadata("x-padding",
                            std::string(4 * kMaxMetadataBytes, 'a')),
               nullptr, 0, 0, /*closes_connection=*/true},
              {"QueryOversizedToken", C::kResourceExhausted, "metadata",
               WithMetadata("authorization",
                            Bearer(std::string(4 * kMaxMetadataBytes, 'f'))),
               nullptr, 0, 0, /*closes_connection=*/true},
              // Streams.
              {"StreamBadMessageBetweenGoodOnes", C::kInvalidArgument,
               "sequences[0]",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 t.Authorize(&context);
                 auto stream = t.OracleStub()->QueryStream(&context);
                 v1::QueryRequest bad = CatalogueTest::Good();
                 bad.mutable_sequences(0)->set_values(0, kNaN);
                 std::vector<v1::QueryResponse> answers(3);
                 const bool ok = stream->Write(CatalogueTest::Good()) &&
                                 stream->Read(&answers[0]) &&
                                 stream->Write(bad) &&
                                 stream->Read(&answers[1]) &&
                                 stream->Write(CatalogueTest::Good()) &&
                                 stream->Read(&answers[2]);
                 stream->WritesDone();
                 absl::Status finished = FromGrpcStatus(stream->Finish());
                 std::string said;
                 for (const auto& a : answers) said += a.SerializeAsString();
                 if (!ok || !finished.ok()) {
                   return Outcome{absl::InternalError(absl::StrCat(
                                      "stream broke: ", finished.ToString())),
                                  said};
                 }
                 if (answers[0].has_error() || answers[2].has_error()) {
                   return Outcome{
                       absl::InternalError("a good message was refused"), said};
                 }
                 return Outcome{StatusFromProto(answers[1].error()), said};
               },
               nullptr, /*good_queries=*/2, /*good_tokens=*/4},
              {"StreamGarbageToken", C::kUnauthenticated, "token",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 context.AddMetadata("authorization", Bearer("nonsense"));
                 auto stream = t.OracleStub()->QueryStream(&context);
                 stream->Write(CatalogueTest::Good());
                 stream->WritesDone();
                 v1::QueryResponse r;
                 while (stream->Read(&r)) {
                 }
                 return OutcomeOf(FromGrpcStatus(stream->Finish()));
               }},
              {"StreamsOverTheCap", C::kResourceExhausted,
               "concurrent QueryStreams",
               [](CatalogueTest& t) {
                 std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
                 std::vector<std::unique_ptr<grpc::ClientReaderWriter<
                     v1::QueryRequest, v1::QueryResponse>>>
                     open;
                 auto stub = t.OracleStub();
                 // Hold kMaxStreams streams open (each proven open by an answer
                 // to a zero-budget-cost request: an unknown challenge).
                 for (int i = 0; i < kMaxStreams; ++i) {
                   contexts.push_back(std::make_unique<grpc::ClientContext>());
                   t.Authorize(contexts.back().get());
                   open.push_back(stub->QueryStream(contexts.back().get()));
                   v1::QueryResponse r;
                   if (!open.back()->Write(CatalogueTest::Good("no-such")) ||
                       !open.back()->Read(&r)) {
                     return OutcomeOf(
                         absl::InternalError("could not open a stream"));
                   }
                 }
                 grpc::ClientContext extra;
                 t.Authorize(&extra);
                 auto refused = stub->QueryStream(&extra);
                 refused->WritesDone();
                 v1::QueryResponse r;
                 while (refused->Read(&r)) {
                 }
                 Outcome out = OutcomeOf(FromGrpcStatus(refused->Finish()));
                 for (auto& s : open) {
                   s->WritesDone();
                   s->Finish().ok();
                 }
                 return out;
               }},
              {"StreamClientDisconnects", C::kCancelled, "",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 t.Authorize(&context);
                 auto stream = t.OracleStub()->QueryStream(&context);
                 v1::QueryResponse r;
                 // A request in flight, never read, then the client goes away.
                 stream->Write(CatalogueTest::Good("no-such"));
                 stream->Read(&r);
                 context.TryCancel();
                 return OutcomeOf(FromGrpcStatus(stream->Finish()));
               }},
              {"StreamDeadlineExpiresMidStream", C::kDeadlineExceeded, "",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 t.Authorize(&context);
                 context.set_deadline(std::chrono::system_clock::now() +
                                      std::chrono::milliseconds(300));
                 auto stream = t.OracleStub()->QueryStream(&context);
                 v1::QueryResponse r;
                 stream->Write(CatalogueTest::Good("no-such"));
                 stream->Read(&r);
                 // Reading on blocks until the deadline ends the call.
                 while (stream->Read(&r)) {
                 }
                 return OutcomeOf(FromGrpcStatus(stream->Finish()));
               }},
              {"QueryDeadlineAlreadyPassed", C::kDeadlineExceeded, "",
               [](CatalogueTest& t) {
                 grpc::ClientContext context;
                 t.Authorize(&context);
                 context.set_deadline(std::chrono::system_clock::now() -
                                      std::chrono::milliseconds(1));
                 v1::QueryResponse response;
                 return OutcomeOf(FromGrpcStatus(t.OracleStub()->Query(
                     &context, CatalogueTest::Good(), &response)));
               }},
              // Submit: hypotheses.
              {"SubmitWrongShape", C::kInvalidArgument, "wq",
               Submit([](auto& h) {
                 h.mutable_heads(0)->mutable_wq()->set_rows(3);
               })},
              {"SubmitNaN", C::kInvalidArgument, "hypothesis",
               Submit([](auto& h) {
                 h.mutable_heads(0)->mutable_wo()->set_values(0, kNaN);
               })},
              {"SubmitInfinity", C::kInvalidArgument, "hypothesis",
               Submit([](auto& h) {
                 h.mutable_heads(0)->mutable_wk()->set_values(1, kInf);
               })},
              {"SubmitNoHeads", C::kInvalidArgument, "heads",
               Submit([](auto& h) { h.clear_heads(); })},
              {"SubmitTooManyHeads", C::kInvalidArgument, "heads",
               Submit([](auto& h) { *h.add_heads() = h.heads(0); })},
              {"SubmitUnknownChallenge", C::kNotFound, "no-such",
               Submit([](auto&) {}, "no-such")},
              {"SubmitClosedChallenge", C::kFailedPrecondition, "closed",
               Submit([](auto&) {}, kShut)},
              {"SubmitOverTheLimit", C::kResourceExhausted, "submission limit",
               Submit([](auto&) {}, kOnce),
               [](CatalogueTest& t) {
                 ASSERT_TRUE(Submit([](auto&) {}, kOnce)(t).status.ok());
               }},
              // Submit: bounded work (widths, bytes, rate).
              {"SubmitKeyWiderThanDModel", C::kInvalidArgument, "heads[0].wq",
               Submit([](auto& h) {
                 for (pb::Matrix* m : {h.mutable_heads(0)->mutable_wq(),
                                       h.mutable_heads(0)->mutable_wk()}) {
                   m->set_cols(5);
                   m->clear_values();
                   for (int i = 0; i < 4 * 5; ++i) m->add_values(0.1);
                 }
               })},
              {"SubmitValueWiderThanDModel", C::kInvalidArgument, "heads[0].wv",
               Submit([](auto& h) {
                 pb::Matrix* wv = h.mutable_heads(0)->mutable_wv();
                 pb::Matrix* wo = h.mutable_heads(0)->mutable_wo();
                 wv->set_cols(5);
                 wo->set_rows(5);
                 for (pb::Matrix* m : {wv, wo}) {
                   m->clear_values();
                   for (int i = 0; i < 4 * 5; ++i) m->add_values(0.1);
                 }
               })},
              {"SubmitTooManyBytes", C::kInvalidArgument, "SubmitRequest is",
               Submit([](auto& h) {
                 for (size_t i = 0; i < kMaxSubmissionBytes / 8; ++i) {
                   h.add_bo(1);
                 }
               })},
              {"SubmitOverTheRate", C::kResourceExhausted,
               "1 submissions per minute", Submit([](auto&) {}, kSlowSubmit),
               [](CatalogueTest& t) {
                 ASSERT_TRUE(Submit([](auto&) {}, kSlowSubmit)(t).status.ok());
               }},
              // The other learner RPCs.
              {"DescribeUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Describe("no-such"));
               }},
              {"UsageUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().GetUsage("no-such"));
               }},
              {"LeaderboardUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Leaderboard("no-such"));
               }},
              {"TranscriptUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Transcript("no-such"));
               }},
              {"RevealBeforeRevealed", C::kFailedPrecondition, "revealed",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Reveal(kMain));
               }},
              {"RevealOfAnotherLearner", C::kPermissionDenied,
               "another learner",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Reveal(kShut, "bob"));
               },
               [](CatalogueTest& t) {
                 ASSERT_TRUE(
                     t.Admin().SetPhase(kShut, v1::PHASE_REVEALED).ok());
               }},
              // Random examples (Sample) and the access they need.
              {"SampleOnQueriesOnlyChallenge", C::kFailedPrecondition,
               "answers queries only (policy.access ACCESS_QUERIES)",
               SampleCall(kMain, 1, 0)},
              {"QueryOnExamplesOnlyChallenge", C::kFailedPrecondition,
               "answers random examples only (policy.access ACCESS_EXAMPLES)",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.RawQuery(t.Good(kDrawn)));
               }},
              {"SampleZeroCount", C::kInvalidArgument,
               "count = 0: ask for at least one example",
               SampleCall(kDrawn, 0, 0)},
              {"SampleOverSequencesPerRequest", C::kInvalidArgument,
               "count = 9 is over policy.limits.max_sequences_per_request = 8",
               SampleCall(kDrawn, 9, 0)},
              {"SampleOverTokensPerRequest", C::kInvalidArgument,
               "48 tokens, over policy.limits.max_tokens_per_request = 32",
               SampleCall(kDrawn, 3, 0)},
              {"SampleOtherLength", C::kInvalidArgument,
               "tokens = 5: the examples of challenge \"drawn\" have 16 tokens "
               "(policy.examples.tokens)",
               SampleCall(kDrawn, 1, 5)},
              {"SampleUnknownChallenge", C::kNotFound, "no-such",
               SampleCall("no-such", 1, 0)},
              {"SampleClosedChallenge", C::kFailedPrecondition, "closed",
               SampleCall(kShut, 1, 0)},
              // Admin calls.
              {"AdminCallByLearner", C::kPermissionDenied, "admin token",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Alice().Register("eve"));
               }},
              {"GrantOverflowingQueries", C::kInvalidArgument, "overflow",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Grant(
                     kMain, "alice", std::numeric_limits<uint64_t>::max(), 0));
               }},
              {"GrantOverflowingTokens", C::kInvalidArgument, "overflow",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Grant(
                     kMain, "alice", 0,
                     std::numeric_limits<uint64_t>::max() - 100));
               }},
              {"GrantUnknownLearner", C::kNotFound, "nobody",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Grant(kMain, "nobody", 1, 1));
               }},
              {"GrantUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Grant("no-such", "alice", 1, 1));
               }},
              {"RegisterBadName", C::kInvalidArgument, "name",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Register("no spaces/or\nnewlines"));
               }},
              {"RegisterTwice", C::kAlreadyExists, "alice",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Register("alice"));
               }},
              {"CreateZeroDModel", C::kInvalidArgument, "d_model",
               CreateChallenge(
                   [](auto& c) { c.mutable_spec()->set_d_model(0); })},
              {"CreateSecretTooLarge", C::kInvalidArgument, "parameters",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->set_d_model(4096);
                 c.mutable_spec()->set_heads(256);
                 c.mutable_spec()->set_head_dim(4096);
               })},
              {"CreateKvHeadsNotDividing", C::kInvalidArgument, "spec.kv_heads",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->set_heads(4);
                 c.mutable_spec()->set_kv_heads(3);
               })},
              {"CreateResidualWidths", C::kInvalidArgument, "spec.residual",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->set_out_dim(c.spec().d_model() + 1);
                 c.mutable_spec()->set_residual(true);
               })},
              {"CreateTiedSharedKeys", C::kInvalidArgument, "spec.tie_qk",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->set_heads(2);
                 c.mutable_spec()->set_head_dim(2);
                 c.mutable_spec()->set_kv_heads(1);
                 c.mutable_spec()->set_tie_qk(true);
               })},
              {"CreateTooManyLayers", C::kInvalidArgument, "spec.layers",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->set_layers(kMaxLayers + 1);
               })},
              {"CreateFfnNoHidden", C::kInvalidArgument, "spec.ffn.hidden",
               CreateChallenge([](auto& c) {
                 c.mutable_spec()->mutable_ffn()->set_out_dim(1);
               })},
              {"CreateFfnResidualWidths", C::kInvalidArgument,
               "spec.ffn.residual", CreateChallenge([](auto& c) {
                 v1::FfnSpec* f = c.mutable_spec()->mutable_ffn();
                 f->set_hidden(4);
                 f->set_out_dim(1);
                 f->set_residual(true);
               })},
              {"CreateNegativeNoise", C::kInvalidArgument, "noise_sigma",
               CreateChallenge(
                   [](auto& c) { c.mutable_policy()->set_noise_sigma(-1); })},
              {"CreateNaNRate", C::kInvalidArgument, "max_requests_per_second",
               CreateChallenge([](auto& c) {
                 c.mutable_policy()
                     ->mutable_limits()
                     ->set_max_requests_per_second(kNaN);
               })},
              {"CreateExamplesWithoutTokens", C::kInvalidArgument,
               "policy.examples.tokens = 0", CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_access(v1::ACCESS_EXAMPLES);
               })},
              {"CreateExampleScaleZero", C::kInvalidArgument,
               "policy.examples.scale = 0", CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_access(v1::ACCESS_BOTH);
                 c.mutable_policy()->mutable_examples()->set_tokens(2);
                 c.mutable_policy()->mutable_examples()->set_scale(0);
               })},
              {"CreateTopKZero", C::kInvalidArgument, "policy.top_k = 0",
               CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_answers(v1::ANSWERS_TOP_K);
               })},
              {"CreateTopKOverOutDim", C::kInvalidArgument,
               "is over spec.out_dim", CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_answers(v1::ANSWERS_TOP_K);
                 c.mutable_policy()->set_top_k(1000);
               })},
              {"CreateQuantizeStepNaN", C::kInvalidArgument,
               "policy.quantize_step = nan", CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_answers(v1::ANSWERS_QUANTIZED);
                 c.mutable_policy()->set_quantize_step(kNaN);
               })},
              {"CreateQuantizeStepNegative", C::kInvalidArgument,
               "policy.quantize_step = -1", CreateChallenge([](auto& c) {
                 c.mutable_policy()->set_answers(v1::ANSWERS_QUANTIZED);
                 c.mutable_policy()->set_quantize_step(-1);
               })},
              {"CreateDuplicateId", C::kAlreadyExists, kMain,
               CreateChallenge([](auto& c) { c.set_id(kMain); })},
              {"PhaseBackwards", C::kFailedPrecondition, "closed",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().SetPhase(kShut, v1::PHASE_OPEN));
               }},
              {"ExportUnknownChallenge", C::kNotFound, "no-such",
               [](CatalogueTest& t) {
                 return OutcomeOf(t.Admin().Export("no-such"));
               }},
              // Files.
              {"ConfigFileNotTextFormat", C::kInvalidArgument, "config.",
               ConfigFile("challenge { id: \"x\" spec { d_model: }")},
              {"ConfigFileUnknownField", C::kInvalidArgument, "colour",
               ConfigFile(
                   "challenge { id: \"x\" colour: 3 spec { d_model: 4 } }")},
              {"ConfigFileDuplicateIds", C::kInvalidArgument, "twice",
               ConfigFile("challenge { id: \"x\" spec { d_model: 4 } }\n"
                          "challenge { id: \"x\" spec { d_model: 4 } }")},
              {"ConfigFileMissing", C::kNotFound, "no-such-dir",
               [](CatalogueTest&) {
                 return OutcomeOf(
                     LoadChallengeSet("/no-such-dir/set.textproto"));
               }},
              {"HypothesisFileLayersAndHeads", C::kInvalidArgument, "layers",
               HypothesisFile(R"({"layers": [{"heads": []}], "heads": []})")},
              {"HypothesisFileFfnNoW2", C::kInvalidArgument, "ffn",
               HypothesisFile(R"({"heads": [], "ffn": {"w1": [[1]]}})")},
              {"SubmitFfnWithoutBlock", C::kInvalidArgument, "ffn",
               Submit([](auto& h) {
                 v1::FfnParams* f = h.mutable_ffn();
                 MatrixToProto(Matrix::Identity(1, 1), f->mutable_w1());
                 MatrixToProto(Matrix::Identity(1, 1), f->mutable_w2());
               })},
              {"SubmitLayersOnOneLayerSpecTwice", C::kInvalidArgument, "layers",
               Submit([](auto& h) {
                 v1::AttentionLayerParams* a = h.add_layers();
                 *a->mutable_heads() = h.heads();
                 *h.add_layers() = *a;
                 h.clear_heads();
                 h.clear_bo();
               })},
              {"HypothesisFileNotJson", C::kInvalidArgument, "JSON",
               HypothesisFile("{\"heads\": [")},
              {"HypothesisFileWrongShape", C::kInvalidArgument, "wq",
               HypothesisFile(R"({"heads": [{"wq": [[1, 2]], "wk": [[1]], )"
                              R"("wv": [[1]], "wo": [[1]]}]})")},
              {"HypothesisFileNotNumbers", C::kInvalidArgument, "heads[0]",
               HypothesisFile(
                   R"({"heads": [{"theta": "big", "omega": [[1]]}]})")},
              {"HypothesisFileHugeNumber", C::kInvalidArgument, "hypothesis",
               HypothesisFile(
                   R"({"heads": [{"theta": [[1e999]], "omega": [[1]]}]})")},
              {"TranscriptFileBadDigest", C::kInvalidArgument, "request_digest",
               TranscriptLine(
                   R"({"learner": "a", "index": 0, "first_query_index": 0, )"
                   R"("request": {"sequences": [[[1, 2, 3, 4]]]}, )"
                   R"("response": {"outputs": [[[1, 2, 3, 4]]]}, )"
                   R"("request_digest": "zz", "response_digest": "00", )"
                   R"("chain_hash": "00"})")},
              {"TranscriptFileNotAnObject", C::kInvalidArgument, "entry",
               TranscriptLine("[1, 2, 3]")},
              // Client targets (--server).
              {"ServerTargetEmpty", C::kInvalidArgument, "--server",
               ServerTarget("")},
              {"ServerTargetEmptyList", C::kInvalidArgument, "--server",
               ServerTarget("ipv4:")},
              {"ServerTargetListEmptyEntry", C::kInvalidArgument, "--server",
               ServerTarget("ipv4:127.0.0.1:7001,")},
              {"ServerTargetListNotAnAddress", C::kInvalidArgument, "--server",
               ServerTarget("ipv4:oracle:7001,127.0.0.1:7002")},
              {"ServerTargetListWithoutScheme", C::kInvalidArgument, "--server",
               ServerTarget("127.0.0.1:7001,127.0.0.1:7002")},
              {"ServerTargetGarbage", C::kInvalidArgument, "--server",
               ServerTarget("%%garbage%%")},
          };
  const std::vector<Row> malformed = MalformedRows();
  rows.insert(rows.end(), malformed.begin(), malformed.end());
  return rows;
}

INSTANTIATE_TEST_SUITE_P(Rows, CatalogueTest, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return info.param.name;
                         });

TEST(CatalogueSizeTest, AtLeastFortyRows) { EXPECT_GE(Rows().size(), 40u); }

// The scan the rows rely on finds a secret value in each form it may leak
// in, and nothing in text that holds none.
TEST(SecretScannerTest, FindsEveryFormAndNothingElse) {
  LayerSpec spec;
  spec.d_model = 4;
  spec.heads = 1;
  spec = *ResolveSpec(spec);
  const LayerParams secret = DrawSecret(spec, Prior{.seed = 11});
  SecretScanner scanner(spec, secret);
  const double v = secret.heads[0].wk(1, 2);
  EXPECT_THAT(scanner.Find(absl::StrFormat("err: x=%.17g;", v)),
              HasSubstr("wk"));
  EXPECT_THAT(scanner.Find(absl::StrFormat("[%.6g]", -std::fabs(v))),
              HasSubstr("wk"));
  EXPECT_THAT(scanner.Find(absl::StrCat("value ", v)), HasSubstr("wk"));
  v1::Matrix m;
  m.add_values(1.5);
  m.add_values(Omega(secret.heads[0])(3, 0));
  EXPECT_THAT(scanner.Find(m.SerializeAsString()), HasSubstr("omega"));
  const double f = static_cast<float>(secret.heads[0].wq(0, 0));
  EXPECT_THAT(scanner.Find(std::string(reinterpret_cast<const char*>(&f), 8)),
              HasSubstr("float32"));
  v1::QueryRequest unrelated = CatalogueTest::Good(kMain, 8, 4);
  EXPECT_EQ(scanner.Find(unrelated.SerializeAsString()), "");
  EXPECT_EQ(scanner.Find("the request has 48 tokens; at most 32 are "
                         "allowed per request, |x| <= 1000, 1e+300"),
            "");
}

}  // namespace
}  // namespace attnoracle
