// The test vectors of docs/VERIFICATION.md, computed with this build:
// generator words, gaussians and logarithms, seed derivations, a small
// challenge's secrets, commitments and noise, two answered requests of a
// transcript with their digests and chain heads, the hidden probe set, one
// small secret of each layer class with its output, random-example inputs,
// and the answer forms on chosen values (signed zeros, exact ties).
// write-verification-vectors writes them to tests/vectors/verification.json;
// verification_vectors_test recomputes them and compares with that file, so
// the specification, the checked-in vectors and the code cannot drift apart.
//
//   nlohmann::ordered_json v = attnoracle::vectors::ComputeVectors();
//
// Encodings in the document: u64 as 16 lowercase hex digits; a double as
// the 16 hex digits of its IEEE-754 binary64 bits (as a u64), next to a
// decimal rendering for reading only; byte strings as lowercase hex.
#ifndef ATTNORACLE_TESTS_VECTORS_VERIFICATION_VECTORS_H_
#define ATTNORACLE_TESTS_VECTORS_VERIFICATION_VECTORS_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/examples.h"
#include "common/hashing.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "server/core/challenge.h"
#include "server/core/scorer.h"

namespace attnoracle::vectors {

using Json = nlohmann::ordered_json;

inline constexpr uint64_t kChallengeSeed = 2026;
inline constexpr double kPriorScale = 0.5;
inline constexpr double kNoiseSigma = 1e-3;
// The commitment nonce: bytes 00 01 ... 0f.
inline constexpr int kNonceBytes = 16;
inline constexpr char kTranscriptLearner[] = "alice";

inline std::string U64Hex(uint64_t v) { return absl::StrFormat("%016x", v); }

inline std::string DoubleHex(double v) {
  return U64Hex(std::bit_cast<uint64_t>(v));
}

inline Json Doubles(const double* data, size_t n) {
  Json bits = Json::array();
  Json decimal = Json::array();
  for (size_t i = 0; i < n; ++i) {
    bits.push_back(DoubleHex(data[i]));
    decimal.push_back(absl::StrFormat("%.17g", data[i]));
  }
  return Json{{"bits", bits}, {"decimal", decimal}};
}

inline Json Doubles(const Matrix& m) {
  return Doubles(m.data(), static_cast<size_t>(m.size()));
}

inline std::string Nonce() {
  std::string nonce;
  for (int i = 0; i < kNonceBytes; ++i) nonce.push_back(static_cast<char>(i));
  return nonce;
}

// The small challenge every section below uses: two heads of rank 2 on
// 3-wide tokens, with biases, noisy answers rounded to float32.
inline ChallengeConfig SmallChallenge() {
  ChallengeConfig c;
  c.id = "vectors";
  c.spec = {.d_model = 3, .heads = 2, .head_dim = 2, .biases = true};
  c.prior = Prior{.scale = kPriorScale, .seed = kChallengeSeed};
  c.policy.precision = Precision::kFloat32;
  c.policy.noise_sigma = kNoiseSigma;
  return *ResolveChallenge(c);
}

// The transcript's two requests: sequences of 1 and 2 tokens, then one of
// 3 tokens.
inline std::vector<std::vector<Matrix>> TranscriptRequests() {
  Matrix a(1, 3), b(2, 3), c(3, 3);
  a << 1, 0, -1;
  b << 0.5, -0.25, 2, -1.5, 1, 0.125;
  c << 1, 2, 3, -3, -2, -1, 0.75, 0, -0.75;
  return {{a, b}, {c}};
}

inline Json DeriveSeedSection() {
  Json out = Json::array();
  const struct {
    uint64_t seed;
    RngStream stream;
    uint64_t index;
  } kInputs[] = {{0, RngStream::kSecret, 0},
                 {42, RngStream::kSecret, 0},
                 {kChallengeSeed, RngStream::kSecret, 0},
                 {kChallengeSeed, RngStream::kNoise, 0},
                 {kChallengeSeed, RngStream::kProbeSet, 0},
                 {kChallengeSeed, RngStream::kNoise, 0xffffffffffffffffULL}};
  for (const auto& in : kInputs) {
    out.push_back(
        {{"seed", U64Hex(in.seed)},
         {"stream", static_cast<uint64_t>(in.stream)},
         {"index", U64Hex(in.index)},
         {"derived", U64Hex(DeriveSeed(in.seed, in.stream, in.index))}});
  }
  return out;
}

inline Json RngSection() {
  const uint64_t seed = DeriveSeed(kChallengeSeed, RngStream::kSecret, 0);
  Json words = Json::array();
  {
    Rng rng(seed);
    for (int i = 0; i < 4; ++i) words.push_back(U64Hex(rng.NextU64()));
  }
  std::vector<double> uniforms;
  {
    Rng rng(seed);
    for (int i = 0; i < 4; ++i) uniforms.push_back(rng.NextUniform());
  }
  std::vector<double> gaussians;
  {
    Rng rng(seed);
    for (int i = 0; i < 8; ++i) gaussians.push_back(rng.NextGaussian());
  }
  return Json{{"seed", U64Hex(seed)},
              {"next_u64", words},
              {"next_uniform", Doubles(uniforms.data(), uniforms.size())},
              {"next_gaussian", Doubles(gaussians.data(), gaussians.size())}};
}

inline Json PortableLogSection() {
  const double kInputs[] = {0.5, 0.7,    0.70710678118654757, 0.99999999,
                            3.0, 1e-300, 0.123456789};
  std::vector<double> logs;
  for (double x : kInputs) logs.push_back(PortableLog(x));
  return Json{{"x", Doubles(kInputs, std::size(kInputs))},
              {"log", Doubles(logs.data(), logs.size())}};
}

inline Json LearnerStreamSection() {
  Json out = Json::array();
  for (const char* name : {"alice", "bob", "anonymous"}) {
    out.push_back({{"learner", name},
                   {"sha256", HexEncode(Sha256(name))},
                   {"stream_index", U64Hex(LearnerStreamIndex(name))}});
  }
  return out;
}

inline Json SecretJson(const LayerParams& params, const std::string& nonce) {
  return Json{{"encode_params", HexEncode(EncodeParams(params))},
              {"commitment", HexEncode(Commitment(params, nonce))}};
}

inline Json SecretsSection() {
  const ChallengeConfig c = SmallChallenge();
  const std::string nonce = Nonce();
  Json shared = SecretJson(DrawSecret(c.spec, c.prior, 0), nonce);
  shared["stream_index"] = U64Hex(0);
  const uint64_t alice = LearnerStreamIndex("alice");
  Json own = SecretJson(DrawSecret(c.spec, c.prior, alice), nonce);
  own["learner"] = "alice";
  own["stream_index"] = U64Hex(alice);
  // scale 0: every entry N(0, 1/d_model).
  const LayerSpec unit = *ResolveSpec(LayerSpec{.d_model = 2});
  Json default_scale = SecretJson(
      DrawSecret(unit, Prior{.scale = 0, .seed = kChallengeSeed}, 0), nonce);
  default_scale["spec"] = "d_model 2, one head, no biases";
  default_scale["prior_scale"] = 0;
  return Json{{"shared", shared},
              {"per_learner_alice", own},
              {"default_scale", default_scale}};
}

inline Json NoiseSection() {
  const ChallengeConfig c = SmallChallenge();
  const Challenge challenge(c, Nonce(), 0, Phase::kOpen);
  AccessPolicy noise_only;
  noise_only.noise_sigma = kNoiseSigma;
  Json out = Json::array();
  for (const char* learner : {"alice", "bob", ""}) {
    const uint64_t seed = challenge.NoiseSeedFor(learner);
    for (uint64_t query_index : {0, 5}) {
      Matrix noise = Matrix::Zero(2, 3);
      DegradeAnswer(noise_only, seed, query_index, noise);
      out.push_back({{"learner", learner},
                     {"noise_seed", U64Hex(seed)},
                     {"query_index", query_index},
                     {"rows", 2},
                     {"cols", 3},
                     {"noise", Doubles(noise)}});
    }
  }
  return out;
}

// The learner's two requests answered as the server answers them.
inline Json TranscriptSection() {
  const ChallengeConfig c = SmallChallenge();
  const Challenge challenge(c, Nonce(), 0, Phase::kOpen);
  const LayerParams& secret = challenge.SecretFor(kTranscriptLearner)->params;
  const uint64_t noise_seed = challenge.NoiseSeedFor(kTranscriptLearner);
  Json entries = Json::array();
  std::string previous;
  uint64_t first_query_index = 0;
  uint64_t index = 0;
  for (const std::vector<Matrix>& sequences : TranscriptRequests()) {
    Json exact = Json::array();
    std::vector<Matrix> answers;
    for (size_t i = 0; i < sequences.size(); ++i) {
      Matrix y = Forward(c.spec, secret, sequences[i]);
      exact.push_back(Doubles(y));
      DegradeAnswer(c.policy, noise_seed, first_query_index + i, y);
      answers.push_back(std::move(y));
    }
    const std::string request = EncodeMatrices(sequences);
    const std::string response = EncodeMatrices(answers);
    const std::string request_digest =
        RequestDigest(first_query_index, request);
    const std::string response_digest = Sha256(response);
    const std::string chain =
        ChainHash(previous, request_digest, response_digest);
    entries.push_back({{"index", index},
                       {"first_query_index", first_query_index},
                       {"request", HexEncode(request)},
                       {"forward_before_noise", exact},
                       {"response", HexEncode(response)},
                       {"request_digest", HexEncode(request_digest)},
                       {"response_digest", HexEncode(response_digest)},
                       {"chain_hash", HexEncode(chain)}});
    previous = chain;
    first_query_index += sequences.size();
    ++index;
  }
  return Json{{"learner", kTranscriptLearner},
              {"noise_seed", U64Hex(noise_seed)},
              {"entries", entries}};
}

inline Json ProbeSetSection() {
  const ChallengeConfig c = SmallChallenge();
  const std::vector<Matrix> probes =
      DrawProbeSet(c.spec, kChallengeSeed, kProbeTypicalLengthTokens,
                   kProbeSequencesPerLength);
  Json lengths = Json::array();
  for (const Matrix& p : probes) lengths.push_back(p.rows());
  // The first two probes (one token each) and the first token of the last
  // one: enough to check the draw order across sequences and lengths.
  const Matrix& last = probes.back();
  return Json{{"seed", U64Hex(kChallengeSeed)},
              {"d_model", c.spec.d_model},
              {"typical_length", kProbeTypicalLengthTokens},
              {"per_length", kProbeSequencesPerLength},
              {"lengths", lengths},
              {"probe_0", Doubles(probes[0])},
              {"probe_1", Doubles(probes[1])},
              {"last_probe_first_token", Doubles(last.data(), last.cols())}};
}

inline Json ChallengeJson() {
  const ChallengeConfig c = SmallChallenge();
  return Json{
      {"spec",
       {{"d_model", c.spec.d_model},
        {"heads", c.spec.heads},
        {"head_dim", c.spec.head_dim},
        {"value_dim", c.spec.value_dim},
        {"out_dim", c.spec.out_dim},
        {"mask", "none"},
        {"readout", "all"},
        {"score_scale", Doubles(&c.spec.score_scale, 1)},
        {"biases", c.spec.biases}}},
      {"prior",
       {{"seed", U64Hex(c.prior.seed)}, {"scale", Doubles(&c.prior.scale, 1)}}},
      {"policy",
       {{"noise_sigma", Doubles(&c.policy.noise_sigma, 1)},
        {"precision", PrecisionName(c.policy.precision)}}},
      {"per_learner_secrets", c.per_learner_secrets},
      {"nonce", HexEncode(Nonce())}};
}

// A spec with every field resolved, as the layer-class vectors give it.
inline Json SpecJson(const LayerSpec& s) {
  Json ffn = nullptr;
  if (s.has_ffn) {
    ffn = {{"hidden", s.ffn.hidden},
           {"out_dim", s.ffn.out_dim},
           {"biases", s.ffn.biases},
           {"residual", s.ffn.residual}};
  }
  return Json{
      {"d_model", s.d_model},
      {"heads", s.heads},
      {"head_dim", s.head_dim},
      {"value_dim", s.value_dim},
      {"out_dim", s.out_dim},
      {"mask", s.mask == Mask::kCausal ? "causal" : "none"},
      {"readout", s.readout == Readout::kLast ? "last" : "all"},
      {"score_scale", Doubles(&s.score_scale, 1)},
      {"biases", s.biases},
      {"kv_heads", s.kv_heads},
      {"attention", s.attention == Attention::kLinear ? "linear" : "softmax"},
      {"layers", s.layers},
      {"residual", s.residual},
      {"tie_qk", s.tie_qk},
      {"ffn", ffn}};
}

inline Json MatrixJson(const Matrix& m) {
  Json out = Doubles(m);
  out["rows"] = m.rows();
  out["cols"] = m.cols();
  return out;
}

// The layer-class vectors' input of n tokens of width d: entry k (row-major)
// is ((5 k) mod 11 - 5) / 4, so every value is exact and small.
inline Matrix LayerClassInput(int n, int d) {
  Matrix x(n, d);
  for (int k = 0; k < n * d; ++k) x.data()[k] = ((5 * k) % 11 - 5) / 4.0;
  return x;
}

struct LayerClassCase {
  const char* name;
  LayerSpec spec;  // raw: ResolveSpec fills the defaults
  int tokens;
};

// One small secret of each layer class, drawn from the vectors' seed and
// scale (stream 0), and its output on LayerClassInput.
inline std::vector<LayerClassCase> LayerClassCases() {
  return {
      {"grouped_heads",
       {.d_model = 4, .heads = 4, .head_dim = 2, .biases = true, .kv_heads = 2},
       3},
      {"ffn_biases",
       {.d_model = 4,
        .heads = 2,
        .head_dim = 2,
        .mask = Mask::kCausal,
        .has_ffn = true,
        .ffn = {.hidden = 6, .out_dim = 3, .biases = true}},
       3},
      {"ffn_biases_residual",
       {.d_model = 4,
        .readout = Readout::kLast,
        .biases = true,
        .has_ffn = true,
        .ffn = {.hidden = 5, .biases = true, .residual = true}},
       3},
      {"linear_causal",
       {.d_model = 4,
        .heads = 2,
        .head_dim = 2,
        .mask = Mask::kCausal,
        .attention = Attention::kLinear},
       4},
      {"tied_residual_stack",
       {.d_model = 4,
        .heads = 2,
        .head_dim = 2,
        .biases = true,
        .layers = 2,
        .residual = true,
        .tie_qk = true},
       3},
  };
}

inline Json LayerClassesSection() {
  const Prior prior{.scale = kPriorScale, .seed = kChallengeSeed};
  const std::string nonce = Nonce();
  Json out = Json::array();
  for (const LayerClassCase& c : LayerClassCases()) {
    const LayerSpec spec = *ResolveSpec(c.spec);
    const LayerParams secret = DrawSecret(spec, prior, 0);
    const Matrix x = LayerClassInput(c.tokens, spec.d_model);
    out.push_back(
        {{"name", c.name},
         {"spec", SpecJson(spec)},
         {"prior",
          {{"seed", U64Hex(prior.seed)}, {"scale", Doubles(&prior.scale, 1)}}},
         {"stream_index", U64Hex(0)},
         {"encode_params", HexEncode(EncodeParams(secret))},
         {"commitment", HexEncode(Commitment(secret, nonce))},
         {"input", MatrixJson(x)},
         {"output", MatrixJson(Forward(spec, secret, x))}});
  }
  return out;
}

// Random-example inputs of the vectors' challenge seed for two learners.
inline Json ExamplesSection() {
  const ChallengeConfig c = SmallChallenge();
  const Challenge challenge(c, Nonce(), 0, Phase::kOpen);
  const struct {
    const char* learner;
    InputDistribution inputs;
    double scale;
    int tokens;
    uint64_t index;
  } kCases[] = {{"alice", InputDistribution::kSigns, 1.0, 3, 0},
                {"alice", InputDistribution::kSigns, 1.0, 3, 1},
                {"bob", InputDistribution::kSigns, 0.5, 2, 7},
                {"alice", InputDistribution::kGaussian, 1.0, 2, 0},
                {"bob", InputDistribution::kGaussian, 2.0, 2, 3}};
  Json out = Json::array();
  for (const auto& e : kCases) {
    const ExampleDistribution dist{
        .inputs = e.inputs, .tokens = e.tokens, .scale = e.scale};
    const uint64_t seed = challenge.NoiseSeedFor(e.learner);
    out.push_back({{"learner", e.learner},
                   {"noise_seed", U64Hex(seed)},
                   {"inputs", InputDistributionName(e.inputs)},
                   {"scale", Doubles(&e.scale, 1)},
                   {"tokens", e.tokens},
                   {"d_model", c.spec.d_model},
                   {"index", e.index},
                   {"input", MatrixJson(DrawExample(dist, c.spec.d_model, seed,
                                                    e.index))}});
  }
  return out;
}

struct AnswerFormCase {
  const char* name;
  AccessPolicy policy;  // answers, top_k, quantize_step, precision, noise
  int rows;
  int cols;
  std::vector<double> values;  // the forward output, row-major
};

// Answer forms on chosen forward outputs: signed zeros, exact ties and
// ties that only the float32 rounding makes. The noisy case uses alice's
// noise seed at query index 0.
inline std::vector<AnswerFormCase> AnswerFormCases() {
  auto policy = [](Answers answers, Precision precision, double sigma = 0,
                   int top_k = 0, double step = 0) {
    AccessPolicy p;
    p.answers = answers;
    p.precision = precision;
    p.noise_sigma = sigma;
    p.top_k = top_k;
    p.quantize_step = step;
    return *ResolvePolicy(p);
  };
  constexpr double kTiny = 4.9406564584124654e-324;  // the least subnormal
  return {
      {"sign",
       policy(Answers::kSign, Precision::kFloat64),
       2,
       4,
       {-2.5, -0.0, 0.0, 3.0, 1e-300, -1e-300, kTiny, -kTiny}},
      {"sign_float32",
       policy(Answers::kSign, Precision::kFloat32),
       1,
       4,
       {1e-50, -1e-50, -1e-40, -0.0}},
      {"sign_noise",
       policy(Answers::kSign, Precision::kFloat64, kNoiseSigma),
       2,
       3,
       {0, 0, 0, -0.0, 1e-3, -1e-3}},
      {"quantized_ties",
       policy(Answers::kQuantized, Precision::kFloat64, 0, 0, 0.5),
       2,
       6,
       {0.25, 0.75, 1.25, 1.75, -0.25, -0.75, -1.25, -1.75, -0.0, 0.0, 0.26,
        -0.1}},
      {"quantized_decimal_step",
       policy(Answers::kQuantized, Precision::kFloat64, 0, 0, 0.1),
       1,
       5,
       {0.15, 0.25, 0.35, -0.05, 0.05}},
      {"quantized_float32",
       policy(Answers::kQuantized, Precision::kFloat32, 0, 0, 0.1),
       1,
       3,
       {0.15, 0.25, -0.05}},
      {"top_k_ties",
       policy(Answers::kTopK, Precision::kFloat64, 0, 3),
       3,
       5,
       {1, 5, 5, -2, 5, -0.0, 0.0, -1, -3, -0.0, -4, -4, -4, -4, -4}},
      {"top_k_float32",
       policy(Answers::kTopK, Precision::kFloat32, 0, 2),
       1,
       3,
       {1.0, 1.0000000001, 0.5}},
  };
}

inline Json PolicyJson(const AccessPolicy& p) {
  Json out{{"answers", AnswersName(p.answers)},
           {"precision", PrecisionName(p.precision)},
           {"noise_sigma", Doubles(&p.noise_sigma, 1)}};
  if (p.answers == Answers::kTopK) out["top_k"] = p.top_k;
  if (p.answers == Answers::kQuantized) {
    out["quantize_step"] = Doubles(&p.quantize_step, 1);
  }
  return out;
}

// Each case's values degraded (noise, precision) and put in the answer form,
// as AnswerInto does after the forward pass.
inline Json AnswerFormsSection() {
  const ChallengeConfig c = SmallChallenge();
  const Challenge challenge(c, Nonce(), 0, Phase::kOpen);
  const uint64_t noise_seed = challenge.NoiseSeedFor(kTranscriptLearner);
  constexpr uint64_t kQueryIndex = 0;
  Json out = Json::array();
  for (const AnswerFormCase& a : AnswerFormCases()) {
    Matrix values(a.rows, a.cols);
    std::copy(a.values.begin(), a.values.end(), values.data());
    Matrix degraded = values;
    DegradeAnswer(a.policy, noise_seed, kQueryIndex, degraded);
    Matrix answer;
    if (a.policy.answers == Answers::kTopK) {
      answer.resize(a.rows, 2 * a.policy.top_k);
      TopKInto(degraded, a.policy.top_k, answer);
    } else {
      answer = degraded;
      ApplyAnswerForm(a.policy, answer);
    }
    Json entry{{"name", a.name}, {"policy", PolicyJson(a.policy)}};
    if (a.policy.noise_sigma > 0) {
      entry["learner"] = kTranscriptLearner;
      entry["noise_seed"] = U64Hex(noise_seed);
      entry["query_index"] = kQueryIndex;
    }
    entry["values"] = MatrixJson(values);
    entry["answer"] = MatrixJson(answer);
    out.push_back(std::move(entry));
  }
  return out;
}

inline Json ComputeVectors() {
  return Json{
      {"about",
       "Test vectors of docs/VERIFICATION.md; regenerate with "
       "build/bin/write-verification-vectors tests/vectors"},
      {"derive_seed", DeriveSeedSection()},
      {"rng", RngSection()},
      {"portable_log", PortableLogSection()},
      {"learner_stream_index", LearnerStreamSection()},
      {"challenge", ChallengeJson()},
      {"secrets", SecretsSection()},
      {"noise", NoiseSection()},
      {"transcript", TranscriptSection()},
      {"probe_set", ProbeSetSection()},
      {"layer_classes", LayerClassesSection()},
      {"examples", ExamplesSection()},
      {"answer_forms", AnswerFormsSection()},
  };
}

}  // namespace attnoracle::vectors

#endif  // ATTNORACLE_TESTS_VECTORS_VERIFICATION_VECTORS_H_
