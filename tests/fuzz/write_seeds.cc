// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/):
// a handful of small valid and near-valid inputs each, made with the
// project's own encoders so they stay in step with the formats.
//
//   build/bin/write-fuzz-seeds tests/fuzz/corpus
//
// The request seeds start with the byte that picks the challenge and the
// message (see request_fuzzer.cc).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "attnoracle/v1/oracle.pb.h"
#include "client/json_codec.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/layer_params.h"
#include "common/transcript.h"
#include "tests/fuzz/fuzz_challenges.h"

namespace attnoracle::fuzz {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name,
           absl::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "cannot write " << (dir / name) << "\n";
    std::exit(1);
  }
}

size_t IndexOf(absl::string_view id) {
  const std::vector<FuzzChallenge>& all = FuzzChallenges();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].config.id == id) return i;
  }
  std::cerr << "no challenge " << id << "\n";
  std::exit(1);
}

// The request target's framing: challenge index and message kind, then the
// serialized message.
std::string Framed(absl::string_view id, bool submit,
                   const google::protobuf::MessageLite& m) {
  std::string out(1, static_cast<char>((IndexOf(id) << 1) | (submit ? 1 : 0)));
  out += m.SerializeAsString();
  return out;
}

Matrix Tokens(std::initializer_list<std::initializer_list<double>> rows) {
  Matrix m(rows.size(), rows.begin()->size());
  int i = 0;
  for (const auto& row : rows) {
    int j = 0;
    for (double v : row) m(i, j++) = v;
    ++i;
  }
  return m;
}

std::string Query(absl::string_view id, const std::vector<Matrix>& seqs) {
  v1::QueryRequest request;
  request.set_challenge_id(std::string(id));
  for (const Matrix& x : seqs) MatrixToProto(x, request.add_sequences());
  return Framed(id, false, request);
}

void WriteRequestSeeds(const fs::path& dir) {
  const Matrix e1 = Tokens({{1, 0, 0, 0}});
  const Matrix e1e2 = Tokens({{1, 0, 0, 0}, {0, 1, 0, 0}});
  Write(dir, "query-tiny-valid", Query("tiny-d4", {e1, e1e2}));
  Write(dir, "query-tight-valid",
        Query("tight-limits-d4",
              {e1e2, Tokens({{-9.5, 2, 0, 1}, {0, 0, 3, 4}})}));
  Write(dir, "query-tight-too-many-sequences",
        Query("tight-limits-d4", {e1, e1, e1, e1}));
  Write(dir, "query-tight-too-large", Query("tight-limits-d4", {e1 * 11}));
  Matrix d16 = Matrix::Zero(2, 16);
  d16(0, 3) = 1;
  d16(1, 7) = -2;
  Write(dir, "query-causal-d16-valid", Query("single-head-causal-d16", {d16}));
  Write(dir, "query-tiny-wrong-width", Query("tiny-d4", {Tokens({{1, 2, 3}})}));
  Write(dir, "query-tiny-nan",
        Query("tiny-d4",
              {Tokens({{1, std::numeric_limits<double>::quiet_NaN(), 0, 0}})}));
  v1::QueryRequest mismatch;
  MatrixToProto(e1e2, mismatch.add_sequences());
  mismatch.mutable_sequences(0)->set_rows(3);
  Write(dir, "query-tiny-values-mismatch", Framed("tiny-d4", false, mismatch));

  auto submit = [&](absl::string_view id, const v1::LayerParams& params) {
    v1::SubmitRequest request;
    request.set_challenge_id(std::string(id));
    *request.mutable_hypothesis() = params;
    return Framed(id, true, request);
  };
  for (absl::string_view id : {"tiny-d4", "tight-limits-d4"}) {
    v1::LayerParams factors;
    ParamsToProto(FuzzChallenges()[IndexOf(id)].secret, &factors);
    Write(dir, absl::StrCat("submit-", id, "-factors"), submit(id, factors));
  }
  for (absl::string_view id : {"tiny-d4", "single-head-d16"}) {
    const FuzzChallenge& c = FuzzChallenges()[IndexOf(id)];
    v1::LayerParams products;
    for (const HeadParams& h : c.secret.heads) {
      v1::HeadParams* head = products.add_heads();
      MatrixToProto(Theta(c.config.spec, h), head->mutable_theta());
      MatrixToProto(Omega(h), head->mutable_omega());
    }
    Write(dir, absl::StrCat("submit-", id, "-products"), submit(id, products));
  }
  v1::LayerParams wrong;
  ParamsToProto(FuzzChallenges()[IndexOf("tiny-d4")].secret, &wrong);
  MatrixToProto(Matrix::Ones(3, 4), wrong.mutable_heads(0)->mutable_wq());
  Write(dir, "submit-tiny-wrong-shape", submit("tiny-d4", wrong));
}

void WriteConfigSeeds(const fs::path& dir) {
  Write(dir, "default.textproto", DefaultChallengeSetText());
  Write(dir, "tight.textproto", kTightChallengeText);
  Write(dir, "one-config.textproto",
        ChallengeConfigToText(FuzzChallenges()[IndexOf("tiny-d4")].config));
  Write(dir, "scoring.textproto",
        R"pb(challenge {
               id: "scored.d8"
               title: "Sc\303\251nario \"d8\""
               spec { d_model: 8 heads: 2 out_dim: 3 score_scale: 0.25 }
               prior { scale: 0.5 seed: 18446744073709551615 }
               policy {
                 budget { queries: 10 tokens: 100 }
                 limits { max_abs_input: 1e-3 max_tokens_per_request: 7 }
               }
               scoring {
                 max_submissions: 3
                 feedback: FEEDBACK_PASS_FAIL
                 pass_threshold: 1e-3
               }
               per_learner_secrets: true
             }
        )pb");
  Write(dir, "duplicate-id.textproto",
        "challenge { id: \"a\" spec { d_model: 2 } }\n"
        "challenge { id: \"a\" spec { d_model: 3 } }\n");
  Write(dir, "bad-heads.textproto",
        "challenge { id: \"b\" spec { d_model: 16 heads: 3 } }\n");
  Write(dir, "syntax-error.textproto",
        "challenge { id: \"c\" spec { d_model: ");
}

void WriteHypothesisSeeds(const fs::path& dir) {
  for (absl::string_view id : {"tiny-d4", "tight-limits-d4"}) {
    Write(dir, absl::StrCat(id, "-factors.json"),
          HypothesisToJson(FuzzChallenges()[IndexOf(id)].secret).dump());
  }
  for (absl::string_view id : {"tiny-d4", "single-head-d16"}) {
    const FuzzChallenge& c = FuzzChallenges()[IndexOf(id)];
    nlohmann::ordered_json heads = nlohmann::ordered_json::array();
    for (const HeadParams& h : c.secret.heads) {
      heads.push_back({{"theta", MatrixToJson(Theta(c.config.spec, h))},
                       {"omega", MatrixToJson(Omega(h))}});
    }
    Write(dir, absl::StrCat(id, "-products.json"),
          nlohmann::ordered_json{{"heads", heads}}.dump());
  }
  Write(dir, "both-forms.json",
        R"({"heads": [{"theta": [[1]], "omega": [[1]], "wq": [[1]]}]})");
  Write(dir, "ragged.json",
        R"({"heads": [{"theta": [[1, 2], [3]], "omega": [[1]]}]})");
  Write(dir, "not-a-number.json",
        R"({"heads": [{"theta": [[1, "2"]], "omega": [[1]]}], "bo": [1e308]})");
}

// A transcript entry of the tight challenge, answered exactly as the server
// answers (so it verifies against FuzzReveal()), after `previous`.
TranscriptEntry Answered(const std::vector<Matrix>& sequences, uint64_t index,
                         uint64_t first_query_index,
                         const std::string& previous) {
  const RevealedChallenge& reveal = FuzzReveal();
  std::vector<Matrix> answers;
  for (size_t i = 0; i < sequences.size(); ++i) {
    Matrix y = Forward(reveal.config.spec, reveal.secret, sequences[i]);
    DegradeAnswer(reveal.config.policy, reveal.noise_seed,
                  first_query_index + i, y);
    answers.push_back(std::move(y));
  }
  TranscriptEntry e;
  e.learner = "alice";
  e.index = index;
  e.first_query_index = first_query_index;
  e.request = EncodeMatrices(sequences);
  e.response = EncodeMatrices(answers);
  e.request_digest = RequestDigest(first_query_index, e.request);
  e.response_digest = Sha256(e.response);
  e.chain_hash = ChainHash(previous, e.request_digest, e.response_digest);
  e.answered_unix_ms = 1700000000000;
  return e;
}

void WriteTranscriptSeeds(const fs::path& dir) {
  auto line = [](const TranscriptEntry& e) {
    return TranscriptEntryToJson(e).value().dump();
  };
  const std::vector<Matrix> two = {Tokens({{1, 0, 0, 0}, {0, 1, 0, 0}}),
                                   Tokens({{0.5, -2, 3, 0}})};
  const TranscriptEntry first = Answered(two, 0, 0, "");
  Write(dir, "entry-valid.json", line(first));
  Write(dir, "entry-valid-later-queries.json",
        line(Answered({Tokens({{0, 0, 0, 1}})}, 0, 7, "")));
  TranscriptEntry wrong_answer = first;
  std::vector<Matrix> outputs = DecodeMatrices(first.response).value();
  outputs[0](0, 0) += 1;
  wrong_answer.response = EncodeMatrices(outputs);
  wrong_answer.response_digest = Sha256(wrong_answer.response);
  wrong_answer.chain_hash =
      ChainHash("", wrong_answer.request_digest, wrong_answer.response_digest);
  Write(dir, "entry-wrong-answer.json", line(wrong_answer));
  TranscriptEntry second_in_chain = Answered(two, 1, 3, first.chain_hash);
  Write(dir, "entry-out-of-order.json", line(second_in_chain));
  Write(
      dir, "entry-bad-hex.json",
      R"({"learner": "bob", "index": 0, "first_query_index": 0,)"
      R"( "request": {"sequences": [[[1, 2, 3, 4]]]},)"
      R"( "response": {"outputs": [[[1, 2, 3, 4]]]},)"
      R"( "request_digest": "0g", "response_digest": "", "chain_hash": "00"})");
}

}  // namespace
}  // namespace attnoracle::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR (tests/fuzz/corpus)\n";
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  attnoracle::fuzz::WriteRequestSeeds(root / "request");
  attnoracle::fuzz::WriteConfigSeeds(root / "challenge_config");
  attnoracle::fuzz::WriteHypothesisSeeds(root / "hypothesis");
  attnoracle::fuzz::WriteTranscriptSeeds(root / "transcript");
  return 0;
}
