#include "common/challenge_config.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "attnoracle/v1/types.pb.h"
#include "common/codec.h"
#include "common/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/text_format.h"

namespace attnoracle {
namespace {

constexpr size_t kMaxIdLength = 64;

// Keeps the first parse error with its position.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error_.empty()) {
      // Lines and columns arrive zero-based.
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::Status Prefix(const std::string& id, const absl::Status& s) {
  return absl::Status(s.code(),
                      absl::StrCat("challenge \"", id, "\": ", s.message()));
}

}  // namespace

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxIdLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<ChallengeConfig> ResolveChallenge(const ChallengeConfig& raw) {
  if (!ValidName(raw.id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("challenge id \"", raw.id, "\" must be 1 to ",
                     kMaxIdLength, " characters of [a-z0-9._-]"));
  }
  ChallengeConfig c = raw;
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw.spec);
  if (!spec.ok()) return Prefix(raw.id, spec.status());
  c.spec = *spec;
  absl::StatusOr<AccessPolicy> policy = ResolvePolicy(raw.policy);
  if (!policy.ok()) return Prefix(raw.id, policy.status());
  c.policy = *policy;
  if (c.policy.answers == Answers::kTopK &&
      c.policy.top_k > OutputDim(c.spec)) {
    return Prefix(
        raw.id, absl::InvalidArgumentError(absl::StrCat(
                    "policy.top_k = ", c.policy.top_k, " is over ",
                    c.spec.has_ffn ? "spec.ffn.out_dim = " : "spec.out_dim = ",
                    OutputDim(c.spec), " (the entries of a returned row)")));
  }
  // Sign answers do not identify the output's scale, so scoring compares
  // both layers scaled to unit output norm (server/core/scorer.h), by
  // dividing the last attention layer's wo and bo. A residual or an FFN
  // block puts a part of the output beyond that division.
  if (c.policy.answers == Answers::kSign &&
      (c.spec.residual || c.spec.has_ffn)) {
    return Prefix(raw.id,
                  absl::InvalidArgumentError(absl::StrCat(
                      "policy.answers = ANSWERS_SIGN is not offered with ",
                      c.spec.residual ? "spec.residual" : "spec.ffn",
                      ": the scoring rescales the output through the last "
                      "attention layer's wo and bo, which does not reach it")));
  }
  if (!std::isfinite(c.prior.scale) || c.prior.scale < 0) {
    return Prefix(raw.id, absl::InvalidArgumentError(
                              "prior.scale must be finite and >= 0"));
  }
  if (c.prior.scale == 0) c.prior.scale = 1.0 / std::sqrt(c.spec.d_model);
  if (c.scoring.max_submissions < 0) {
    return Prefix(raw.id, absl::InvalidArgumentError(
                              "scoring.max_submissions must be >= 0"));
  }
  if (!std::isfinite(c.scoring.pass_threshold) ||
      c.scoring.pass_threshold < 0) {
    return Prefix(raw.id,
                  absl::InvalidArgumentError(
                      "scoring.pass_threshold must be finite and >= 0"));
  }
  if (c.scoring.pass_threshold == 0) {
    c.scoring.pass_threshold = kDefaultPassThreshold;
  }
  // Proto3 strings must be UTF-8: the text parser does not check, but every
  // client parsing a ChallengeInfo would fail on the whole message.
  for (const auto& [name, text] : {std::pair{"title", &c.title},
                                   std::pair{"description", &c.description}}) {
    if (!google::protobuf::internal::IsStructurallyValidUTF8(
            text->data(), static_cast<int>(text->size()))) {
      return Prefix(raw.id, absl::InvalidArgumentError(
                                absl::StrCat(name, " is not valid UTF-8")));
    }
  }
  if (c.title.empty()) c.title = c.id;
  return c;
}

absl::StatusOr<std::vector<ChallengeConfig>> ParseChallengeSet(
    absl::string_view text, absl::string_view source_name) {
  pb::ChallengeSet set;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &set)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name, ": not a valid ChallengeSet: ", errors.error()));
  }
  if (set.challenge_size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": defines no challenge"));
  }
  std::vector<ChallengeConfig> out;
  std::set<std::string> ids;
  for (const pb::ChallengeConfig& p : set.challenge()) {
    absl::StatusOr<ChallengeConfig> c = ResolveChallenge(ConfigFromProto(p));
    if (!c.ok()) {
      return absl::Status(
          c.status().code(),
          absl::StrCat(source_name, ": ", c.status().message()));
    }
    if (!ids.insert(c->id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_name, ": challenge id \"", c->id, "\" is defined twice"));
    }
    out.push_back(*std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<ChallengeConfig>> LoadChallengeSet(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read challenge config \"", path, "\""));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseChallengeSet(text.str(), path);
}

std::string ChallengeConfigToText(const ChallengeConfig& config) {
  pb::ChallengeConfig proto;
  ConfigToProto(config, &proto);
  std::string text;
  google::protobuf::TextFormat::PrintToString(proto, &text);
  return text;
}

absl::StatusOr<ChallengeConfig> ParseChallengeConfig(absl::string_view text) {
  pb::ChallengeConfig proto;
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid ChallengeConfig: ", errors.error()));
  }
  return ResolveChallenge(ConfigFromProto(proto));
}

absl::Status WrongPhaseError(absl::string_view challenge_id, Phase current,
                             Phase needed, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("challenge \"", challenge_id, "\" is ", PhaseName(current),
                   "; ", what, " needs it ", PhaseName(needed)));
}

const char* FeedbackName(Feedback feedback) {
  switch (feedback) {
    case Feedback::kFull:
      return "full";
    case Feedback::kRounded:
      return "rounded";
    case Feedback::kPassFail:
      return "pass_fail";
  }
  return "full";
}

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kOpen:
      return "open";
    case Phase::kClosed:
      return "closed";
    case Phase::kRevealed:
      return "revealed";
  }
  return "open";
}

}  // namespace attnoracle
