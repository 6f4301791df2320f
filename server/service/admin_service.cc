#include "server/service/admin_service.h"

#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/status_macros.h"
#include "server/service/call_context.h"

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

}  // namespace

AdminServiceImpl::AdminServiceImpl(OracleCore* core,
                                   const Authenticator* authenticator)
    : core_(core), authenticator_(authenticator) {}

grpc::Status AdminServiceImpl::CreateChallenge(
    grpc::ServerContext* context, const v1::CreateChallengeRequest* request,
    v1::ChallengeInfo* response) {
  return ToGrpcStatus(DoCreateChallenge(*context, *request, response),
                      *context);
}

grpc::Status AdminServiceImpl::SetPhase(grpc::ServerContext* context,
                                        const v1::SetPhaseRequest* request,
                                        v1::ChallengeInfo* response) {
  return ToGrpcStatus(DoSetPhase(*context, *request, response), *context);
}

grpc::Status AdminServiceImpl::RegisterLearner(
    grpc::ServerContext* context, const v1::RegisterLearnerRequest* request,
    v1::RegisterLearnerResponse* response) {
  return ToGrpcStatus(DoRegisterLearner(*context, *request, response),
                      *context);
}

grpc::Status AdminServiceImpl::RevokeLearner(
    grpc::ServerContext* context, const v1::RevokeLearnerRequest* request,
    v1::RevokeLearnerResponse*) {
  return ToGrpcStatus(DoRevokeLearner(*context, *request), *context);
}

grpc::Status AdminServiceImpl::GrantBudget(
    grpc::ServerContext* context, const v1::GrantBudgetRequest* request,
    v1::Usage* response) {
  return ToGrpcStatus(DoGrantBudget(*context, *request, response), *context);
}

grpc::Status AdminServiceImpl::ExportTranscripts(
    grpc::ServerContext* context, const v1::ExportTranscriptsRequest* request,
    grpc::ServerWriter<v1::TranscriptEntry>* writer) {
  return ToGrpcStatus(DoExportTranscripts(*context, *request, writer),
                      *context);
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
    const v1::RevokeLearnerRequest& request) {
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
    grpc::ServerWriter<v1::TranscriptEntry>* writer) {
  ATTN_ASSIGN_OR_RETURN(const Principal caller,
                        CallerOf(context, *authenticator_));
  v1::TranscriptEntry entry;
  return core_->ExportTranscripts(caller, request.challenge_id(),
                                  [&](const TranscriptEntry& r) {
                                    entry.Clear();
                                    TranscriptEntryToProto(r, &entry);
                                    return writer->Write(entry);
                                  });
}

}  // namespace attnoracle
