#include "client/json_codec.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace attnoracle {
namespace {

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<Matrix> SequenceFromJson(const nlohmann::ordered_json& seq,
                                        const std::string& path) {
  if (!seq.is_array() || seq.empty()) {
    return Bad(path, "must be a non-empty array of tokens");
  }
  const std::string first = absl::StrCat(path, "[0]");
  if (!seq[0].is_array() || seq[0].empty()) {
    return Bad(first, "must be a non-empty array of numbers");
  }
  const size_t width = seq[0].size();
  Matrix m(seq.size(), width);
  for (size_t t = 0; t < seq.size(); ++t) {
    const std::string at = absl::StrCat(path, "[", t, "]");
    if (!seq[t].is_array() || seq[t].size() != width) {
      return Bad(at, absl::StrCat("must be an array of ", width,
                                  " numbers, like the first token"));
    }
    for (size_t j = 0; j < width; ++j) {
      if (!seq[t][j].is_number()) {
        return Bad(absl::StrCat(at, "[", j, "]"), "is not a number");
      }
      m(t, j) = seq[t][j].get<double>();
    }
  }
  return m;
}

nlohmann::ordered_json SpecToJson(const LayerSpec& s) {
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

nlohmann::ordered_json PolicyToJson(const AccessPolicy& p) {
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

absl::StatusOr<std::vector<Matrix>> SequencesFromJson(
    const nlohmann::ordered_json& doc) {
  if (!doc.is_object() || !doc.contains("sequences")) {
    return Bad("input", "must be an object with a \"sequences\" array");
  }
  const nlohmann::ordered_json& seqs = doc["sequences"];
  if (!seqs.is_array() || seqs.empty()) {
    return Bad("sequences", "must be a non-empty array of sequences");
  }
  std::vector<Matrix> out;
  out.reserve(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    absl::StatusOr<Matrix> m =
        SequenceFromJson(seqs[i], absl::StrCat("sequences[", i, "]"));
    if (!m.ok()) return m.status();
    out.push_back(*std::move(m));
  }
  return out;
}

nlohmann::ordered_json MatrixToJson(const Matrix& m) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    rows.push_back(std::vector<double>(m.row(i).begin(), m.row(i).end()));
  }
  return rows;
}

nlohmann::ordered_json UsageToJson(const Usage& u) {
  return {{"queries_used", u.queries_used},
          {"tokens_used", u.tokens_used},
          {"queries_left", u.queries_left},
          {"tokens_left", u.tokens_left}};
}

nlohmann::ordered_json InfoToJson(const ChallengeInfo& info) {
  return {{"id", info.id},
          {"title", info.title},
          {"description", info.description},
          {"phase", PhaseName(info.phase)},
          {"spec", SpecToJson(info.spec)},
          {"policy", PolicyToJson(info.policy)}};
}

}  // namespace attnoracle
