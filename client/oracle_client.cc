#include "client/oracle_client.h"

#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace attnoracle {

std::unique_ptr<OracleClient> OracleClient::Connect(
    const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return std::make_unique<OracleClient>(
      grpc::CreateCustomChannel(options.server,
                                grpc::InsecureChannelCredentials(), args),
      options);
}

OracleClient::OracleClient(std::shared_ptr<grpc::Channel> channel,
                           ClientOptions options)
    : stub_(v1::Oracle::NewStub(channel)), options_(std::move(options)) {}

void OracleClient::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + options_.deadline);
  if (!options_.token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options_.token));
  }
}

absl::StatusOr<std::vector<ChallengeInfo>> OracleClient::ListChallenges() {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ListChallengesResponse response;
  ATTN_RETURN_IF_ERROR(FromGrpcStatus(
      stub_->ListChallenges(&context, v1::ListChallengesRequest(), &response)));
  std::vector<ChallengeInfo> out;
  for (const v1::ChallengeInfo& info : response.challenges()) {
    out.push_back(InfoFromProto(info));
  }
  return out;
}

absl::StatusOr<ChallengeInfo> OracleClient::Describe(
    const std::string& challenge_id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::DescribeChallengeRequest request;
  request.set_challenge_id(challenge_id);
  v1::ChallengeInfo response;
  ATTN_RETURN_IF_ERROR(
      FromGrpcStatus(stub_->DescribeChallenge(&context, request, &response)));
  return InfoFromProto(response);
}

absl::StatusOr<QueryAnswer> OracleClient::Query(
    const std::string& challenge_id, std::span<const Matrix> sequences) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::QueryRequest request;
  request.set_challenge_id(challenge_id);
  for (const Matrix& x : sequences) MatrixToProto(x, request.add_sequences());
  v1::QueryResponse response;
  ATTN_RETURN_IF_ERROR(
      FromGrpcStatus(stub_->Query(&context, request, &response)));
  QueryAnswer answer;
  for (int i = 0; i < response.outputs_size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        ConstMatrixMap y,
        MatrixView(response.outputs(i), absl::StrCat("outputs[", i, "]")));
    answer.outputs.emplace_back(y);
  }
  if (answer.outputs.size() != sequences.size()) {
    return absl::InternalError(absl::StrCat("the server answered ",
                                            answer.outputs.size(), " of ",
                                            sequences.size(), " sequences"));
  }
  answer.usage = UsageFromProto(response.usage());
  answer.first_query_index = response.first_query_index();
  return answer;
}

absl::StatusOr<Usage> OracleClient::GetUsage(const std::string& challenge_id) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::GetUsageRequest request;
  request.set_challenge_id(challenge_id);
  v1::Usage response;
  ATTN_RETURN_IF_ERROR(
      FromGrpcStatus(stub_->GetUsage(&context, request, &response)));
  return UsageFromProto(response);
}

absl::StatusOr<SubmitResult> OracleClient::Submit(
    const std::string& challenge_id, const LayerParams& hypothesis) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::SubmitRequest request;
  request.set_challenge_id(challenge_id);
  ParamsToProto(hypothesis, request.mutable_hypothesis());
  v1::SubmitResponse response;
  ATTN_RETURN_IF_ERROR(
      FromGrpcStatus(stub_->Submit(&context, request, &response)));
  return SubmitResult{ScoreFromProto(response.score()),
                      response.submission_id()};
}

}  // namespace attnoracle
