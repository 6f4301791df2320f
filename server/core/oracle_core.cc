#include "server/core/oracle_core.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/access_policy.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/examples.h"
#include "common/layer_comparison.h"
#include "common/request_check.h"
#include "common/status_macros.h"
#include "common/transcript.h"
#include "server/core/clock.h"
#include "server/core/handover.h"

namespace attnoracle {
namespace {

constexpr int kRoundedSignificantDigits = 2;

absl::Status RequireAdmin(const Principal& caller, absl::string_view what) {
  if (caller.is_admin()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      what,
      " needs the admin token (a server in open mode has none: start "
      "it with --admin-token-file)"));
}

absl::Status RequireLearner(const Principal& caller, absl::string_view what) {
  if (!caller.is_admin()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(what,
                   " needs a learner token; the admin token only reads "
                   "public state (register a learner to take part)"));
}

absl::Status RequirePhase(const Challenge& challenge, Phase phase,
                          absl::string_view what) {
  if (challenge.phase() == phase) return absl::OkStatus();
  return WrongPhaseError(challenge.id(), challenge.phase(), phase, what);
}

double RoundSignificant(double x, int digits) {
  if (x == 0 || !std::isfinite(x)) return x;
  const double scale =
      std::pow(10.0, digits - 1 - std::floor(std::log10(std::fabs(x))));
  return std::round(x * scale) / scale;
}

// The store keeps the metrics, not the verdict: it is derived from the
// challenge's threshold wherever a score is shown. Sign answers are judged
// by the sign disagreement, their headline score.
// A charge's commit in the metrics (when counted): answered once durable,
// else refused with the store's code. Queries and samples alike.
void CountCommit(ServerMetrics* metrics, const std::string& challenge_id,
                 const std::string& learner, uint64_t queries, uint64_t tokens,
                 const absl::Status& committed) {
  if (metrics == nullptr) return;
  if (committed.ok()) {
    metrics->CountAnswered(challenge_id, learner, queries, tokens);
  } else {
    metrics->CountRefused(challenge_id, learner,
                          absl::StatusCodeToString(committed.code()));
  }
}

bool Passed(const Score& score, const ChallengeConfig& config) {
  return HeadlineValue(score, HeadlineOf(config.policy)) <=
         config.scoring.pass_threshold;
}

}  // namespace

Score ApplyFeedback(const Score& full, const Scoring& scoring) {
  Score s = full;
  s.feedback = scoring.feedback;
  switch (scoring.feedback) {
    case Feedback::kFull:
      break;
    case Feedback::kRounded:
      for (double* v :
           {&s.functional_rel_err, &s.max_abs_err, &s.theta_rel_err,
            &s.omega_rel_err, &s.sign_disagreement, &s.ffn_rel_err}) {
        *v = RoundSignificant(*v, kRoundedSignificantDigits);
      }
      s.bits = std::round(s.bits);
      break;
    case Feedback::kPassFail:
      s.functional_rel_err = s.max_abs_err = s.bits = 0;
      s.theta_rel_err = s.omega_rel_err = s.sign_disagreement = 0;
      s.ffn_rel_err = 0;
      break;
  }
  return s;
}

absl::Status CheckHypothesisWidths(const LayerSpec& spec,
                                   const LayerParams& hypothesis) {
  const int max_key = std::max(spec.d_model, spec.head_dim);
  const int max_value = std::max(spec.d_model, spec.value_dim);
  for (size_t h = 0; h < hypothesis.heads.size(); ++h) {
    const HeadParams& head = hypothesis.heads[h];
    const auto refuse = [&](absl::string_view field, Eigen::Index width,
                            int max, absl::string_view product) {
      return absl::InvalidArgumentError(
          absl::StrCat("hypothesis: heads[", h, "].", field, " has width ",
                       width, "; at most ", max, " (d_model = ", spec.d_model,
                       ") is allowed: ", product,
                       " has rank at most d_model, so wider "
                       "factors gain nothing"));
    };
    if (head.wq.cols() > max_key) {
      return refuse("wq (columns)", head.wq.cols(), max_key, "theta = wq wk^T");
    }
    if (head.wv.cols() > max_value) {
      return refuse("wv (columns)", head.wv.cols(), max_value, "omega = wv wo");
    }
  }
  return absl::OkStatus();
}

OracleCore::OracleCore(ChallengeRegistry* registry, Ledger* ledger,
                       Authenticator* authenticator, Store* store,
                       const RateLimiterOptions& rate_limits,
                       const ScoringOptions& scoring,
                       const ForwardOptions& forward)
    : registry_(registry),
      ledger_(ledger),
      authenticator_(authenticator),
      store_(store),
      limiter_(rate_limits),
      submissions_(store),
      scoring_pool_(
          {.threads = scoring.threads, .max_queued = scoring.max_queued}),
      forward_pool_(forward.threads - 1) {}

absl::StatusOr<StreamSlot> OracleCore::OpenStream(const Principal& caller) {
  return limiter_.OpenStream(caller.name);
}

std::vector<ChallengeInfo> OracleCore::ListChallenges(
    const Principal& caller) const {
  std::vector<ChallengeInfo> out;
  for (const auto& c : registry_->List())
    out.push_back(c->InfoFor(caller.name));
  return out;
}

absl::StatusOr<ChallengeInfo> OracleCore::DescribeChallenge(
    const Principal& caller, const std::string& id) const {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(id));
  return challenge->InfoFor(caller.name);
}

absl::StatusOr<QueryResult> OracleCore::Query(
    const Principal& caller, const std::string& challenge_id,
    std::span<const ConstMatrixMap> sequences,
    const OutputAllocator& allocate_output) {
  Handover<absl::StatusOr<QueryResult>> answered;
  QueryAsync(caller, challenge_id, sequences, allocate_output,
             answered.Callback());
  return answered.Wait();
}

void OracleCore::QueryAsync(const Principal& caller,
                            const std::string& challenge_id,
                            std::span<const ConstMatrixMap> sequences,
                            const OutputAllocator& allocate_output,
                            QueryCallback done) {
  absl::StatusOr<Answered> answered =
      Answer(caller, challenge_id, sequences, allocate_output);
  if (!answered.ok()) {
    CountRefused(caller, challenge_id, answered.status());
    done(answered.status());
    return;
  }
  const Answers answers = answered->challenge->config().policy.answers;
  const uint64_t queries = sequences.size();
  const uint64_t tokens = answered->tokens;
  // Outside the phase lock: the ledger may call back on this thread, and
  // the callback may start the stream's next query.
  ledger_->CommitAsync(
      answered->key, answered->reservation.first_query_index,
      std::move(answered->request), std::move(answered->response),
      [metrics = metrics_, challenge = std::move(answered->challenge),
       learner = caller.name, queries, tokens,
       reservation = answered->reservation, answers,
       done = std::move(done)](absl::StatusOr<CommitReceipt> receipt) {
        challenge->EndAnswer();
        CountCommit(metrics, challenge->id(), learner, queries, tokens,
                    receipt.status());
        if (!receipt.ok()) {
          done(receipt.status());
          return;
        }
        done(QueryResult{reservation.usage, reservation.first_query_index,
                         std::move(receipt->chain_head), answers});
      });
}

absl::StatusOr<SampleResult> OracleCore::Sample(const Principal& caller,
                                                const std::string& challenge_id,
                                                uint32_t count,
                                                uint32_t tokens) {
  Handover<absl::StatusOr<SampleResult>> answered;
  SampleAsync(caller, challenge_id, count, tokens, answered.Callback());
  return answered.Wait();
}

void OracleCore::SampleAsync(const Principal& caller,
                             const std::string& challenge_id, uint32_t count,
                             uint32_t tokens, SampleCallback done) {
  absl::StatusOr<Answered> answered =
      AnswerSample(caller, challenge_id, count, tokens);
  if (!answered.ok()) {
    CountRefused(caller, challenge_id, answered.status());
    done(answered.status());
    return;
  }
  const Answers answers = answered->challenge->config().policy.answers;
  const uint64_t charged_tokens = answered->tokens;
  auto result = std::make_shared<SampleResult>();
  result->inputs = std::move(answered->inputs);
  result->outputs = std::move(answered->outputs);
  result->answers = answers;
  ledger_->CommitAsync(
      answered->key, answered->reservation.first_query_index,
      std::move(answered->request), std::move(answered->response),
      [metrics = metrics_, challenge = std::move(answered->challenge),
       learner = caller.name, queries = uint64_t{count}, charged_tokens,
       reservation = answered->reservation, result = std::move(result),
       done = std::move(done)](absl::StatusOr<CommitReceipt> receipt) {
        challenge->EndAnswer();
        CountCommit(metrics, challenge->id(), learner, queries, charged_tokens,
                    receipt.status());
        if (!receipt.ok()) {
          done(receipt.status());
          return;
        }
        result->usage = reservation.usage;
        result->first_query_index = reservation.first_query_index;
        result->transcript_head = std::move(receipt->chain_head);
        done(std::move(*result));
      });
}

absl::StatusOr<OracleCore::Answered> OracleCore::AnswerSample(
    const Principal& caller, const std::string& challenge_id, uint32_t count,
    uint32_t tokens) {
  ATTN_RETURN_IF_ERROR(RequireLearner(caller, "Sample"));
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<const Challenge> challenge,
                        registry_->Find(challenge_id));
  absl::ReaderMutexLock phase_lock(&challenge->phase_mutex());
  ATTN_RETURN_IF_ERROR(RequirePhase(*challenge, Phase::kOpen, kAnswering));
  const ChallengeConfig& config = challenge->config();
  const AccessPolicy& policy = config.policy;
  if (!AllowsExamples(policy)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", config.id,
        "\" answers queries only (policy.access ACCESS_QUERIES): it offers "
        "no random examples; use Query"));
  }
  LedgerKey key{challenge_id, caller.name};
  ATTN_RETURN_IF_ERROR(limiter_.Admit(key, policy.limits, absl::Now()));
  const int per_example = policy.examples.tokens;
  if (tokens != 0 && tokens != static_cast<uint32_t>(per_example)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokens = ", tokens, ": the examples of challenge \"", config.id,
        "\" have ", per_example, " tokens (policy.examples.tokens); send 0 or ",
        per_example));
  }
  if (count == 0) {
    return absl::InvalidArgumentError(
        "count = 0: ask for at least one example");
  }
  if (count > static_cast<uint32_t>(policy.limits.max_sequences_per_request)) {
    return absl::InvalidArgumentError(
        absl::StrCat("count = ", count,
                     " is over policy.limits.max_sequences_per_request = ",
                     policy.limits.max_sequences_per_request));
  }
  const uint64_t total_tokens = uint64_t{count} * per_example;
  if (total_tokens >
      static_cast<uint64_t>(policy.limits.max_tokens_per_request)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "count = ", count, " examples of ", per_example, " tokens are ",
        total_tokens, " tokens, over policy.limits.max_tokens_per_request = ",
        policy.limits.max_tokens_per_request));
  }
  ATTN_ASSIGN_OR_RETURN(
      Reservation reservation,
      ledger_->Reserve(key, policy.budget, count, total_tokens));
  const std::shared_ptr<const Secret> secret =
      challenge->SecretFor(caller.name);
  const uint64_t noise_seed = challenge->NoiseSeedFor(caller.name);
  Answered answered{nullptr, std::move(key), reservation, "", "", {},
                    {},      total_tokens};
  answered.inputs.reserve(count);
  answered.outputs.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t index = reservation.first_query_index + i;
    answered.inputs.push_back(
        DrawExample(policy.examples, config.spec.d_model, noise_seed, index));
    answered.outputs.push_back(
        AnswerTo(config.spec, secret->params, policy, noise_seed, index,
                 answered.inputs.back(), &forward_pool_));
  }
  answered.request = EncodeSampleRequest(answered.inputs);
  answered.response = EncodeMatrices(answered.outputs);
  challenge->BeginAnswer();
  answered.challenge = std::move(challenge);
  return answered;
}

absl::StatusOr<OracleCore::Answered> OracleCore::Answer(
    const Principal& caller, const std::string& challenge_id,
    std::span<const ConstMatrixMap> sequences,
    const OutputAllocator& allocate_output) {
  ATTN_RETURN_IF_ERROR(RequireLearner(caller, "Query"));
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<const Challenge> challenge,
                        registry_->Find(challenge_id));
  // Held until the answer is counted in flight; a phase change then waits
  // until its commit is durable.
  absl::ReaderMutexLock phase_lock(&challenge->phase_mutex());
  ATTN_RETURN_IF_ERROR(RequirePhase(*challenge, Phase::kOpen, kAnswering));
  const ChallengeConfig& config = challenge->config();
  if (!AllowsQueries(config.policy)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "challenge \"", config.id,
        "\" answers random examples only (policy.access ACCESS_EXAMPLES): "
        "it takes no chosen queries; use Sample"));
  }
  LedgerKey key{challenge_id, caller.name};
  // Before validation: a flood of malformed requests is a flood too.
  ATTN_RETURN_IF_ERROR(limiter_.Admit(key, config.policy.limits, absl::Now()));
  uint64_t tokens = 0;
  ATTN_RETURN_IF_ERROR(ValidateSequences(
      config.id, config.spec, config.policy.limits, sequences, &tokens));
  ATTN_ASSIGN_OR_RETURN(
      Reservation reservation,
      ledger_->Reserve(key, config.policy.budget, sequences.size(), tokens));
  const std::shared_ptr<const Secret> secret =
      challenge->SecretFor(caller.name);
  const uint64_t noise_seed = challenge->NoiseSeedFor(caller.name);
  std::vector<ConstMatrixMap> answers;
  answers.reserve(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    const int rows =
        OutputRows(config.spec, static_cast<int>(sequences[i].rows()));
    MatrixMap out =
        allocate_output(i, rows, AnswerCols(config.spec, config.policy));
    AnswerInto(config.spec, secret->params, config.policy, noise_seed,
               reservation.first_query_index + i, sequences[i], out,
               &forward_pool_);
    answers.emplace_back(out.data(), out.rows(), out.cols());
  }
  challenge->BeginAnswer();
  return Answered{std::move(challenge),
                  std::move(key),
                  reservation,
                  EncodeMatrices(sequences),
                  EncodeMatrices(answers),
                  {},
                  {},
                  tokens};
}

absl::StatusOr<Usage> OracleCore::GetUsage(
    const Principal& caller, const std::string& challenge_id) const {
  ATTN_RETURN_IF_ERROR(RequireLearner(caller, "GetUsage"));
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  return ledger_->GetUsage(LedgerKey{challenge_id, caller.name},
                           challenge->config().policy.budget);
}

void OracleCore::CountRefused(const Principal& caller,
                              const std::string& challenge_id,
                              const absl::Status& status) const {
  if (metrics_ == nullptr) return;
  // Only hosted challenges get a label of their own: made-up ids must not
  // add series.
  const bool hosted = registry_->Find(challenge_id).ok();
  metrics_->CountRefused(hosted ? challenge_id : kOtherLabel, caller.name,
                         absl::StatusCodeToString(status.code()));
}

absl::StatusOr<SubmitResult> OracleCore::Submit(const Principal& caller,
                                                const std::string& challenge_id,
                                                const LayerParams& hypothesis) {
  Handover<absl::StatusOr<SubmitResult>> scored;
  ATTN_RETURN_IF_ERROR(
      SubmitAsync(caller, challenge_id, hypothesis, scored.Callback()));
  return scored.Wait();
}

absl::Status OracleCore::SubmitAsync(const Principal& caller,
                                     const std::string& challenge_id,
                                     LayerParams hypothesis,
                                     SubmitCallback done) {
  absl::Status queued = ScheduleSubmission(
      caller, challenge_id, std::move(hypothesis),
      [this, caller, challenge_id,
       done = std::move(done)](absl::StatusOr<SubmitResult> result) {
        if (!result.ok()) {
          CountRefused(caller, challenge_id, result.status());
        } else if (metrics_ != nullptr) {
          metrics_->CountSubmission(challenge_id, caller.name);
        }
        done(std::move(result));
      });
  if (!queued.ok()) CountRefused(caller, challenge_id, queued);
  return queued;
}

absl::Status OracleCore::ScheduleSubmission(const Principal& caller,
                                            const std::string& challenge_id,
                                            LayerParams hypothesis,
                                            SubmitCallback done) {
  ATTN_RETURN_IF_ERROR(RequireLearner(caller, "Submit"));
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<const Challenge> challenge,
                        registry_->Find(challenge_id));
  std::optional<SubmissionBook::Slot> slot;
  {
    absl::ReaderMutexLock phase_lock(&challenge->phase_mutex());
    ATTN_RETURN_IF_ERROR(RequirePhase(*challenge, Phase::kOpen, "Submit"));
    const ChallengeConfig& config = challenge->config();
    // Before validation: a flood of malformed submissions is a flood too.
    ATTN_RETURN_IF_ERROR(
        limiter_.AdmitSubmission(LedgerKey{challenge_id, caller.name},
                                 config.policy.limits, absl::Now()));
    if (absl::Status s = CheckParams(config.spec, hypothesis); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("hypothesis: ", s.message()));
    }
    ATTN_RETURN_IF_ERROR(CheckHypothesisWidths(config.spec, hypothesis));
    // The place is taken before scoring, so that racing submissions cannot
    // pass the limit together and one past it costs no scoring; the score
    // is computed with no lock held that another learner's submission or a
    // leaderboard read needs.
    const auto limit = static_cast<uint32_t>(config.scoring.max_submissions);
    ATTN_ASSIGN_OR_RETURN(
        slot, submissions_.Reserve(challenge_id, HeadlineOf(config.policy),
                                   caller.name, limit));
  }
  // Refused when the queue is full: the task, and with it the slot, is
  // dropped, which gives the place back.
  return scoring_pool_.TrySchedule(
      [this, challenge = std::move(challenge), learner = caller.name,
       hypothesis = std::move(hypothesis), slot = *std::move(slot),
       done = std::move(done)]() mutable {
        done(ScoreQueued(*challenge, learner, hypothesis, std::move(slot)));
      },
      "submission");
}

absl::StatusOr<SubmitResult> OracleCore::ScoreQueued(
    const Challenge& challenge, const std::string& learner,
    const LayerParams& hypothesis, SubmissionBook::Slot slot) {
  // The phase may have changed while the submission waited.
  absl::ReaderMutexLock phase_lock(&challenge.phase_mutex());
  ATTN_RETURN_IF_ERROR(RequirePhase(challenge, Phase::kOpen, "Submit"));
  const ChallengeConfig& config = challenge.config();
  const auto limit = static_cast<uint32_t>(config.scoring.max_submissions);
  const uint32_t earlier = slot.earlier();
  const Usage usage = ledger_->GetUsage(LedgerKey{challenge.id(), learner},
                                        config.policy.budget);
  Score score =
      challenge.SecretFor(learner)->scorer.ScoreHypothesis(hypothesis, usage);
  score.passed = Passed(score, config);
  ATTN_ASSIGN_OR_RETURN(
      SubmissionRecord stored,
      submissions_.Insert(std::move(slot), score, NowUnixMs()));
  return SubmitResult{ApplyFeedback(score, config.scoring), stored.id,
                      limit > 0 ? limit - earlier - 1 : 0};
}

absl::StatusOr<std::vector<LeaderboardRow>> OracleCore::GetLeaderboard(
    const Principal& caller, const std::string& id) const {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(id));
  const Headline headline = HeadlineOf(challenge->config().policy);
  ATTN_ASSIGN_OR_RETURN(std::vector<Standing> ranked,
                        submissions_.Standings(id, headline));
  const Scoring& scoring = challenge->config().scoring;
  // The store keeps no omitted flags: they follow from the class.
  const ParameterIdentifiability which =
      IdentifiabilityOf(challenge->config().spec);
  for (Standing& s : ranked) {
    s.best.score.passed = Passed(s.best.score, challenge->config());
    MarkOmitted(which, &s.best.score);
  }
  const bool pass_fail_view =
      !caller.is_admin() && scoring.feedback == Feedback::kPassFail;
  // Learners who may only see pass/fail are not ranked by hidden errors.
  std::sort(
      ranked.begin(), ranked.end(), [&](const Standing& x, const Standing& y) {
        const SubmissionRecord& a = x.best;
        const SubmissionRecord& b = y.best;
        if (!pass_fail_view) return BetterSubmission(a, b, headline);
        return std::tie(b.score.passed, a.score.tokens_used, a.created_ms,
                        a.id) < std::tie(a.score.passed, b.score.tokens_used,
                                         b.created_ms, b.id);
      });
  std::vector<LeaderboardRow> rows;
  rows.reserve(ranked.size());
  for (Standing& s : ranked) {
    SubmissionRecord& r = s.best;
    LeaderboardRow row;
    row.rank = static_cast<uint32_t>(rows.size() + 1);
    row.learner = std::move(r.learner);
    row.score = caller.is_admin() ? r.score : ApplyFeedback(r.score, scoring);
    row.submission_id = r.id;
    row.submitted_ms = r.created_ms;
    row.submissions = s.submissions;
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<TranscriptPage> OracleCore::GetTranscript(
    const Principal& caller, const std::string& challenge_id,
    uint64_t first_index, uint32_t max_entries) const {
  ATTN_RETURN_IF_ERROR(RequireLearner(caller, "GetTranscript"));
  ATTN_RETURN_IF_ERROR(registry_->Find(challenge_id).status());
  const uint32_t limit = max_entries == 0
                             ? kTranscriptPageEntries
                             : std::min(max_entries, kTranscriptPageEntries);
  TranscriptPage page;
  ATTN_ASSIGN_OR_RETURN(
      page.entries,
      store_->LoadTranscriptPage(challenge_id, caller.name, first_index, limit,
                                 kMaxTranscriptPageBytes, &page.total_entries));
  return page;
}

absl::StatusOr<Reveal> OracleCore::GetReveal(const Principal& caller,
                                             const std::string& challenge_id,
                                             const std::string& learner) const {
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  ATTN_RETURN_IF_ERROR(RequirePhase(*challenge, Phase::kRevealed, "GetReveal"));
  std::string whose = caller.name;
  if (!learner.empty() && learner != caller.name) {
    ATTN_RETURN_IF_ERROR(
        RequireAdmin(caller, "revealing another learner's secret"));
    whose = learner;
  }
  const std::shared_ptr<const Secret> secret = challenge->SecretFor(whose);
  return Reveal{challenge->config(), secret->params, challenge->nonce(),
                secret->commitment, challenge->NoiseSeedFor(whose)};
}

absl::StatusOr<ChallengeInfo> OracleCore::CreateChallenge(
    const Principal& caller, const ChallengeConfig& config) {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "CreateChallenge"));
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Create(config));
  return challenge->InfoFor("");
}

absl::StatusOr<ChallengeInfo> OracleCore::SetPhase(
    const Principal& caller, const std::string& challenge_id, Phase phase) {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "SetPhase"));
  ATTN_RETURN_IF_ERROR(registry_->SetPhase(challenge_id, phase));
  return DescribeChallenge(caller, challenge_id);
}

absl::StatusOr<std::string> OracleCore::RegisterLearner(
    const Principal& caller, const std::string& name) {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "RegisterLearner"));
  return authenticator_->Register(name);
}

absl::Status OracleCore::RevokeLearner(const Principal& caller,
                                       const std::string& name) {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "RevokeLearner"));
  return authenticator_->Revoke(name);
}

absl::StatusOr<Usage> OracleCore::GrantBudget(const Principal& caller,
                                              const std::string& challenge_id,
                                              const std::string& learner,
                                              uint64_t queries,
                                              uint64_t tokens) {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "GrantBudget"));
  ATTN_ASSIGN_OR_RETURN(auto challenge, registry_->Find(challenge_id));
  ATTN_RETURN_IF_ERROR(authenticator_->CheckLearner(learner));
  if (queries == 0 && tokens == 0) {
    return absl::InvalidArgumentError(
        "a grant needs queries or tokens greater than 0");
  }
  return ledger_->Grant(LedgerKey{challenge_id, learner},
                        challenge->config().policy.budget, queries, tokens);
}

absl::Status OracleCore::ExportTranscripts(
    const Principal& caller, const std::string& challenge_id,
    const std::function<bool(const TranscriptEntry&)>& sink) const {
  ATTN_RETURN_IF_ERROR(RequireAdmin(caller, "ExportTranscripts"));
  ATTN_RETURN_IF_ERROR(registry_->Find(challenge_id).status());
  ATTN_ASSIGN_OR_RETURN(std::vector<TranscriptEntry> all,
                        store_->LoadTranscript(challenge_id, ""));
  for (const TranscriptEntry& r : all) {
    if (!sink(r)) break;
  }
  return absl::OkStatus();
}

absl::Status OracleCore::RefreshShared() {
  ATTN_RETURN_IF_ERROR(registry_->Refresh());
  ATTN_RETURN_IF_ERROR(authenticator_->Refresh());
  return submissions_.Refresh();
}

}  // namespace attnoracle
