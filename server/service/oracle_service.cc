#include "server/service/oracle_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/status_macros.h"
#include "server/service/call_context.h"
#include "server/service/query_stream_reactor.h"
#include "server/service/request_parse.h"

namespace attnoracle {

namespace {

// Answers `request` into `response` (cleared by the caller) without
// blocking: `done` gets OK once the answers are in `response` and durably
// charged, or the error that refused the whole request. It runs on whichever
// thread the ledger calls back on (see OracleCore::QueryAsync); `response`
// must live until then.
void AnswerAsync(OracleCore& core, const Principal& caller,
                 const v1::QueryRequest& request, v1::QueryResponse* response,
                 std::function<void(const absl::Status&)> done) {
  response->set_request_id(request.request_id());
  std::vector<ConstMatrixMap> inputs;
  inputs.reserve(request.sequences_size());
  for (int i = 0; i < request.sequences_size(); ++i) {
    absl::StatusOr<ConstMatrixMap> x =
        MatrixView(request.sequences(i), absl::StrCat("sequences[", i, "]"));
    if (!x.ok()) {
      done(x.status());
      return;
    }
    inputs.push_back(*x);
  }
  for (int i = 0; i < request.sequences_size(); ++i) response->add_outputs();
  core.QueryAsync(
      caller, request.challenge_id(), inputs,
      [response](size_t i, int rows, int cols) {
        return MutableMatrixProto(
            rows, cols, response->mutable_outputs(static_cast<int>(i)));
      },
      [response, done = std::move(done)](absl::StatusOr<QueryResult> result) {
        if (!result.ok()) {
          done(result.status());
          return;
        }
        if (result->answers == Answers::kTopK) {
          // The pairs were written as matrices; they travel in top_k.
          for (const v1::Matrix& pairs : response->outputs()) {
            TopKToProto(ConstMatrixMap(pairs.values().data(), pairs.rows(),
                                       pairs.cols()),
                        response->add_top_k());
          }
          response->clear_outputs();
        }
        UsageToProto(result->usage, response->mutable_usage());
        response->set_first_query_index(result->first_query_index);
        response->set_transcript_head(std::move(result->transcript_head));
        done(absl::OkStatus());
      });
}

// Sample's answer into its message, the answers as AnswerAsync writes them.
void SampleToProto(SampleResult& result, v1::SampleResponse* response) {
  for (const Matrix& x : result.inputs) {
    MatrixToProto(x, response->add_inputs());
  }
  for (const Matrix& y : result.outputs) {
    if (result.answers == Answers::kTopK) {
      TopKToProto(y, response->add_top_k());
    } else {
      MatrixToProto(y, response->add_outputs());
    }
  }
  UsageToProto(result.usage, response->mutable_usage());
  response->set_first_query_index(result.first_query_index);
  response->set_transcript_head(std::move(result.transcript_head));
}

// QueryStream: a refused caller (bad token, or no stream slot left) ends
// the stream with the status before anything is read; otherwise each
// request is answered as Query answers it, once durably charged.
class OracleStreamReactor final : public QueryStreamReactor {
 public:
  OracleStreamReactor(OracleCore* core, grpc::CallbackServerContext* context,
                      absl::StatusOr<Principal> caller)
      : core_(core), caller_(std::move(caller)) {
    // Whatever the stream holds for its whole life (the caller and one of
    // its stream slots) is taken here, and refusing it ends the stream.
    absl::Status refused = caller_.status();
    if (refused.ok()) {
      absl::StatusOr<StreamSlot> stream_slot = core_->OpenStream(*caller_);
      refused = stream_slot.status();
      if (refused.ok()) stream_slot_.emplace(*std::move(stream_slot));
    }
    if (refused.ok()) {
      Start();
    } else {
      Finish(ToGrpcStatus(refused, *context));
    }
  }

 private:
  void Answer(const v1::QueryRequest& request, v1::QueryResponse* response,
              AnswerDone done) override {
    AnswerAsync(*core_, *caller_, request, response, std::move(done));
  }

  OracleCore* const core_;
  const absl::StatusOr<Principal> caller_;
  // The caller's claim on one of its concurrent streams, given back when
  // the reactor is deleted.
  std::optional<StreamSlot> stream_slot_;
};

// Ends a unary call with `status` through the context's default reactor.
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context,
                                     const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status, *context));
  return reactor;
}

// `response` serialised into *bytes, as gRPC would have.
absl::Status SerializeResponse(const google::protobuf::Message& response,
                               grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  grpc::Status s = grpc::GenericSerialize<grpc::ProtoBufferWriter,
                                          google::protobuf::Message>(
      response, bytes, &own_buffer);
  if (!s.ok()) {
    return absl::InternalError("the response could not be serialised");
  }
  return absl::OkStatus();
}

// A unary call on raw bytes: parses the request, runs `work` on it and
// finishes with its status, and on OK with the serialised response.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* FinishRaw(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& bytes,
    grpc::ByteBuffer* response_bytes,
    absl::FunctionRef<absl::Status(const Request&, Response*)> work) {
  Request request;
  absl::Status status = ParseRequest(bytes, &request);
  Response response;
  if (status.ok()) status = work(request, &response);
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  return FinishWith(context, status);
}

}  // namespace

OracleServiceImpl::OracleServiceImpl(OracleCore* core,
                                     const Authenticator* authenticator,
                                     const OracleServiceOptions& options)
    : core_(core), authenticator_(authenticator), options_(options) {}

grpc::ServerUnaryReactor* OracleServiceImpl::ListChallenges(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::ListChallengesRequest, v1::ListChallengesResponse>(
      context, *request, response,
      [&](const v1::ListChallengesRequest&, v1::ListChallengesResponse* out) {
        return DoListChallenges(*context, out);
      });
}

grpc::ServerUnaryReactor* OracleServiceImpl::DescribeChallenge(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::DescribeChallengeRequest, v1::ChallengeInfo>(
      context, *request, response,
      [&](const v1::DescribeChallengeRequest& r, v1::ChallengeInfo* out) {
        return DoDescribeChallenge(*context, r, out);
      });
}

grpc::ServerUnaryReactor* OracleServiceImpl::Query(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  v1::QueryRequest request;
  absl::Status parsed = ParseRequest(*request_bytes, &request);
  if (!parsed.ok()) return FinishWith(context, parsed);
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return FinishWith(context, caller.status());
  // The request is read before AnswerAsync returns; the response is filled
  // until it calls back, so it lives with the callback.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto response = std::make_shared<v1::QueryResponse>();
  v1::QueryResponse* answers = response.get();
  auto finish = [context, reactor, response_bytes,
                 response = std::move(response)](absl::Status status) {
    if (status.ok()) status = SerializeResponse(*response, response_bytes);
    reactor->Finish(ToGrpcStatus(status, *context));
  };
  // Finishes when the answers are durably charged, without holding a gRPC
  // thread meanwhile.
  AnswerAsync(*core_, *caller, request, answers, std::move(finish));
  return reactor;
}

grpc::ServerUnaryReactor* OracleServiceImpl::Sample(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  v1::SampleRequest request;
  absl::Status parsed = ParseRequest(*request_bytes, &request);
  if (!parsed.ok()) return FinishWith(context, parsed);
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return FinishWith(context, caller.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Finishes when the examples are durably charged, as Query does.
  core_->SampleAsync(
      *caller, request.challenge_id(), request.count(), request.tokens(),
      [context, reactor, response_bytes](absl::StatusOr<SampleResult> result) {
        absl::Status status = result.status();
        if (status.ok()) {
          v1::SampleResponse response;
          SampleToProto(*result, &response);
          status = SerializeResponse(response, response_bytes);
        }
        reactor->Finish(ToGrpcStatus(status, *context));
      });
  return reactor;
}

grpc::ServerUnaryReactor* OracleServiceImpl::GetUsage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::GetUsageRequest, v1::Usage>(
      context, *request, response,
      [&](const v1::GetUsageRequest& r, v1::Usage* out) {
        return DoGetUsage(*context, r, out);
      });
}

grpc::ServerUnaryReactor* OracleServiceImpl::Submit(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  // Before parsing, which would hold the whole hypothesis again.
  if (request_bytes->Length() > options_.max_submission_bytes) {
    return FinishWith(
        context,
        absl::InvalidArgumentError(absl::StrCat(
            "hypothesis: the SubmitRequest is ", request_bytes->Length(),
            " bytes; this server takes at most ", options_.max_submission_bytes,
            " (--max_submission_mib); factors wider than d_model are "
            "refused anyway")));
  }
  v1::SubmitRequest request;
  absl::Status parsed = ParseRequest(*request_bytes, &request);
  if (!parsed.ok()) return FinishWith(context, parsed);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Finishes on the scoring thread once the hypothesis is scored, holding
  // no gRPC thread meanwhile.
  absl::Status queued = StartSubmit(
      *context, request,
      [context, reactor, response_bytes](absl::StatusOr<SubmitResult> result) {
        absl::Status status = result.status();
        if (status.ok()) {
          v1::SubmitResponse response;
          ScoreToProto(result->score, response.mutable_score());
          response.set_submission_id(result->submission_id);
          response.set_submissions_left(result->submissions_left);
          status = SerializeResponse(response, response_bytes);
        }
        reactor->Finish(ToGrpcStatus(status, *context));
      });
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued, *context));
  return reactor;
}

grpc::ServerUnaryReactor* OracleServiceImpl::GetLeaderboard(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::GetLeaderboardRequest, v1::GetLeaderboardResponse>(
      context, *request, response,
      [&](const v1::GetLeaderboardRequest& r, v1::GetLeaderboardResponse* out) {
        return DoGetLeaderboard(*context, r, out);
      });
}

grpc::ServerUnaryReactor* OracleServiceImpl::GetTranscript(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::GetTranscriptRequest, v1::GetTranscriptResponse>(
      context, *request, response,
      [&](const v1::GetTranscriptRequest& r, v1::GetTranscriptResponse* out) {
        return DoGetTranscript(*context, r, out);
      });
}

grpc::ServerUnaryReactor* OracleServiceImpl::GetReveal(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return FinishRaw<v1::GetRevealRequest, v1::GetRevealResponse>(
      context, *request, response,
      [&](const v1::GetRevealRequest& r, v1::GetRevealResponse* out) {
        return DoGetReveal(*context, r, out);
      });
}

absl::Status OracleServiceImpl::DoListChallenges(
    const grpc::ServerContextBase& context,
    v1::ListChallengesResponse* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  for (const ChallengeInfo& info : core_->ListChallenges(caller)) {
    InfoToProto(info, response->add_challenges());
  }
  return absl::OkStatus();
}

absl::Status OracleServiceImpl::DoDescribeChallenge(
    const grpc::ServerContextBase& context,
    const v1::DescribeChallengeRequest& request, v1::ChallengeInfo* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const ChallengeInfo info,
      core_->DescribeChallenge(caller, request.challenge_id()));
  InfoToProto(info, response);
  return absl::OkStatus();
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
OracleServiceImpl::QueryStream(grpc::CallbackServerContext* context) {
  return new OracleStreamReactor(core_, context,
                                 CallerOf(*context, *authenticator_));
}

absl::Status OracleServiceImpl::DoGetUsage(
    const grpc::ServerContextBase& context, const v1::GetUsageRequest& request,
    v1::Usage* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(const Usage usage,
                        core_->GetUsage(caller, request.challenge_id()));
  UsageToProto(usage, response);
  return absl::OkStatus();
}

absl::Status OracleServiceImpl::StartSubmit(
    const grpc::ServerContextBase& context, const v1::SubmitRequest& request,
    SubmitCallback done) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const ChallengeInfo info,
      core_->DescribeChallenge(caller, request.challenge_id()));
  absl::StatusOr<LayerParams> hypothesis =
      ParamsFromProto(request.hypothesis(), info.spec);
  if (!hypothesis.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("hypothesis: ", hypothesis.status().message()));
  }
  return core_->SubmitAsync(caller, request.challenge_id(),
                            *std::move(hypothesis), std::move(done));
}

absl::Status OracleServiceImpl::DoGetLeaderboard(
    const grpc::ServerContextBase& context,
    const v1::GetLeaderboardRequest& request,
    v1::GetLeaderboardResponse* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(const std::vector<LeaderboardRow> rows,
                        core_->GetLeaderboard(caller, request.challenge_id()));
  for (const LeaderboardRow& row : rows) {
    v1::LeaderboardEntry* entry = response->add_entries();
    entry->set_rank(row.rank);
    entry->set_learner(row.learner);
    ScoreToProto(row.score, entry->mutable_score());
    entry->set_submission_id(row.submission_id);
    entry->set_submitted_unix_ms(row.submitted_ms);
    entry->set_submissions(row.submissions);
  }
  return absl::OkStatus();
}

absl::Status OracleServiceImpl::DoGetTranscript(
    const grpc::ServerContextBase& context,
    const v1::GetTranscriptRequest& request,
    v1::GetTranscriptResponse* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const TranscriptPage page,
      core_->GetTranscript(caller, request.challenge_id(),
                           request.first_index(), request.max_entries()));
  for (const TranscriptEntry& r : page.entries) {
    TranscriptEntryToProto(r, response->add_entries());
  }
  response->set_total_entries(page.total_entries);
  return absl::OkStatus();
}

absl::Status OracleServiceImpl::DoGetReveal(
    const grpc::ServerContextBase& context, const v1::GetRevealRequest& request,
    v1::GetRevealResponse* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const Reveal reveal,
      core_->GetReveal(caller, request.challenge_id(), request.learner()));
  ParamsToProto(reveal.secret, response->mutable_secret());
  response->set_nonce(reveal.nonce);
  response->set_prior_seed(reveal.config.prior.seed);
  response->set_noise_seed(reveal.noise_seed);
  ConfigToProto(reveal.config, response->mutable_config());
  response->set_commitment(reveal.commitment);
  return absl::OkStatus();
}

}  // namespace attnoracle
