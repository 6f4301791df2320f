#include "server/service/admin_service.h"

#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/status_macros.h"
#include "server/service/call_context.h"
#include "server/service/request_parse.h"

namespace attnoracle {
namespace {

absl::StatusOr<Phase> PhaseFromProto(v1::Phase phase) {
  switch (phase) {
    case v1::PHASE_OPEN:
      return Phase::kOpen;
    case v1::PHASE_CLOSED:
      return Phase::kClosed;
    case v1::PHASE_REVEALED:
      return Phase::kRevealed;
    default:
      return absl::InvalidArgumentError(
          "phase must be PHASE_OPEN, PHASE_CLOSED or PHASE_REVEALED");
  }
}

// A unary call read from `stream`: the request parsed (INVALID_ARGUMENT
// when it does not parse), `work` run on it, the response written on OK;
// the status converted once.
template <typename Request, typename Response, typename Work>
grpc::Status Unary(grpc::ServerContext& context,
                   grpc::ServerUnaryStreamer<Request, Response>* stream,
                   Work work) {
  Request request;
  Response response;
  absl::Status status = stream->Read(&request) ? work(request, &response)
                                               : UnparsableRequest<Request>();
  // A failed write means the call is gone; its status reaches no one.
  if (status.ok()) stream->Write(response);
  return ToGrpcStatus(status, context);
}

}  // namespace

AdminServiceImpl::AdminServiceImpl(OracleCore* core,
                                   const Authenticator* authenticator)
    : core_(core), authenticator_(authenticator) {}

grpc::Status AdminServiceImpl::StreamedCreateChallenge(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::CreateChallengeRequest, v1::ChallengeInfo>*
        stream) {
  return Unary(
      *context, stream,
      [&](const v1::CreateChallengeRequest& r, v1::ChallengeInfo* out) {
        return DoCreateChallenge(*context, r, out);
      });
}

grpc::Status AdminServiceImpl::StreamedSetPhase(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::SetPhaseRequest, v1::ChallengeInfo>* stream) {
  return Unary(*context, stream,
               [&](const v1::SetPhaseRequest& r, v1::ChallengeInfo* out) {
                 return DoSetPhase(*context, r, out);
               });
}

grpc::Status AdminServiceImpl::StreamedRegisterLearner(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::RegisterLearnerRequest,
                              v1::RegisterLearnerResponse>* stream) {
  return Unary(*context, stream,
               [&](const v1::RegisterLearnerRequest& r,
                   v1::RegisterLearnerResponse* out) {
                 return DoRegisterLearner(*context, r, out);
               });
}

grpc::Status AdminServiceImpl::StreamedRevokeLearner(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::RevokeLearnerRequest,
                              v1::RevokeLearnerResponse>* stream) {
  return Unary(
      *context, stream,
      [&](const v1::RevokeLearnerRequest& r, v1::RevokeLearnerResponse* out) {
        return DoRevokeLearner(*context, r, out);
      });
}

grpc::Status AdminServiceImpl::StreamedGrantBudget(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<v1::GrantBudgetRequest, v1::Usage>* stream) {
  return Unary(*context, stream,
               [&](const v1::GrantBudgetRequest& r, v1::Usage* out) {
                 return DoGrantBudget(*context, r, out);
               });
}

grpc::Status AdminServiceImpl::StreamedExportTranscripts(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<v1::ExportTranscriptsRequest,
                              v1::TranscriptEntry>* stream) {
  v1::ExportTranscriptsRequest request;
  absl::Status status = stream->Read(&request)
                            ? DoExportTranscripts(*context, request, stream)
                            : UnparsableRequest<v1::ExportTranscriptsRequest>();
  return ToGrpcStatus(status, *context);
}

absl::Status AdminServiceImpl::DoCreateChallenge(
    const grpc::ServerContextBase& context,
    const v1::CreateChallengeRequest& request, v1::ChallengeInfo* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const ChallengeInfo info,
      core_->CreateChallenge(caller, ConfigFromProto(request.config())));
  InfoToProto(info, response);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoSetPhase(
    const grpc::ServerContextBase& context, const v1::SetPhaseRequest& request,
    v1::ChallengeInfo* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(const Phase phase, PhaseFromProto(request.phase()));
  ATTN_ASSIGN_OR_RETURN(const ChallengeInfo info,
                        core_->SetPhase(caller, request.challenge_id(), phase));
  InfoToProto(info, response);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoRegisterLearner(
    const grpc::ServerContextBase& context,
    const v1::RegisterLearnerRequest& request,
    v1::RegisterLearnerResponse* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(std::string token,
                        core_->RegisterLearner(caller, request.name()));
  response->set_learner(request.name());
  response->set_token(std::move(token));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoRevokeLearner(
    const grpc::ServerContextBase& context,
    const v1::RevokeLearnerRequest& request, v1::RevokeLearnerResponse*) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  return core_->RevokeLearner(caller, request.name());
}

absl::Status AdminServiceImpl::DoGrantBudget(
    const grpc::ServerContextBase& context,
    const v1::GrantBudgetRequest& request, v1::Usage* response) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  ATTN_ASSIGN_OR_RETURN(
      const Usage usage,
      core_->GrantBudget(caller, request.challenge_id(), request.learner(),
                         request.queries(), request.tokens()));
  UsageToProto(usage, response);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoExportTranscripts(
    const grpc::ServerContextBase& context,
    const v1::ExportTranscriptsRequest& request,
    grpc::ServerSplitStreamer<v1::ExportTranscriptsRequest,
                              v1::TranscriptEntry>* stream) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  v1::TranscriptEntry entry;
  return core_->ExportTranscripts(caller, request.challenge_id(),
                                  [&](const TranscriptEntry& r) {
                                    entry.Clear();
                                    TranscriptEntryToProto(r, &entry);
                                    return stream->Write(entry);
                                  });
}

}  // namespace attnoracle
