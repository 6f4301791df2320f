#include "server/core/oracle_core.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/request_check.h"
#include "common/status_macros.h"

namespace attnoracle {

OracleCore::OracleCore(const ChallengeRegistry* registry, Ledger* ledger)
    : registry_(registry), ledger_(ledger) {}

std::vector<ChallengeInfo> OracleCore::ListChallenges() const {
  std::vector<ChallengeInfo> out;
  for (const auto& c : registry_->List()) out.push_back(c->Info());
  return out;
}

absl::StatusOr<ChallengeInfo> OracleCore::DescribeChallenge(
    const std::string& id) const {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(id));
  return challenge->Info();
}

absl::StatusOr<QueryResult> OracleCore::Query(
    const std::string& learner, const std::string& challenge_id,
    std::span<const ConstMatrixMap> sequences,
    const OutputAllocator& allocate_output) {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  const ChallengeConfig& config = challenge->config;
  if (challenge->phase != Phase::kOpen) {
    return absl::FailedPreconditionError(
        absl::StrCat("challenge \"", challenge_id, "\" is ",
                     PhaseName(challenge->phase), ", not open for queries"));
  }
  uint64_t tokens = 0;
  ATTN_RETURN_IF_ERROR(ValidateSequences(
      config.id, config.spec, config.policy.limits, sequences, &tokens));
  ATTN_ASSIGN_OR_RETURN(
      ChargeReceipt charge,
      ledger_->Charge(LedgerKey{challenge_id, learner}, config.policy.budget,
                      sequences.size(), tokens));
  for (size_t i = 0; i < sequences.size(); ++i) {
    const int rows =
        OutputRows(config.spec, static_cast<int>(sequences[i].rows()));
    MatrixMap out = allocate_output(i, rows, config.spec.out_dim);
    ForwardInto(config.spec, challenge->secret, sequences[i], out);
    DegradeAnswer(config.policy, challenge->noise_seed,
                  charge.first_query_index + i, out);
  }
  return QueryResult{charge.usage, charge.first_query_index};
}

absl::StatusOr<Usage> OracleCore::GetUsage(
    const std::string& learner, const std::string& challenge_id) const {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  return ledger_->GetUsage(LedgerKey{challenge_id, learner},
                           challenge->config.policy.budget);
}

std::shared_ptr<const Scorer> OracleCore::ScorerFor(
    const std::shared_ptr<const Challenge>& challenge) {
  absl::MutexLock lock(&scorers_mu_);
  std::shared_ptr<const Scorer>& scorer = scorers_[challenge->config.id];
  // A scorer built for an earlier challenge object of the same id is stale.
  if (scorer == nullptr || scorer->challenge() != challenge) {
    scorer = std::make_shared<const Scorer>(challenge);
  }
  return scorer;
}

absl::StatusOr<SubmitResult> OracleCore::Submit(const std::string& learner,
                                                const std::string& challenge_id,
                                                const LayerParams& hypothesis) {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  const ChallengeConfig& config = challenge->config;
  if (challenge->phase != Phase::kOpen) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", challenge_id, "\" is ", PhaseName(challenge->phase),
        ", not open for submissions"));
  }
  if (absl::Status s = CheckParams(config.spec, hypothesis); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("hypothesis: ", s.message()));
  }
  ATTN_ASSIGN_OR_RETURN(Usage usage,
                        ledger_->GetUsage(LedgerKey{challenge_id, learner},
                                          config.policy.budget));
  const std::shared_ptr<const Scorer> scorer = ScorerFor(challenge);
  SubmitResult result;
  result.score = scorer->ScoreHypothesis(hypothesis, usage);
  result.submission_id = next_submission_id_.fetch_add(1);
  return result;
}

}  // namespace attnoracle
