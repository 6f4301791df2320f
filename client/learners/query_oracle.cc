#include "client/learners/query_oracle.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/examples.h"
#include "common/request_check.h"
#include "common/retry_hint.h"
#include "common/status_macros.h"

namespace attnoracle {

absl::StatusOr<std::vector<Matrix>> QueryInBatches(
    QueryOracle& oracle, std::span<const Matrix> sequences) {
  const Limits& limits = oracle.info().policy.limits;
  std::vector<Matrix> out;
  out.reserve(sequences.size());
  size_t begin = 0;
  while (begin < sequences.size()) {
    size_t end = begin;
    int64_t tokens = 0;
    while (end < sequences.size() &&
           end - begin <
               static_cast<size_t>(limits.max_sequences_per_request) &&
           (end == begin ||
            tokens + sequences[end].rows() <= limits.max_tokens_per_request)) {
      tokens += sequences[end].rows();
      ++end;
    }
    ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> answers,
                          oracle.Query(sequences.subspan(begin, end - begin)));
    for (Matrix& y : answers) out.push_back(std::move(y));
    begin = end;
  }
  return out;
}

absl::StatusOr<Examples> QueryOracle::Sample(int /*count*/) {
  return absl::FailedPreconditionError("this oracle offers no random examples");
}

absl::StatusOr<Examples> SampleInBatches(QueryOracle& oracle, uint64_t count) {
  const AccessPolicy& policy = oracle.info().policy;
  const uint64_t per_request = std::max<uint64_t>(
      1, std::min<uint64_t>(
             static_cast<uint64_t>(policy.limits.max_sequences_per_request),
             static_cast<uint64_t>(policy.limits.max_tokens_per_request) /
                 static_cast<uint64_t>(std::max(1, policy.examples.tokens))));
  Examples out;
  while (count > 0) {
    const uint64_t n = std::min(count, per_request);
    ATTN_ASSIGN_OR_RETURN(Examples batch, oracle.Sample(static_cast<int>(n)));
    for (Matrix& x : batch.inputs) out.inputs.push_back(std::move(x));
    for (Matrix& y : batch.outputs) out.outputs.push_back(std::move(y));
    count -= n;
  }
  return out;
}

RemoteOracle::RemoteOracle(OracleClient* client, std::string challenge_id)
    : client_(client), challenge_id_(std::move(challenge_id)) {}

absl::Status RemoteOracle::Init() {
  ATTN_ASSIGN_OR_RETURN(info_, client_->Describe(challenge_id_));
  ATTN_ASSIGN_OR_RETURN(usage_, client_->GetUsage(challenge_id_));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Matrix>> RemoteOracle::Query(
    std::span<const Matrix> sequences) {
  absl::Duration waited;
  while (true) {
    absl::StatusOr<QueryAnswer> answer =
        client_->Query(challenge_id_, sequences);
    if (answer.ok()) {
      usage_ = answer->usage;
      return std::move(answer->outputs);
    }
    const std::optional<absl::Duration> wait = RetryAfter(answer.status());
    if (!wait || waited + *wait > kMaxRateLimitWait) return answer.status();
    absl::SleepFor(*wait);
    waited += *wait;
  }
}

absl::StatusOr<Examples> RemoteOracle::Sample(int count) {
  absl::Duration waited;
  while (true) {
    absl::StatusOr<SampleAnswer> answer =
        client_->Sample(challenge_id_, static_cast<uint32_t>(count));
    if (answer.ok()) {
      usage_ = answer->usage;
      return Examples{std::move(answer->inputs), std::move(answer->outputs)};
    }
    const std::optional<absl::Duration> wait = RetryAfter(answer.status());
    if (!wait || waited + *wait > kMaxRateLimitWait) return answer.status();
    absl::SleepFor(*wait);
    waited += *wait;
  }
}

LocalOracle::LocalOracle(ChallengeInfo info, LayerParams secret,
                         uint64_t noise_seed)
    : info_(std::move(info)),
      secret_(std::move(secret)),
      noise_seed_(noise_seed) {}

absl::StatusOr<std::vector<Matrix>> LocalOracle::Query(
    std::span<const Matrix> sequences) {
  const LayerSpec& spec = info_.spec;
  if (!AllowsQueries(info_.policy)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", info_.id,
        "\" answers random examples only (policy.access ACCESS_EXAMPLES): "
        "it takes no chosen queries; use Sample"));
  }
  std::vector<ConstMatrixMap> views;
  views.reserve(sequences.size());
  for (const Matrix& x : sequences)
    views.emplace_back(x.data(), x.rows(), x.cols());
  uint64_t tokens = 0;
  ATTN_RETURN_IF_ERROR(
      ValidateSequences(info_.id, spec, info_.policy.limits, views, &tokens));
  const Usage before = usage();
  if (sequences.size() > before.queries_left || tokens > before.tokens_left) {
    return absl::ResourceExhaustedError(
        absl::StrCat("budget exhausted: the request needs ", sequences.size(),
                     " queries and ", tokens, " tokens; ", before.queries_left,
                     " queries and ", before.tokens_left, " tokens are left"));
  }
  std::vector<Matrix> out;
  out.reserve(sequences.size());
  for (const Matrix& x : sequences) {
    out.push_back(
        AnswerTo(spec, secret_, info_.policy, noise_seed_, queries_used_++, x));
  }
  tokens_used_ += tokens;
  ++requests_;
  return out;
}

absl::StatusOr<Examples> LocalOracle::Sample(int count) {
  const AccessPolicy& policy = info_.policy;
  if (!AllowsExamples(policy)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", info_.id,
        "\" answers queries only (policy.access ACCESS_QUERIES): it offers "
        "no random examples; use Query"));
  }
  const uint64_t tokens = static_cast<uint64_t>(count) * policy.examples.tokens;
  if (count < 1 || count > policy.limits.max_sequences_per_request ||
      tokens > static_cast<uint64_t>(policy.limits.max_tokens_per_request)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "count = ", count, " must be 1 to the per-request limits"));
  }
  const Usage before = usage();
  if (static_cast<uint64_t>(count) > before.queries_left ||
      tokens > before.tokens_left) {
    return absl::ResourceExhaustedError(
        absl::StrCat("budget exhausted: the sample needs ", count,
                     " queries and ", tokens, " tokens; ", before.queries_left,
                     " queries and ", before.tokens_left, " tokens are left"));
  }
  Examples out;
  for (int i = 0; i < count; ++i) {
    const uint64_t index = queries_used_++;
    out.inputs.push_back(
        DrawExample(policy.examples, info_.spec.d_model, noise_seed_, index));
    out.outputs.push_back(AnswerTo(info_.spec, secret_, policy, noise_seed_,
                                   index, out.inputs.back()));
  }
  tokens_used_ += tokens;
  ++requests_;
  return out;
}

Usage LocalOracle::usage() const {
  const Budget& b = info_.policy.budget;
  return Usage{queries_used_, tokens_used_,
               b.queries > queries_used_ ? b.queries - queries_used_ : 0,
               b.tokens > tokens_used_ ? b.tokens - tokens_used_ : 0};
}

}  // namespace attnoracle
