#include "server/service/oracle_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "server/service/call_context.h"

namespace attnoracle {

OracleServiceImpl::OracleServiceImpl(OracleCore* core,
                                     const Authenticator* authenticator)
    : core_(core), authenticator_(authenticator) {}

grpc::Status OracleServiceImpl::ListChallenges(
    grpc::ServerContext* context, const v1::ListChallengesRequest*,
    v1::ListChallengesResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  for (const ChallengeInfo& info : core_->ListChallenges(*caller)) {
    InfoToProto(info, response->add_challenges());
  }
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::DescribeChallenge(
    grpc::ServerContext* context, const v1::DescribeChallengeRequest* request,
    v1::ChallengeInfo* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<ChallengeInfo> info =
      core_->DescribeChallenge(*caller, request->challenge_id());
  if (info.ok()) InfoToProto(*info, response);
  return ToGrpcStatus(info.status());
}

absl::Status OracleServiceImpl::Answer(const Principal& caller,
                                       const v1::QueryRequest& request,
                                       v1::QueryResponse* response) {
  response->set_request_id(request.request_id());
  std::vector<ConstMatrixMap> inputs;
  inputs.reserve(request.sequences_size());
  for (int i = 0; i < request.sequences_size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        ConstMatrixMap x,
        MatrixView(request.sequences(i), absl::StrCat("sequences[", i, "]")));
    inputs.push_back(x);
  }
  for (int i = 0; i < request.sequences_size(); ++i) response->add_outputs();
  ATTN_ASSIGN_OR_RETURN(
      QueryResult result,
      core_->Query(caller, request.challenge_id(), inputs,
                   [response](size_t i, int rows, int cols) {
                     return MutableMatrixProto(
                         rows, cols,
                         response->mutable_outputs(static_cast<int>(i)));
                   }));
  UsageToProto(result.usage, response->mutable_usage());
  response->set_first_query_index(result.first_query_index);
  response->set_transcript_head(result.transcript_head);
  return absl::OkStatus();
}

grpc::Status OracleServiceImpl::Query(grpc::ServerContext* context,
                                      const v1::QueryRequest* request,
                                      v1::QueryResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  absl::Status status = caller.status();
  if (caller.ok()) status = Answer(*caller, *request, response);
  if (!status.ok()) response->Clear();
  return FinishStatus(context, status);
}

grpc::Status OracleServiceImpl::QueryStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::QueryResponse, v1::QueryRequest>* stream) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<StreamSlot> slot = core_->OpenStream(*caller);
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  v1::QueryRequest request;
  v1::QueryResponse response;
  while (stream->Read(&request)) {
    response.Clear();
    if (absl::Status status = Answer(*caller, request, &response);
        !status.ok()) {
      // A refused request is answered in-band so the stream goes on.
      response.Clear();
      response.set_request_id(request.request_id());
      response.mutable_error()->set_code(static_cast<int>(status.code()));
      response.mutable_error()->set_message(std::string(status.message()));
    }
    if (!stream->Write(response)) break;  // the client went away
  }
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::GetUsage(grpc::ServerContext* context,
                                         const v1::GetUsageRequest* request,
                                         v1::Usage* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<Usage> usage =
      core_->GetUsage(*caller, request->challenge_id());
  if (usage.ok()) UsageToProto(*usage, response);
  return ToGrpcStatus(usage.status());
}

grpc::Status OracleServiceImpl::Submit(grpc::ServerContext* context,
                                       const v1::SubmitRequest* request,
                                       v1::SubmitResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<ChallengeInfo> info =
      core_->DescribeChallenge(*caller, request->challenge_id());
  if (!info.ok()) return ToGrpcStatus(info.status());
  absl::StatusOr<LayerParams> hypothesis =
      ParamsFromProto(request->hypothesis(), info->spec);
  if (!hypothesis.ok()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("hypothesis: ", hypothesis.status().message())));
  }
  absl::StatusOr<SubmitResult> result =
      core_->Submit(*caller, request->challenge_id(), *hypothesis);
  if (!result.ok()) return ToGrpcStatus(result.status());
  ScoreToProto(result->score, response->mutable_score());
  response->set_submission_id(result->submission_id);
  response->set_submissions_left(result->submissions_left);
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::GetLeaderboard(
    grpc::ServerContext* context, const v1::GetLeaderboardRequest* request,
    v1::GetLeaderboardResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::vector<LeaderboardRow>> rows =
      core_->GetLeaderboard(*caller, request->challenge_id());
  if (!rows.ok()) return ToGrpcStatus(rows.status());
  for (const LeaderboardRow& row : *rows) {
    v1::LeaderboardEntry* entry = response->add_entries();
    entry->set_rank(row.rank);
    entry->set_learner(row.learner);
    ScoreToProto(row.score, entry->mutable_score());
    entry->set_submission_id(row.submission_id);
    entry->set_submitted_unix_ms(row.submitted_ms);
    entry->set_submissions(row.submissions);
  }
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::GetTranscript(
    grpc::ServerContext* context, const v1::GetTranscriptRequest* request,
    v1::GetTranscriptResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<TranscriptPage> page =
      core_->GetTranscript(*caller, request->challenge_id(),
                           request->first_index(), request->max_entries());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const TranscriptEntry& r : page->entries) {
    TranscriptEntryToProto(r, response->add_entries());
  }
  response->set_total_entries(page->total_entries);
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::GetReveal(grpc::ServerContext* context,
                                          const v1::GetRevealRequest* request,
                                          v1::GetRevealResponse* response) {
  absl::StatusOr<Principal> caller = CallerOf(*context, *authenticator_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<Reveal> reveal =
      core_->GetReveal(*caller, request->challenge_id(), request->learner());
  if (!reveal.ok()) return ToGrpcStatus(reveal.status());
  ParamsToProto(reveal->secret, response->mutable_secret());
  response->set_nonce(reveal->nonce);
  response->set_prior_seed(reveal->config.prior.seed);
  response->set_noise_seed(reveal->noise_seed);
  ConfigToProto(reveal->config, response->mutable_config());
  response->set_commitment(reveal->commitment);
  return grpc::Status::OK;
}

}  // namespace attnoracle
