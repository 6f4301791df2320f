#include "client/json_codec.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

absl::Status Bad(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<Matrix> SequenceFromJson(const nlohmann::ordered_json& seq,
                                        const std::string& path) {
  if (!seq.is_array() || seq.empty()) {
    return Bad(path, "must be a non-empty array of rows");
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
                                  " numbers, like the first row"));
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
  return {
      {"d_model", s.d_model},
      {"heads", s.heads},
      {"head_dim", s.head_dim},
      {"value_dim", s.value_dim},
      {"out_dim", s.out_dim},
      {"mask", MaskName(s.mask)},
      {"readout", ReadoutName(s.readout)},
      {"score_scale", s.score_scale},
      {"biases", s.biases},
      {"kv_heads", s.kv_heads},
      {"attention", AttentionName(s.attention)},
      {"layers", s.layers},
      {"residual", s.residual},
      {"tie_qk", s.tie_qk},
      {"ffn", s.has_ffn ? nlohmann::ordered_json{{"hidden", s.ffn.hidden},
                                                 {"out_dim", s.ffn.out_dim},
                                                 {"biases", s.ffn.biases},
                                                 {"residual", s.ffn.residual}}
                        : nlohmann::ordered_json(nullptr)}};
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
        {"max_tokens_per_request", p.limits.max_tokens_per_request},
        {"max_requests_per_second", p.limits.max_requests_per_second},
        {"request_burst", p.limits.request_burst}}},
      {"access", AccessName(p.access)},
      {"examples",
       AllowsExamples(p)
           ? nlohmann::ordered_json{{"inputs",
                                     InputDistributionName(p.examples.inputs)},
                                    {"tokens", p.examples.tokens},
                                    {"scale", p.examples.scale.value_or(1.0)}}
           : nlohmann::ordered_json(nullptr)},
      {"answers", AnswersName(p.answers)},
      {"top_k", p.top_k},
      {"quantize_step", p.quantize_step}};
}

absl::StatusOr<std::vector<double>> NumbersFromJson(
    const nlohmann::ordered_json& a, const std::string& path) {
  if (!a.is_array()) return Bad(path, "must be an array of numbers");
  std::vector<double> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number()) {
      return Bad(absl::StrCat(path, "[", i, "]"), "is not a number");
    }
    out.push_back(a[i].get<double>());
  }
  return out;
}

absl::Status MatrixFieldFromJson(const nlohmann::ordered_json& head,
                                 const char* key, const std::string& path,
                                 v1::Matrix* out) {
  absl::StatusOr<Matrix> m =
      SequenceFromJson(head[key], absl::StrCat(path, ".", key));
  if (!m.ok()) return m.status();
  out->set_rows(static_cast<uint32_t>(m->rows()));
  out->set_cols(static_cast<uint32_t>(m->cols()));
  out->mutable_values()->Assign(m->data(), m->data() + m->size());
  return absl::OkStatus();
}

absl::Status VectorFieldFromJson(const nlohmann::ordered_json& obj,
                                 const char* key, const std::string& path,
                                 google::protobuf::RepeatedField<double>* out) {
  if (!obj.contains(key)) return absl::OkStatus();
  absl::StatusOr<std::vector<double>> v =
      NumbersFromJson(obj[key], absl::StrCat(path, ".", key));
  if (!v.ok()) return v.status();
  out->Assign(v->begin(), v->end());
  return absl::OkStatus();
}

// A non-empty array of matrices, each a non-empty array of rows.
absl::StatusOr<std::vector<Matrix>> MatrixListFromJson(
    const nlohmann::ordered_json& list, const std::string& path) {
  if (!list.is_array() || list.empty()) {
    return Bad(path, "must be a non-empty array of matrices");
  }
  std::vector<Matrix> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    ATTN_ASSIGN_OR_RETURN(
        Matrix m, SequenceFromJson(list[i], absl::StrCat(path, "[", i, "]")));
    out.push_back(std::move(m));
  }
  return out;
}

// doc[object_key][list_key] as matrices, e.g. request.sequences.
absl::StatusOr<std::vector<Matrix>> NestedMatricesFromJson(
    const nlohmann::ordered_json& doc, const char* object_key,
    const char* list_key) {
  if (!doc.contains(object_key) || !doc[object_key].is_object() ||
      !doc[object_key].contains(list_key)) {
    return Bad(object_key, absl::StrCat("must be an object with a \"", list_key,
                                        "\" array"));
  }
  return MatrixListFromJson(doc[object_key][list_key],
                            absl::StrCat(object_key, ".", list_key));
}

nlohmann::ordered_json MatrixListToJson(const std::vector<Matrix>& list) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Matrix& m : list) out.push_back(MatrixToJson(m));
  return out;
}

absl::StatusOr<uint64_t> UnsignedFromJson(const nlohmann::ordered_json& doc,
                                          const char* key) {
  if (!doc.contains(key) || !doc[key].is_number_unsigned()) {
    return Bad(key, "must be a non-negative integer");
  }
  return doc[key].get<uint64_t>();
}

absl::StatusOr<std::string> DigestFromJson(const nlohmann::ordered_json& doc,
                                           const char* key) {
  if (!doc.contains(key) || !doc[key].is_string()) {
    return Bad(key, "must be a hex string");
  }
  absl::StatusOr<std::string> bytes = BytesFromHex(doc[key].get<std::string>());
  if (!bytes.ok()) return Bad(key, bytes.status().message());
  return bytes;
}

}  // namespace

absl::StatusOr<std::vector<Matrix>> SequencesFromJson(
    const nlohmann::ordered_json& doc) {
  if (!doc.is_object() || !doc.contains("sequences")) {
    return Bad("input", "must be an object with a \"sequences\" array");
  }
  return MatrixListFromJson(doc["sequences"], "sequences");
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

nlohmann::ordered_json ScoreToJson(const Score& s, Headline headline) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  if (s.feedback != Feedback::kPassFail) {
    doc["functional_rel_err"] = s.functional_rel_err;
    doc["max_abs_err"] = s.max_abs_err;
    doc["bits"] = s.bits;
    doc["theta_rel_err"] = s.theta_omitted
                               ? nlohmann::ordered_json(nullptr)
                               : nlohmann::ordered_json(s.theta_rel_err);
    doc["omega_rel_err"] = s.omega_omitted
                               ? nlohmann::ordered_json(nullptr)
                               : nlohmann::ordered_json(s.omega_rel_err);
    doc["ffn_rel_err"] = s.ffn_omitted ? nlohmann::ordered_json(nullptr)
                                       : nlohmann::ordered_json(s.ffn_rel_err);
    if (!s.parameter_note.empty()) doc["parameter_note"] = s.parameter_note;
  }
  doc["queries_used"] = s.queries_used;
  doc["tokens_used"] = s.tokens_used;
  doc["queries_to_bound"] = s.queries_to_bound;
  doc["tokens_to_bound"] = s.tokens_to_bound;
  doc["feedback"] = FeedbackName(s.feedback);
  doc["passed"] = s.passed;
  doc["headline"] = HeadlineName(headline);
  if (s.feedback != Feedback::kPassFail &&
      headline == Headline::kSignDisagreement) {
    doc["sign_disagreement"] = s.sign_disagreement;
  }
  return doc;
}

nlohmann::ordered_json TopKToJson(const Matrix& pairs) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (Eigen::Index r = 0; r < pairs.rows(); ++r) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (Eigen::Index i = 0; i + 1 < pairs.cols(); i += 2) {
      row.push_back({static_cast<uint64_t>(pairs(r, i)), pairs(r, i + 1)});
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::ordered_json AnswersToJson(const std::vector<Matrix>& answers,
                                     bool top_k) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Matrix& y : answers) {
    list.push_back(top_k ? TopKToJson(y) : MatrixToJson(y));
  }
  return list;
}

nlohmann::ordered_json LeaderboardEntryToJson(const LeaderboardEntry& e,
                                              Headline headline) {
  return {{"rank", e.rank},
          {"learner", e.learner},
          {"score", ScoreToJson(e.score, headline)},
          {"submission_id", e.submission_id},
          {"submitted_unix_ms", e.submitted_unix_ms},
          {"submissions", e.submissions}};
}

namespace {

// One layer's "heads" array and "bo" from `obj` (the document itself, or
// an entry of "layers" at `prefix`).
absl::Status LayerFromJson(
    const nlohmann::ordered_json& obj, const std::string& prefix,
    google::protobuf::RepeatedPtrField<v1::HeadParams>* out_heads,
    google::protobuf::RepeatedField<double>* out_bo) {
  if (!obj.is_object() || !obj.contains("heads") || !obj["heads"].is_array()) {
    return Bad(prefix.empty() ? "hypothesis" : prefix,
               "must be an object with a \"heads\" array");
  }
  const nlohmann::ordered_json& heads = obj["heads"];
  const std::string at = prefix.empty() ? "" : prefix + ".";
  for (size_t h = 0; h < heads.size(); ++h) {
    const std::string path = absl::StrCat(at, "heads[", h, "]");
    const nlohmann::ordered_json& head = heads[h];
    if (!head.is_object()) return Bad(path, "must be an object");
    v1::HeadParams* p = out_heads->Add();
    // mutable_x() marks a field present, so it is called only for keys the
    // document has: a head must give factors or products, not both.
    using MatrixField = v1::Matrix* (v1::HeadParams::*)();
    const std::pair<const char*, MatrixField> fields[] = {
        {"wq", &v1::HeadParams::mutable_wq},
        {"wk", &v1::HeadParams::mutable_wk},
        {"wv", &v1::HeadParams::mutable_wv},
        {"wo", &v1::HeadParams::mutable_wo},
        {"theta", &v1::HeadParams::mutable_theta},
        {"omega", &v1::HeadParams::mutable_omega}};
    for (const auto& [key, field] : fields) {
      if (!head.contains(key)) continue;
      ATTN_RETURN_IF_ERROR(MatrixFieldFromJson(head, key, path, (p->*field)()));
    }
    for (const auto& [key, field] :
         {std::pair{"bq", p->mutable_bq()}, std::pair{"bk", p->mutable_bk()},
          std::pair{"bv", p->mutable_bv()}}) {
      ATTN_RETURN_IF_ERROR(VectorFieldFromJson(head, key, path, field));
    }
  }
  return VectorFieldFromJson(obj, "bo", prefix.empty() ? "hypothesis" : prefix,
                             out_bo);
}

nlohmann::ordered_json LayerToJson(const std::vector<HeadParams>& heads,
                                   const Vector& bo) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const HeadParams& h : heads) {
    nlohmann::ordered_json head = {{"wq", MatrixToJson(h.wq)},
                                   {"wk", MatrixToJson(h.wk)},
                                   {"wv", MatrixToJson(h.wv)},
                                   {"wo", MatrixToJson(h.wo)}};
    for (const auto& [key, v] : {std::pair{"bq", &h.bq}, std::pair{"bk", &h.bk},
                                 std::pair{"bv", &h.bv}}) {
      if (v->size() > 0) head[key] = std::vector<double>(v->begin(), v->end());
    }
    list.push_back(std::move(head));
  }
  nlohmann::ordered_json doc = {{"heads", list}};
  if (bo.size() > 0) doc["bo"] = std::vector<double>(bo.begin(), bo.end());
  return doc;
}

}  // namespace

absl::StatusOr<v1::LayerParams> HypothesisFromJson(
    const nlohmann::ordered_json& doc) {
  v1::LayerParams out;
  if (doc.is_object() && doc.contains("layers")) {
    const nlohmann::ordered_json& layers = doc["layers"];
    if (!layers.is_array() || layers.empty()) {
      return Bad("layers", "must be a non-empty array of layers");
    }
    if (doc.contains("heads") || doc.contains("bo")) {
      return Bad("hypothesis",
                 "gives \"layers\" and a top-level \"heads\" or \"bo\": "
                 "give one form");
    }
    for (size_t l = 0; l < layers.size(); ++l) {
      v1::AttentionLayerParams* layer = out.add_layers();
      ATTN_RETURN_IF_ERROR(
          LayerFromJson(layers[l], absl::StrCat("layers[", l, "]"),
                        layer->mutable_heads(), layer->mutable_bo()));
    }
  } else {
    ATTN_RETURN_IF_ERROR(
        LayerFromJson(doc, "", out.mutable_heads(), out.mutable_bo()));
  }
  if (doc.contains("ffn")) {
    const nlohmann::ordered_json& ffn = doc["ffn"];
    if (!ffn.is_object() || !ffn.contains("w1") || !ffn.contains("w2")) {
      return Bad("ffn", "must be an object with \"w1\" and \"w2\"");
    }
    v1::FfnParams* f = out.mutable_ffn();
    ATTN_RETURN_IF_ERROR(
        MatrixFieldFromJson(ffn, "w1", "ffn", f->mutable_w1()));
    ATTN_RETURN_IF_ERROR(
        MatrixFieldFromJson(ffn, "w2", "ffn", f->mutable_w2()));
    ATTN_RETURN_IF_ERROR(
        VectorFieldFromJson(ffn, "b1", "ffn", f->mutable_b1()));
    ATTN_RETURN_IF_ERROR(
        VectorFieldFromJson(ffn, "b2", "ffn", f->mutable_b2()));
  }
  return out;
}

nlohmann::ordered_json HypothesisToJson(const LayerParams& params) {
  nlohmann::ordered_json doc;
  if (params.lower_layers.empty()) {
    doc = LayerToJson(params.heads, params.bo);
  } else {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const AttentionLayerParams& l : params.lower_layers) {
      layers.push_back(LayerToJson(l.heads, l.bo));
    }
    layers.push_back(LayerToJson(params.heads, params.bo));
    doc = {{"layers", layers}};
  }
  if (params.ffn.w1.size() > 0) {
    const FfnParams& f = params.ffn;
    nlohmann::ordered_json ffn = {{"w1", MatrixToJson(f.w1)}};
    if (f.b1.size() > 0)
      ffn["b1"] = std::vector<double>(f.b1.begin(), f.b1.end());
    ffn["w2"] = MatrixToJson(f.w2);
    if (f.b2.size() > 0)
      ffn["b2"] = std::vector<double>(f.b2.begin(), f.b2.end());
    doc["ffn"] = std::move(ffn);
  }
  return doc;
}

nlohmann::ordered_json InfoToJson(const ChallengeInfo& info) {
  return {{"id", info.id},
          {"title", info.title},
          {"description", info.description},
          {"phase", PhaseName(info.phase)},
          {"spec", SpecToJson(info.spec)},
          {"policy", PolicyToJson(info.policy)},
          {"commitment", HexEncode(info.commitment)},
          {"scoring",
           {{"max_submissions", info.scoring.max_submissions},
            {"feedback", FeedbackName(info.scoring.feedback)},
            {"pass_threshold", info.scoring.pass_threshold}}},
          {"per_learner_secrets", info.per_learner_secrets}};
}

absl::StatusOr<nlohmann::ordered_json> TranscriptEntryToJson(
    const TranscriptEntry& e) {
  absl::StatusOr<DecodedRequest> request = DecodeRequest(e.request);
  if (!request.ok()) return Bad("request", request.status().message());
  absl::StatusOr<std::vector<Matrix>> outputs = DecodeMatrices(e.response);
  if (!outputs.ok()) return Bad("response", outputs.status().message());
  return nlohmann::ordered_json{
      {"learner", e.learner},
      {"index", e.index},
      {"first_query_index", e.first_query_index},
      {"request",
       {{request->sample ? "samples" : "sequences",
         MatrixListToJson(request->sequences)}}},
      {"response", {{"outputs", MatrixListToJson(*outputs)}}},
      {"request_digest", HexEncode(e.request_digest)},
      {"response_digest", HexEncode(e.response_digest)},
      {"chain_hash", HexEncode(e.chain_hash)},
      {"answered_unix_ms", e.answered_unix_ms}};
}

absl::StatusOr<TranscriptEntry> TranscriptEntryFromJson(
    const nlohmann::ordered_json& doc) {
  if (!doc.is_object()) return Bad("entry", "must be a JSON object");
  TranscriptEntry e;
  if (!doc.contains("learner") || !doc["learner"].is_string()) {
    return Bad("learner", "must be a string");
  }
  e.learner = doc["learner"].get<std::string>();
  ATTN_ASSIGN_OR_RETURN(e.index, UnsignedFromJson(doc, "index"));
  ATTN_ASSIGN_OR_RETURN(e.first_query_index,
                        UnsignedFromJson(doc, "first_query_index"));
  const bool sample = doc.contains("request") && doc["request"].is_object() &&
                      doc["request"].contains("samples");
  ATTN_ASSIGN_OR_RETURN(
      std::vector<Matrix> sequences,
      NestedMatricesFromJson(doc, "request", sample ? "samples" : "sequences"));
  ATTN_ASSIGN_OR_RETURN(std::vector<Matrix> outputs,
                        NestedMatricesFromJson(doc, "response", "outputs"));
  e.request =
      sample ? EncodeSampleRequest(sequences) : EncodeMatrices(sequences);
  e.response = EncodeMatrices(outputs);
  ATTN_ASSIGN_OR_RETURN(e.request_digest,
                        DigestFromJson(doc, "request_digest"));
  ATTN_ASSIGN_OR_RETURN(e.response_digest,
                        DigestFromJson(doc, "response_digest"));
  ATTN_ASSIGN_OR_RETURN(e.chain_hash, DigestFromJson(doc, "chain_hash"));
  if (doc.contains("answered_unix_ms")) {
    if (!doc["answered_unix_ms"].is_number_integer()) {
      return Bad("answered_unix_ms", "must be an integer");
    }
    e.answered_unix_ms = doc["answered_unix_ms"].get<int64_t>();
  }
  return e;
}

absl::StatusOr<std::string> BytesFromHex(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex string has an odd length (", hex.size(), ")"));
  }
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = digit(hex[i]);
    const int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", hex.substr(i, 2), "' at offset ", i, " is not a hex byte"));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace attnoracle
