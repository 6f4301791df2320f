#include "server/http/public_view.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/hashing.h"
#include "common/message_quote.h"
#include "common/status_macros.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

// The public page is a learner with no name: it sees what every learner
// sees (feedback applied) and the shared secret's commitment.
const Principal& PublicViewer() {
  static const Principal* const viewer = new Principal{"", Role::kLearner};
  return *viewer;
}

nlohmann::ordered_json MatrixJson(const Matrix& m) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    std::vector<double> row(static_cast<size_t>(m.cols()));
    for (Eigen::Index j = 0; j < m.cols(); ++j) row[j] = m(i, j);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<double> VectorJson(const Vector& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

// The score as the feedback setting shows it: a pass/fail challenge has no
// error fields at all (ApplyFeedback zeroes them; a zero would read as a
// perfect score).
// "headline" names the field the leaderboard ranks by (sign_disagreement
// on challenges answering signs, functional_rel_err otherwise).
nlohmann::ordered_json ScoreJson(const Score& s, Headline headline) {
  nlohmann::ordered_json j = {{"feedback", FeedbackName(s.feedback)},
                              {"passed", s.passed},
                              {"headline", HeadlineName(headline)}};
  if (s.feedback != Feedback::kPassFail) {
    if (headline == Headline::kSignDisagreement) {
      j["sign_disagreement"] = s.sign_disagreement;
    }
    j["functional_rel_err"] = s.functional_rel_err;
    j["max_abs_err"] = s.max_abs_err;
    j["bits"] = s.bits;
    // An error the class does not identify is null (parameter_note says
    // why), as in the client's --json.
    const auto param = [](bool omitted, double v) {
      return omitted ? nlohmann::ordered_json(nullptr)
                     : nlohmann::ordered_json(v);
    };
    j["theta_rel_err"] = param(s.theta_omitted, s.theta_rel_err);
    j["omega_rel_err"] = param(s.omega_omitted, s.omega_rel_err);
    j["ffn_rel_err"] = param(s.ffn_omitted, s.ffn_rel_err);
    if (!s.parameter_note.empty()) j["parameter_note"] = s.parameter_note;
  }
  j["queries_used"] = s.queries_used;
  j["tokens_used"] = s.tokens_used;
  j["queries_to_bound"] = s.queries_to_bound;
  j["tokens_to_bound"] = s.tokens_to_bound;
  return j;
}

std::string UtcTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

nlohmann::ordered_json SpecJson(const LayerSpec& s) {
  return {{"d_model", s.d_model},
          {"heads", s.heads},
          {"head_dim", s.head_dim},
          {"value_dim", s.value_dim},
          {"out_dim", s.out_dim},
          {"mask", MaskName(s.mask)},
          {"readout", ReadoutName(s.readout)},
          {"score_scale", s.score_scale},
          {"biases", s.biases}};
}

nlohmann::ordered_json PolicyJson(const AccessPolicy& p) {
  return {
      {"precision", PrecisionName(p.precision)},
      {"noise_sigma", p.noise_sigma},
      {"budget", {{"queries", p.budget.queries}, {"tokens", p.budget.tokens}}},
      {"limits",
       {{"max_abs_input", p.limits.max_abs_input},
        {"max_tokens_per_sequence", p.limits.max_tokens_per_sequence},
        {"max_sequences_per_request", p.limits.max_sequences_per_request},
        {"max_tokens_per_request", p.limits.max_tokens_per_request}}}};
}

}  // namespace

absl::Status CheckChallengeId(const std::string& id) {
  if (ValidName(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("challenge id ", QuoteForMessage(id),
                   " must be 1 to 64 characters of [a-z0-9._-]"));
}

absl::StatusOr<nlohmann::ordered_json> PublicView::Rows(
    const ChallengeInfo& info) const {
  const std::string& id = info.id;
  const Headline headline = HeadlineOf(info.policy);
  ATTN_ASSIGN_OR_RETURN(const std::vector<LeaderboardRow> rows,
                        core_->GetLeaderboard(PublicViewer(), id));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const LeaderboardRow& row : rows) {
    out.push_back({{"rank", row.rank},
                   {"learner", row.learner},
                   {"score", ScoreJson(row.score, headline)},
                   {"submission_id", row.submission_id},
                   {"submissions", row.submissions},
                   {"submitted_unix_ms", row.submitted_ms},
                   {"submitted", UtcTime(row.submitted_ms)}});
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> PublicView::Describe(
    const ChallengeInfo& info) const {
  nlohmann::ordered_json j = {
      {"id", info.id},
      {"title", info.title},
      {"description", info.description},
      {"phase", PhaseName(info.phase)},
      {"spec", SpecJson(info.spec)},
      {"policy", PolicyJson(info.policy)},
      {"commitment", HexEncode(info.commitment)},
      {"scoring",
       {{"max_submissions", info.scoring.max_submissions},
        {"feedback", FeedbackName(info.scoring.feedback)},
        {"pass_threshold", info.scoring.pass_threshold}}},
      {"per_learner_secrets", info.per_learner_secrets}};
  ATTN_ASSIGN_OR_RETURN(j["leaderboard"], Rows(info));
  if (info.phase == Phase::kRevealed) {
    ATTN_ASSIGN_OR_RETURN(const attnoracle::Reveal reveal,
                          core_->GetReveal(PublicViewer(), info.id, ""));
    j["reveal"] = {
        {"commitment_opens",
         Commitment(reveal.secret, reveal.nonce) == reveal.commitment},
        {"export", absl::StrCat("/api/challenges/", info.id, "/reveal")}};
  }
  return j;
}

nlohmann::ordered_json PublicView::Challenges() const {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChallengeInfo& info : core_->ListChallenges(PublicViewer())) {
    absl::StatusOr<nlohmann::ordered_json> one = Describe(info);
    // A challenge whose leaderboard cannot be read (the store failed) is
    // listed with the error instead of hiding the others.
    if (!one.ok()) {
      list.push_back({{"id", info.id},
                      {"title", info.title},
                      {"error", std::string(one.status().message())}});
      continue;
    }
    list.push_back(*std::move(one));
  }
  return {{"challenges", std::move(list)}};
}

absl::StatusOr<nlohmann::ordered_json> PublicView::Challenge(
    const std::string& id) const {
  ATTN_RETURN_IF_ERROR(CheckChallengeId(id));
  ATTN_ASSIGN_OR_RETURN(const ChallengeInfo info,
                        core_->DescribeChallenge(PublicViewer(), id));
  return Describe(info);
}

absl::StatusOr<nlohmann::ordered_json> PublicView::Leaderboard(
    const std::string& id) const {
  ATTN_RETURN_IF_ERROR(CheckChallengeId(id));
  ATTN_ASSIGN_OR_RETURN(const ChallengeInfo info,
                        core_->DescribeChallenge(PublicViewer(), id));
  nlohmann::ordered_json j = {
      {"challenge", id},
      {"phase", PhaseName(info.phase)},
      {"feedback", FeedbackName(info.scoring.feedback)}};
  ATTN_ASSIGN_OR_RETURN(j["leaderboard"], Rows(info));
  return j;
}

absl::StatusOr<nlohmann::ordered_json> PublicView::Reveal(
    const std::string& id) const {
  ATTN_RETURN_IF_ERROR(CheckChallengeId(id));
  ATTN_ASSIGN_OR_RETURN(const attnoracle::Reveal reveal,
                        core_->GetReveal(PublicViewer(), id, ""));
  nlohmann::ordered_json heads = nlohmann::ordered_json::array();
  for (const HeadParams& h : reveal.secret.heads) {
    nlohmann::ordered_json head = {{"wq", MatrixJson(h.wq)},
                                   {"wk", MatrixJson(h.wk)},
                                   {"wv", MatrixJson(h.wv)},
                                   {"wo", MatrixJson(h.wo)}};
    if (h.bq.size() > 0) head["bq"] = VectorJson(h.bq);
    if (h.bk.size() > 0) head["bk"] = VectorJson(h.bk);
    if (h.bv.size() > 0) head["bv"] = VectorJson(h.bv);
    heads.push_back(std::move(head));
  }
  nlohmann::ordered_json j = {{"challenge", id}, {"heads", std::move(heads)}};
  if (reveal.secret.bo.size() > 0) j["bo"] = VectorJson(reveal.secret.bo);
  j["nonce"] = HexEncode(reveal.nonce);
  j["prior_seed"] = reveal.config.prior.seed;
  j["noise_seed"] = reveal.noise_seed;
  j["commitment"] = HexEncode(reveal.commitment);
  j["commitment_opens"] =
      Commitment(reveal.secret, reveal.nonce) == reveal.commitment;
  return j;
}

}  // namespace attnoracle
