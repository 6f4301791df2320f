#include "server/service/oracle_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace attnoracle {

OracleServiceImpl::OracleServiceImpl(OracleCore* core) : core_(core) {}

std::string OracleServiceImpl::LearnerOf(const grpc::ServerContext&) const {
  return "anonymous";
}

grpc::Status OracleServiceImpl::ListChallenges(
    grpc::ServerContext*, const v1::ListChallengesRequest*,
    v1::ListChallengesResponse* response) {
  for (const ChallengeInfo& info : core_->ListChallenges()) {
    InfoToProto(info, response->add_challenges());
  }
  return grpc::Status::OK;
}

grpc::Status OracleServiceImpl::DescribeChallenge(
    grpc::ServerContext*, const v1::DescribeChallengeRequest* request,
    v1::ChallengeInfo* response) {
  absl::StatusOr<ChallengeInfo> info =
      core_->DescribeChallenge(request->challenge_id());
  if (info.ok()) InfoToProto(*info, response);
  return ToGrpcStatus(info.status());
}

absl::Status OracleServiceImpl::Answer(const std::string& learner,
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
      core_->Query(learner, request.challenge_id(), inputs,
                   [response](size_t i, int rows, int cols) {
                     return MutableMatrixProto(
                         rows, cols,
                         response->mutable_outputs(static_cast<int>(i)));
                   }));
  UsageToProto(result.usage, response->mutable_usage());
  response->set_first_query_index(result.first_query_index);
  return absl::OkStatus();
}

grpc::Status OracleServiceImpl::Query(grpc::ServerContext* context,
                                      const v1::QueryRequest* request,
                                      v1::QueryResponse* response) {
  absl::Status status = Answer(LearnerOf(*context), *request, response);
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

grpc::Status OracleServiceImpl::QueryStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::QueryResponse, v1::QueryRequest>* stream) {
  const std::string learner = LearnerOf(*context);
  v1::QueryRequest request;
  v1::QueryResponse response;
  while (stream->Read(&request)) {
    response.Clear();
    if (absl::Status status = Answer(learner, request, &response);
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
  absl::StatusOr<Usage> usage =
      core_->GetUsage(LearnerOf(*context), request->challenge_id());
  if (usage.ok()) UsageToProto(*usage, response);
  return ToGrpcStatus(usage.status());
}

// The hypothesis is decoded against the challenge's resolved spec, so an
// unknown challenge is NOT_FOUND before any shape is checked.
absl::Status OracleServiceImpl::ScoreSubmission(
    const std::string& learner, const v1::SubmitRequest& request,
    v1::SubmitResponse* response) {
  ATTN_ASSIGN_OR_RETURN(ChallengeInfo info,
                        core_->DescribeChallenge(request.challenge_id()));
  ATTN_ASSIGN_OR_RETURN(LayerParams hypothesis,
                        ParamsFromProto(request.hypothesis(), info.spec));
  ATTN_ASSIGN_OR_RETURN(
      SubmitResult result,
      core_->Submit(learner, request.challenge_id(), hypothesis));
  ScoreToProto(result.score, response->mutable_score());
  response->set_submission_id(result.submission_id);
  return absl::OkStatus();
}

grpc::Status OracleServiceImpl::Submit(grpc::ServerContext* context,
                                       const v1::SubmitRequest* request,
                                       v1::SubmitResponse* response) {
  absl::Status status =
      ScoreSubmission(LearnerOf(*context), *request, response);
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

}  // namespace attnoracle
