// The forward pass's answers, bit for bit, against the bits an earlier
// build gave. `oracle-client verify` recomputes every answer of a
// transcript from the revealed secret and compares the bits, so a change
// in the order of the floating-point sums (a faster product path, an
// Eigen or compiler upgrade) breaks the verification of every transcript
// answered before it. Such a change must be deliberate: if this test
// fails, either restore the old order or record the new digests below and
// say in the release notes that earlier transcripts verify only with the
// build that answered them.
//
// The bits depend on the instruction sets the build uses (-march=native
// picks AVX-512 here, SSE2 elsewhere), on the compiler, on the sanitizers,
// and on the CPU's L1 data cache (Eigen splits a long inner product into
// blocks sized by it), so digests are recorded per configuration; a
// configuration without a record is skipped, printing its digests to
// record. The same holds for `verify`: it reproduces the server's bits on
// a machine of the same configuration.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/access_policy.h"
#include "common/attention.h"
#include "common/hashing.h"
#include "common/prior.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

struct Case {
  const char* name;
  LayerSpec spec;
  int tokens;
  uint64_t seed;
  // The policy's degradation (noise, then rounding), applied as the server
  // and `verify` apply it; the defaults leave the answer as it is.
  Precision precision = Precision::kFloat64;
  double noise_sigma = 0;
};

// The bench's small and large workloads, and the variants between them:
// heads, low-rank heads, the causal mask, biases, the last-token readout,
// one token, and a noisy answer rounded to float32.
const Case kCases[] = {
    {"d16_1head_8tokens", {.d_model = 16}, 8, 1},
    {"d16_2heads_causal_biases",
     {.d_model = 16, .heads = 2, .mask = Mask::kCausal, .biases = true},
     8,
     2},
    {"d64_4heads_rank8_causal_last",
     {.d_model = 64,
      .heads = 4,
      .head_dim = 8,
      .mask = Mask::kCausal,
      .readout = Readout::kLast},
     32,
     3},
    {"d32_1token", {.d_model = 32, .heads = 2}, 1, 4},
    {"d256_4heads_256tokens", {.d_model = 256, .heads = 4}, 256, 5},
    {"d16_noise_float32", {.d_model = 16}, 8, 6, Precision::kFloat32, 0.05},
};

// The configuration the bits belong to.
std::string BuildConfiguration() {
  std::string sanitizers;
#if defined(__SANITIZE_ADDRESS__)
  sanitizers += " asan";
#endif
#if defined(__SANITIZE_THREAD__)
  sanitizers += " tsan";
#endif
#if defined(__clang__)
  const char* compiler = "clang " __clang_version__;
#else
  const char* compiler = "gcc " __VERSION__;
#endif
  return absl::StrCat(compiler, "; ", Eigen::SimdInstructionSetsInUse(),
                      "; L1 ", Eigen::l1CacheSize(), sanitizers);
}

struct Record {
  const char* configuration;
  // One SHA-256 (hex) of the answer's doubles per case, in kCases' order.
  std::vector<std::string> digests;
};

const Record kRecords[] = {
    // Recorded on 2026-11-26 (AMD EPYC, Zen 4): the bits of the builds
    // before the small-query path (checked on f8f980f^), which that path
    // changed for the two small cases and e8b315b restored.
    {"gcc 12.2.0; AVX512, FMA, AVX2, AVX, SSE, SSE2, SSE3, SSSE3, SSE4.1, "
     "SSE4.2; L1 32768",
     {"efe64a0e442b5cb4e80b25b9a30b25401ede105fb7d1fb8bf6c66e8a3e9af0e6",
      "6ac6f65ac6ec512e83d8d6c017508295e4e57d37fe533b1cf3249ce24c357a07",
      "11fc2e85073d5dcc306b30187130cbdbc243e0b067741ac58483c9141588f603",
      "3a53a554313062ad8c34d115adffe8e577fa2c3ede8a043082d4bee77bea28c9",
      "0f644dbc5acace72ff5520bb4e6e334dd272b6e2472f402cbf41b66a2679f0ee",
      "b147d27dfcedad954376393da6627edb4d5134f73197c5c974da0b250787f703"}},
};

std::string AnswerDigest(const Case& c) {
  const LayerSpec spec = *ResolveSpec(c.spec);
  const LayerParams params =
      DrawSecret(spec, Prior{.scale = 0, .seed = c.seed});
  Rng rng(DeriveSeed(c.seed, RngStream::kProbeSet, 0));
  Matrix x(c.tokens, spec.d_model);
  for (int i = 0; i < x.rows(); ++i) {
    for (int j = 0; j < x.cols(); ++j) x(i, j) = rng.NextGaussian();
  }
  Matrix y = Forward(spec, params, x);
  AccessPolicy policy;
  policy.precision = c.precision;
  policy.noise_sigma = c.noise_sigma;
  DegradeAnswer(policy, /*noise_seed=*/c.seed, /*query_index=*/7, y);
  return HexEncode(Sha256(absl::string_view(
      reinterpret_cast<const char*>(y.data()), sizeof(double) * y.size())));
}

TEST(ForwardBitsTest, AnswersKeepTheBitsOfEarlierBuilds) {
  const std::string configuration = BuildConfiguration();
  std::vector<std::string> digests;
  for (const Case& c : kCases) digests.push_back(AnswerDigest(c));
  const Record* record = nullptr;
  for (const Record& r : kRecords) {
    if (configuration == r.configuration) record = &r;
  }
  if (record == nullptr || record->digests.empty()) {
    std::string listing;
    for (const std::string& d : digests) absl::StrAppend(&listing, "\n  ", d);
    GTEST_SKIP() << "no digests recorded for \"" << configuration
                 << "\"; this build's, to record:" << listing;
  }
  ASSERT_EQ(record->digests.size(), std::size(kCases));
  for (size_t i = 0; i < digests.size(); ++i) {
    EXPECT_EQ(digests[i], record->digests[i])
        << kCases[i].name << ": the answers' bits changed since the build "
        << "that recorded them (see the top of this file)";
  }
}

}  // namespace
}  // namespace attnoracle
