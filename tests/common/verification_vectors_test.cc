// The checked-in vectors of docs/VERIFICATION.md against this build: every
// section recomputed and compared byte for byte (hex), the server core's
// own transcript of the vectors' requests, and `verify` over the vectors'
// transcript. A failure here means the code no longer does what the
// specification says: fix the code, or change the specification on purpose
// and regenerate (build/bin/write-verification-vectors tests/vectors).
#include "tests/vectors/verification_vectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "client/verify.h"
#include "common/hashing.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "tests/server/core_fixture.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::LearnerPrincipal;
using vectors::Json;

// How closely this build's forward pass must agree with the vectors'
// (docs/VERIFICATION.md: reproducible to about 1e-15 across
// implementations).
constexpr double kForwardAgreement = 1e-14;

// A float64 from its bit pattern, 16 hex digits.
double BitsToDouble(const Json& hex) {
  const uint64_t bits = std::stoull(hex.get<std::string>(), nullptr, 16);
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

Json CheckedInVectors() {
  std::ifstream in(ATTNORACLE_VECTORS_DIR "/verification.json");
  EXPECT_TRUE(in) << "cannot read " ATTNORACLE_VECTORS_DIR "/verification.json";
  return Json::parse(in, nullptr, /*allow_exceptions=*/false);
}

class VerificationVectorsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(VerificationVectorsTest, SectionMatchesThisBuild) {
  const Json file = CheckedInVectors();
  ASSERT_FALSE(file.is_discarded()) << "verification.json is not JSON";
  ASSERT_TRUE(file.contains(GetParam())) << "no section " << GetParam();
  Json computed = vectors::ComputeVectors()[GetParam()];
  Json expected = file[GetParam()];
  if (computed.contains("entries")) {
    // The float64 forward pass before noise is the one value the
    // specification does not fix bit for bit: builds with other kernels
    // (-march=native or not) differ in the last bits. It must agree to
    // kForwardAgreement; everything after it (noise, float32 rounding, the
    // bytes, digests and chain) must agree exactly.
    ASSERT_EQ(computed["entries"].size(), expected["entries"].size());
    for (size_t k = 0; k < computed["entries"].size(); ++k) {
      Json& got = computed["entries"][k]["forward_before_noise"];
      Json& want = expected["entries"][k]["forward_before_noise"];
      ASSERT_EQ(got.size(), want.size()) << "entry " << k;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i]["bits"].size(), want[i]["bits"].size());
        for (size_t j = 0; j < got[i]["bits"].size(); ++j) {
          const double a = BitsToDouble(got[i]["bits"][j]);
          const double b = BitsToDouble(want[i]["bits"][j]);
          EXPECT_LE(std::abs(a - b),
                    kForwardAgreement * std::max(1.0, std::abs(b)))
              << "entry " << k << ", sequence " << i << ", value " << j;
        }
      }
      got = nullptr;
      want = nullptr;
    }
  }
  if (std::string(GetParam()) == "layer_classes") {
    // The same holds for each layer class's forward output; the secret's
    // bytes and commitment above it are exact.
    ASSERT_EQ(computed.size(), expected.size());
    for (size_t k = 0; k < computed.size(); ++k) {
      Json& got = computed[k]["output"];
      Json& want = expected[k]["output"];
      ASSERT_EQ(got["bits"].size(), want["bits"].size()) << "case " << k;
      for (size_t j = 0; j < got["bits"].size(); ++j) {
        const double a = BitsToDouble(got["bits"][j]);
        const double b = BitsToDouble(want["bits"][j]);
        EXPECT_LE(std::abs(a - b),
                  kForwardAgreement * std::max(1.0, std::abs(b)))
            << computed[k]["name"] << ", value " << j;
      }
      got["bits"] = nullptr;
      got["decimal"] = nullptr;
      want["bits"] = nullptr;
      want["decimal"] = nullptr;
    }
  }
  // Dumped, so a failure shows both sides.
  EXPECT_EQ(computed.dump(1), expected.dump(1));
}

INSTANTIATE_TEST_SUITE_P(Sections, VerificationVectorsTest,
                         ::testing::Values("derive_seed", "rng", "portable_log",
                                           "learner_stream_index", "challenge",
                                           "secrets", "noise", "transcript",
                                           "probe_set", "layer_classes",
                                           "examples", "answer_forms"));

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<TranscriptEntry> VectorEntries(const Json& file) {
  std::vector<TranscriptEntry> entries;
  for (const Json& e : file["transcript"]["entries"]) {
    TranscriptEntry t;
    t.index = e["index"].get<uint64_t>();
    t.first_query_index = e["first_query_index"].get<uint64_t>();
    t.request = Unhex(e["request"].get<std::string>());
    t.response = Unhex(e["response"].get<std::string>());
    t.request_digest = Unhex(e["request_digest"].get<std::string>());
    t.response_digest = Unhex(e["response_digest"].get<std::string>());
    t.chain_hash = Unhex(e["chain_hash"].get<std::string>());
    entries.push_back(std::move(t));
  }
  return entries;
}

// The server core, asked the vectors' requests, records the vectors'
// transcript: answers, digests and chain, bit for bit.
TEST(VerificationVectorsServerTest, CoreRecordsTheVectorsTranscript) {
  const Json file = CheckedInVectors();
  ASSERT_FALSE(file.is_discarded());
  const std::vector<TranscriptEntry> expected = VectorEntries(file);
  CoreHarness h;
  const ChallengeConfig config = vectors::SmallChallenge();
  ASSERT_TRUE(h.registry.Create(config).ok());
  for (const std::vector<Matrix>& sequences : vectors::TranscriptRequests()) {
    std::vector<ConstMatrixMap> maps;
    for (const Matrix& x : sequences) {
      maps.emplace_back(x.data(), x.rows(), x.cols());
    }
    std::vector<Matrix> outputs(sequences.size());
    absl::StatusOr<QueryResult> r =
        h.core.Query(LearnerPrincipal(vectors::kTranscriptLearner), config.id,
                     maps, [&outputs](size_t i, int rows, int cols) {
                       outputs[i].resize(rows, cols);
                       return MatrixMap(outputs[i].data(), rows, cols);
                     });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  absl::StatusOr<std::vector<TranscriptEntry>> recorded =
      h.store.LoadTranscript(config.id, vectors::kTranscriptLearner);
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  ASSERT_EQ(recorded->size(), expected.size());
  for (size_t k = 0; k < expected.size(); ++k) {
    SCOPED_TRACE(k);
    const TranscriptEntry& got = (*recorded)[k];
    EXPECT_EQ(got.first_query_index, expected[k].first_query_index);
    EXPECT_EQ(HexEncode(got.request), HexEncode(expected[k].request));
    EXPECT_EQ(HexEncode(got.response), HexEncode(expected[k].response));
    EXPECT_EQ(HexEncode(got.request_digest),
              HexEncode(expected[k].request_digest));
    EXPECT_EQ(HexEncode(got.response_digest),
              HexEncode(expected[k].response_digest));
    EXPECT_EQ(HexEncode(got.chain_hash), HexEncode(expected[k].chain_hash));
  }
}

// The server core's Sample draws the vectors' example inputs: alice's
// signs at indices 0 and 1 on the vectors' challenge made examples-only.
TEST(VerificationVectorsServerTest, CoreSamplesTheVectorsExamples) {
  const Json file = CheckedInVectors();
  ASSERT_FALSE(file.is_discarded());
  CoreHarness h;
  ChallengeConfig config = vectors::SmallChallenge();
  config.policy.access = Access::kExamples;
  config.policy.examples = {
      .inputs = InputDistribution::kSigns, .tokens = 3, .scale = 1.0};
  ASSERT_TRUE(h.registry.Create(*ResolveChallenge(config)).ok());
  absl::StatusOr<SampleResult> r = h.core.Sample(
      LearnerPrincipal(vectors::kTranscriptLearner), config.id, 2, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 2u);
  int compared = 0;
  for (const Json& e : file["examples"]) {
    if (e["learner"] != vectors::kTranscriptLearner ||
        e["inputs"] != "INPUTS_SIGNS" || e["index"].get<uint64_t>() > 1) {
      continue;
    }
    const Matrix& got = r->inputs[e["index"].get<size_t>()];
    EXPECT_EQ(vectors::Doubles(got)["bits"], e["input"]["bits"])
        << "example " << e["index"];
    ++compared;
  }
  EXPECT_EQ(compared, 2);
}

RevealedChallenge VectorReveal(const Json& file) {
  RevealedChallenge reveal;
  reveal.config = vectors::SmallChallenge();
  // A shared-secret challenge: the learner is answered with stream 0.
  reveal.secret = DrawSecret(reveal.config.spec, reveal.config.prior, 0);
  reveal.nonce = vectors::Nonce();
  reveal.prior_seed = reveal.config.prior.seed;
  reveal.noise_seed = std::stoull(
      file["transcript"]["noise_seed"].get<std::string>(), nullptr, 16);
  return reveal;
}

// `verify` accepts the vectors' transcript with the learner's noise seed,
// and refuses it with the seed every learner shared before noise was keyed
// by the learner.
TEST(VerificationVectorsVerifyTest, VerifyReplaysTheVectorsTranscript) {
  const Json file = CheckedInVectors();
  ASSERT_FALSE(file.is_discarded());
  const std::vector<TranscriptEntry> entries = VectorEntries(file);
  RevealedChallenge reveal = VectorReveal(file);
  const std::string commitment = Unhex(file["secrets"]["shared"]["commitment"]);
  absl::StatusOr<VerifiedTranscript> v =
      VerifyTranscript(reveal, commitment, entries);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(HexEncode(v->chain_head),
            file["transcript"]["entries"].back()["chain_hash"]);

  reveal.noise_seed =
      DeriveSeed(reveal.config.prior.seed, RngStream::kNoise, 0);
  absl::StatusOr<VerifiedTranscript> unkeyed =
      VerifyTranscript(reveal, commitment, entries);
  EXPECT_EQ(unkeyed.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace attnoracle
