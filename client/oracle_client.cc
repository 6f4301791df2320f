#include "client/oracle_client.h"

#include "absl/strings/str_cat.h"
#include "common/codec.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// The answers of a Query or Sample response: its outputs, or under
// ANSWERS_TOP_K its top_k answers as rows x 2k pairs (common/answer.h).
absl::StatusOr<std::vector<Matrix>> AnswersFromProto(
    const google::protobuf::RepeatedPtrField<v1::Matrix>& outputs,
    const google::protobuf::RepeatedPtrField<v1::TopKAnswer>& top_k) {
  std::vector<Matrix> out;
  for (int i = 0; i < outputs.size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        ConstMatrixMap y,
        MatrixView(outputs[i], absl::StrCat("outputs[", i, "]")));
    out.emplace_back(y);
  }
  for (int i = 0; i < top_k.size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        Matrix pairs, TopKFromProto(top_k[i], absl::StrCat("top_k[", i, "]")));
    out.push_back(std::move(pairs));
  }
  return out;
}

}  // namespace

std::unique_ptr<OracleClient> OracleClient::Connect(
    const ClientOptions& options) {
  return std::make_unique<OracleClient>(NewChannel(options), options);
}

OracleClient::OracleClient(std::shared_ptr<grpc::Channel> channel,
                           ClientOptions options)
    : stub_(v1::Oracle::NewStub(channel)), options_(std::move(options)) {}

absl::StatusOr<std::vector<ChallengeInfo>> OracleClient::ListChallenges() {
  ATTN_ASSIGN_OR_RETURN(const v1::ListChallengesResponse response,
                        Call(*stub_, &v1::Oracle::Stub::ListChallenges,
                             v1::ListChallengesRequest(), options_));
  std::vector<ChallengeInfo> out;
  for (const v1::ChallengeInfo& info : response.challenges()) {
    out.push_back(InfoFromProto(info));
  }
  return out;
}

absl::StatusOr<ChallengeInfo> OracleClient::Describe(
    const std::string& challenge_id) {
  v1::DescribeChallengeRequest request;
  request.set_challenge_id(challenge_id);
  ATTN_ASSIGN_OR_RETURN(
      const v1::ChallengeInfo response,
      Call(*stub_, &v1::Oracle::Stub::DescribeChallenge, request, options_));
  return InfoFromProto(response);
}

absl::StatusOr<QueryAnswer> OracleClient::Query(
    const std::string& challenge_id, std::span<const Matrix> sequences) {
  v1::QueryRequest request;
  request.set_challenge_id(challenge_id);
  for (const Matrix& x : sequences) MatrixToProto(x, request.add_sequences());
  ATTN_ASSIGN_OR_RETURN(
      const v1::QueryResponse response,
      Call(*stub_, &v1::Oracle::Stub::Query, request, options_));
  QueryAnswer answer;
  ATTN_ASSIGN_OR_RETURN(answer.outputs,
                        AnswersFromProto(response.outputs(), response.top_k()));
  answer.top_k = response.top_k_size() > 0;
  if (answer.outputs.size() != sequences.size()) {
    return absl::InternalError(absl::StrCat("the server answered ",
                                            answer.outputs.size(), " of ",
                                            sequences.size(), " sequences"));
  }
  answer.usage = UsageFromProto(response.usage());
  answer.first_query_index = response.first_query_index();
  return answer;
}

absl::StatusOr<SampleAnswer> OracleClient::Sample(
    const std::string& challenge_id, uint32_t count) {
  v1::SampleRequest request;
  request.set_challenge_id(challenge_id);
  request.set_count(count);
  ATTN_ASSIGN_OR_RETURN(
      const v1::SampleResponse response,
      Call(*stub_, &v1::Oracle::Stub::Sample, request, options_));
  SampleAnswer answer;
  for (int i = 0; i < response.inputs_size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        ConstMatrixMap x,
        MatrixView(response.inputs(i), absl::StrCat("inputs[", i, "]")));
    answer.inputs.emplace_back(x);
  }
  ATTN_ASSIGN_OR_RETURN(answer.outputs,
                        AnswersFromProto(response.outputs(), response.top_k()));
  answer.top_k = response.top_k_size() > 0;
  if (answer.inputs.size() != count || answer.outputs.size() != count) {
    return absl::InternalError(absl::StrCat(
        "the server sent ", answer.inputs.size(), " inputs and ",
        answer.outputs.size(), " answers for ", count, " examples"));
  }
  answer.usage = UsageFromProto(response.usage());
  answer.first_query_index = response.first_query_index();
  return answer;
}

absl::StatusOr<Usage> OracleClient::GetUsage(const std::string& challenge_id) {
  v1::GetUsageRequest request;
  request.set_challenge_id(challenge_id);
  ATTN_ASSIGN_OR_RETURN(
      const v1::Usage response,
      Call(*stub_, &v1::Oracle::Stub::GetUsage, request, options_));
  return UsageFromProto(response);
}

absl::StatusOr<SubmitResult> OracleClient::Submit(
    const std::string& challenge_id, const LayerParams& hypothesis) {
  v1::SubmitRequest request;
  request.set_challenge_id(challenge_id);
  ParamsToProto(hypothesis, request.mutable_hypothesis());
  ATTN_ASSIGN_OR_RETURN(
      const v1::SubmitResponse response,
      Call(*stub_, &v1::Oracle::Stub::Submit, request, options_));
  return SubmitResult{ScoreFromProto(response.score()),
                      response.submission_id(), response.submissions_left()};
}

absl::StatusOr<std::vector<LeaderboardEntry>> OracleClient::GetLeaderboard(
    const std::string& challenge_id) {
  v1::GetLeaderboardRequest request;
  request.set_challenge_id(challenge_id);
  ATTN_ASSIGN_OR_RETURN(
      const v1::GetLeaderboardResponse response,
      Call(*stub_, &v1::Oracle::Stub::GetLeaderboard, request, options_));
  std::vector<LeaderboardEntry> out;
  for (const v1::LeaderboardEntry& e : response.entries()) {
    out.push_back(LeaderboardEntry{static_cast<int>(e.rank()), e.learner(),
                                   ScoreFromProto(e.score()), e.submission_id(),
                                   e.submitted_unix_ms(),
                                   static_cast<int>(e.submissions())});
  }
  return out;
}

absl::StatusOr<std::vector<TranscriptEntry>> OracleClient::GetTranscript(
    const std::string& challenge_id) {
  std::vector<TranscriptEntry> out;
  uint64_t total = 0;
  do {
    v1::GetTranscriptRequest request;
    request.set_challenge_id(challenge_id);
    request.set_first_index(out.size());
    ATTN_ASSIGN_OR_RETURN(
        const v1::GetTranscriptResponse response,
        Call(*stub_, &v1::Oracle::Stub::GetTranscript, request, options_));
    total = response.total_entries();
    // An empty page before the total would make this loop forever.
    if (response.entries().empty() && out.size() < total) {
      return absl::DataLossError(absl::StrCat(
          "the server reports ", total, " transcript entries but sent ",
          out.size(), " and then an empty page"));
    }
    for (const v1::TranscriptEntry& e : response.entries()) {
      out.push_back(TranscriptEntryFromProto(e));
    }
  } while (out.size() < total);
  return out;
}

absl::StatusOr<RevealedChallenge> OracleClient::GetReveal(
    const std::string& challenge_id, const std::string& learner) {
  v1::GetRevealRequest request;
  request.set_challenge_id(challenge_id);
  request.set_learner(learner);
  ATTN_ASSIGN_OR_RETURN(
      const v1::GetRevealResponse response,
      Call(*stub_, &v1::Oracle::Stub::GetReveal, request, options_));
  RevealedChallenge out;
  if (response.has_config() && response.config().spec().d_model() > 0) {
    absl::StatusOr<ChallengeConfig> config =
        ResolveChallenge(ConfigFromProto(response.config()));
    if (!config.ok()) {
      return absl::DataLossError(
          absl::StrCat("the revealed configuration is invalid: ",
                       config.status().message()));
    }
    out.config = *std::move(config);
  } else {
    ATTN_ASSIGN_OR_RETURN(ChallengeInfo info, Describe(challenge_id));
    out.config.id = info.id;
    out.config.title = info.title;
    out.config.description = info.description;
    out.config.spec = info.spec;
    out.config.policy = info.policy;
    out.config.scoring = info.scoring;
    out.config.per_learner_secrets = info.per_learner_secrets;
    out.config.prior.seed = response.prior_seed();
  }
  absl::StatusOr<LayerParams> secret =
      ParamsFromProto(response.secret(), out.config.spec);
  if (!secret.ok()) {
    return absl::DataLossError(
        absl::StrCat("the revealed secret does not fit the challenge: ",
                     secret.status().message()));
  }
  out.secret = *std::move(secret);
  out.nonce = response.nonce();
  out.prior_seed = response.prior_seed();
  out.noise_seed = response.noise_seed();
  out.commitment = response.commitment();
  return out;
}

}  // namespace attnoracle
