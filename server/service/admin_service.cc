#include "server/service/admin_service.h"

#include "common/codec.h"
#include "common/grpc/grpc_status.h"
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
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<ChallengeInfo> info =
      core_->CreateChallenge(*caller, ConfigFromProto(request->config()));
  if (info.ok()) InfoToProto(*info, response);
  return ToGrpcStatus(info.status());
}

grpc::Status AdminServiceImpl::SetPhase(grpc::ServerContext* context,
                                        const v1::SetPhaseRequest* request,
                                        v1::ChallengeInfo* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<Phase> phase = PhaseFromProto(request->phase());
  if (!phase.ok()) return ToGrpcStatus(phase.status());
  absl::StatusOr<ChallengeInfo> info =
      core_->SetPhase(*caller, request->challenge_id(), *phase);
  if (info.ok()) InfoToProto(*info, response);
  return ToGrpcStatus(info.status());
}

grpc::Status AdminServiceImpl::RegisterLearner(
    grpc::ServerContext* context, const v1::RegisterLearnerRequest* request,
    v1::RegisterLearnerResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::string> token =
      core_->RegisterLearner(*caller, request->name());
  if (!token.ok()) return ToGrpcStatus(token.status());
  response->set_learner(request->name());
  response->set_token(*token);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeLearner(
    grpc::ServerContext* context, const v1::RevokeLearnerRequest* request,
    v1::RevokeLearnerResponse*) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ToGrpcStatus(core_->RevokeLearner(*caller, request->name()));
}

grpc::Status AdminServiceImpl::GrantBudget(
    grpc::ServerContext* context, const v1::GrantBudgetRequest* request,
    v1::Usage* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<Usage> usage =
      core_->GrantBudget(*caller, request->challenge_id(), request->learner(),
                         request->queries(), request->tokens());
  if (usage.ok()) UsageToProto(*usage, response);
  return ToGrpcStatus(usage.status());
}

grpc::Status AdminServiceImpl::ExportTranscripts(
    grpc::ServerContext* context, const v1::ExportTranscriptsRequest* request,
    grpc::ServerWriter<v1::TranscriptEntry>* writer) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  v1::TranscriptEntry entry;
  return ToGrpcStatus(core_->ExportTranscripts(
      *caller, request->challenge_id(), [&](const TranscriptEntry& r) {
        entry.Clear();
        TranscriptEntryToProto(r, &entry);
        return writer->Write(entry);
      }));
}

}  // namespace attnoracle
