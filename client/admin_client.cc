#include "client/admin_client.h"

#include "common/codec.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

v1::Phase PhaseToProto(Phase phase) {
  switch (phase) {
    case Phase::kClosed:
      return v1::PHASE_CLOSED;
    case Phase::kRevealed:
      return v1::PHASE_REVEALED;
    case Phase::kOpen:
      break;
  }
  return v1::PHASE_OPEN;
}

}  // namespace

std::unique_ptr<AdminClient> AdminClient::Connect(
    const ClientOptions& options) {
  return std::make_unique<AdminClient>(NewChannel(options), options);
}

AdminClient::AdminClient(std::shared_ptr<grpc::Channel> channel,
                         ClientOptions options)
    : stub_(v1::Admin::NewStub(channel)), options_(std::move(options)) {}

absl::StatusOr<ChallengeInfo> AdminClient::CreateChallenge(
    const v1::ChallengeConfig& config) {
  v1::CreateChallengeRequest request;
  *request.mutable_config() = config;
  ATTN_ASSIGN_OR_RETURN(
      const v1::ChallengeInfo response,
      Call(*stub_, &v1::Admin::Stub::CreateChallenge, request, options_));
  return InfoFromProto(response);
}

absl::StatusOr<ChallengeInfo> AdminClient::CreateChallenge(
    const ChallengeConfig& config) {
  v1::ChallengeConfig proto;
  ConfigToProto(config, &proto);
  return CreateChallenge(proto);
}

absl::StatusOr<ChallengeInfo> AdminClient::SetPhase(
    const std::string& challenge_id, Phase phase) {
  v1::SetPhaseRequest request;
  request.set_challenge_id(challenge_id);
  request.set_phase(PhaseToProto(phase));
  ATTN_ASSIGN_OR_RETURN(
      const v1::ChallengeInfo response,
      Call(*stub_, &v1::Admin::Stub::SetPhase, request, options_));
  return InfoFromProto(response);
}

absl::StatusOr<LearnerCredentials> AdminClient::RegisterLearner(
    const std::string& name) {
  v1::RegisterLearnerRequest request;
  request.set_name(name);
  ATTN_ASSIGN_OR_RETURN(
      const v1::RegisterLearnerResponse response,
      Call(*stub_, &v1::Admin::Stub::RegisterLearner, request, options_));
  return LearnerCredentials{response.learner(), response.token()};
}

absl::Status AdminClient::RevokeLearner(const std::string& name) {
  v1::RevokeLearnerRequest request;
  request.set_name(name);
  return Call(*stub_, &v1::Admin::Stub::RevokeLearner, request, options_)
      .status();
}

absl::StatusOr<Usage> AdminClient::GrantBudget(const std::string& challenge_id,
                                               const std::string& learner,
                                               uint64_t queries,
                                               uint64_t tokens) {
  v1::GrantBudgetRequest request;
  request.set_challenge_id(challenge_id);
  request.set_learner(learner);
  request.set_queries(queries);
  request.set_tokens(tokens);
  ATTN_ASSIGN_OR_RETURN(
      const v1::Usage response,
      Call(*stub_, &v1::Admin::Stub::GrantBudget, request, options_));
  return UsageFromProto(response);
}

absl::Status AdminClient::ExportTranscripts(
    const std::string& challenge_id,
    const std::function<absl::Status(const TranscriptEntry&)>& sink) {
  grpc::ClientContext context;
  PrepareContext(options_, &context);
  v1::ExportTranscriptsRequest request;
  request.set_challenge_id(challenge_id);
  std::unique_ptr<grpc::ClientReader<v1::TranscriptEntry>> reader =
      stub_->ExportTranscripts(&context, request);
  v1::TranscriptEntry entry;
  absl::Status sink_status;
  while (reader->Read(&entry)) {
    sink_status = sink(TranscriptEntryFromProto(entry));
    if (!sink_status.ok()) {
      context.TryCancel();
      // Drain what is already buffered so Finish returns promptly.
      while (reader->Read(&entry)) {
      }
      break;
    }
  }
  const grpc::Status finished = reader->Finish();
  const absl::Status finish = CallStatus(finished, context, options_);
  return sink_status.ok() ? finish : sink_status;
}

}  // namespace attnoracle
