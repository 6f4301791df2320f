// Challenge configuration (the built-in set, parse and value errors, files),
// ResolvePolicy and DegradeAnswer.
#include "common/challenge_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/access_policy.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<ChallengeConfig> BuiltIn() {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(DefaultChallengeSetText(), "built-in");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : std::vector<ChallengeConfig>{};
}

ChallengeConfig BuiltIn(const std::string& id) {
  for (const ChallengeConfig& c : BuiltIn()) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no built-in challenge " << id;
  return {};
}

TEST(DefaultChallengesTest, HasTheDocumentedChallenges) {
  std::vector<std::string> ids;
  for (const ChallengeConfig& c : BuiltIn()) ids.push_back(c.id);
  EXPECT_THAT(
      ids,
      ElementsAre("tiny-d4", "single-head-d16", "single-head-causal-d16",
                  "last-token-d16", "two-head-d16", "noisy-single-head-d16",
                  "float32-single-head-d16", "scalar-last-token-d16",
                  "multihead-scalar-d8-h2", "transformer-ffn-d8",
                  "multi-query-d16-h4", "linear-attention-d16",
                  "tied-two-layer-d16", "chen-li-signs-d8-h2", "sign-scalar-d8",
                  "top3-last-token-d16"));
}

TEST(DefaultChallengesTest, SeedPaperSettingsHaveTheirSpecs) {
  const LayerSpec scalar = BuiltIn("scalar-last-token-d16").spec;
  EXPECT_EQ(scalar.readout, Readout::kLast);
  EXPECT_EQ(OutputDim(scalar), 1);
  const LayerSpec multi = BuiltIn("multihead-scalar-d8-h2").spec;
  EXPECT_EQ(multi.heads, 2);
  EXPECT_EQ(multi.head_dim, 8);
  EXPECT_EQ(OutputDim(multi), 1);
  const LayerSpec ffn = BuiltIn("transformer-ffn-d8").spec;
  ASSERT_TRUE(ffn.has_ffn);
  EXPECT_EQ(ffn.ffn.hidden, 16);
  EXPECT_EQ(OutputDim(ffn), 1);
  EXPECT_FALSE(ffn.ffn.biases);
  const LayerSpec mq = BuiltIn("multi-query-d16-h4").spec;
  EXPECT_EQ(mq.heads, 4);
  EXPECT_EQ(mq.kv_heads, 1);
  EXPECT_EQ(BuiltIn("linear-attention-d16").spec.attention, Attention::kLinear);
  const LayerSpec tied = BuiltIn("tied-two-layer-d16").spec;
  EXPECT_EQ(tied.layers, 2);
  EXPECT_TRUE(tied.residual);
  EXPECT_TRUE(tied.tie_qk);
  EXPECT_EQ(tied.head_dim, 4);
}

TEST(DefaultChallengesTest, ChenLiTakesRandomSignExamplesOnly) {
  const ChallengeConfig c = BuiltIn("chen-li-signs-d8-h2");
  EXPECT_EQ(c.spec.d_model, 8);
  EXPECT_EQ(c.spec.heads, 2);
  EXPECT_EQ(c.spec.head_dim, 8);
  EXPECT_EQ(c.spec.value_dim, 8);
  EXPECT_EQ(c.spec.readout, Readout::kAll);
  EXPECT_EQ(c.policy.access, Access::kExamples);
  EXPECT_EQ(
      c.policy.examples,
      (ExampleDistribution{
          .inputs = InputDistribution::kSigns, .tokens = 8, .scale = 1.0}));
  EXPECT_EQ(c.policy.answers, Answers::kValues);
}

TEST(DefaultChallengesTest, SignAndTopKChallengesReadTheLastPosition) {
  const ChallengeConfig sign = BuiltIn("sign-scalar-d8");
  EXPECT_EQ(sign.spec.heads, 1);
  EXPECT_EQ(sign.spec.readout, Readout::kLast);
  EXPECT_EQ(sign.spec.out_dim, 1);
  EXPECT_EQ(sign.policy.answers, Answers::kSign);
  EXPECT_EQ(sign.policy.access, Access::kQueries);
  const ChallengeConfig top = BuiltIn("top3-last-token-d16");
  EXPECT_EQ(top.spec.heads, 1);
  EXPECT_EQ(top.spec.readout, Readout::kLast);
  EXPECT_EQ(top.policy.answers, Answers::kTopK);
  EXPECT_EQ(top.policy.top_k, 3);
}

TEST(DefaultChallengesTest, TinyHasASmallBudget) {
  const ChallengeConfig c = BuiltIn("tiny-d4");
  EXPECT_EQ(c.spec.d_model, 4);
  EXPECT_EQ(c.spec.heads, 1);
  EXPECT_EQ(c.spec.head_dim, 4);
  EXPECT_EQ(c.policy.budget, (Budget{.queries = 64, .tokens = 256}));
  EXPECT_EQ(c.prior.seed, 4u);
  EXPECT_EQ(c.prior.scale, 0.5);
  EXPECT_EQ(c.title, "Tiny single head, d=4 (teaching)");
}

TEST(DefaultChallengesTest, UnsetFieldsTakeTheDocumentedDefaults) {
  const ChallengeConfig c = BuiltIn("single-head-d16");
  EXPECT_EQ(c.spec, (LayerSpec{.d_model = 16,
                               .heads = 1,
                               .head_dim = 16,
                               .value_dim = 16,
                               .out_dim = 16,
                               .mask = Mask::kNone,
                               .readout = Readout::kAll,
                               .score_scale = 0.25,
                               .biases = false,
                               .kv_heads = 1,
                               .attention = Attention::kSoftmax,
                               .layers = 1}));
  EXPECT_EQ(c.policy.precision, Precision::kFloat64);
  EXPECT_EQ(c.policy.noise_sigma, 0.0);
  EXPECT_EQ(c.policy.budget, (Budget{.queries = 100'000, .tokens = 1'000'000}));
  EXPECT_EQ(c.policy.limits, (Limits{.max_abs_input = 1000,
                                     .max_tokens_per_sequence = 512,
                                     .max_sequences_per_request = 1024,
                                     .max_tokens_per_request = 65'536}));
  EXPECT_EQ(c.prior.scale, 0.25);
}

TEST(DefaultChallengesTest, VariantsDifferWhereDocumented) {
  EXPECT_EQ(BuiltIn("single-head-causal-d16").spec.mask, Mask::kCausal);
  EXPECT_EQ(BuiltIn("last-token-d16").spec.readout, Readout::kLast);

  const ChallengeConfig two = BuiltIn("two-head-d16");
  EXPECT_EQ(two.spec.heads, 2);
  EXPECT_EQ(two.spec.head_dim, 8);
  EXPECT_EQ(two.spec.value_dim, 8);
  EXPECT_EQ(two.spec.out_dim, 16);
  EXPECT_EQ(two.spec.score_scale, 1 / std::sqrt(8.0));

  const ChallengeConfig noisy = BuiltIn("noisy-single-head-d16");
  EXPECT_EQ(noisy.policy.noise_sigma, 1e-3);
  EXPECT_EQ(noisy.policy.budget,
            (Budget{.queries = 100'000, .tokens = 20'000}));

  EXPECT_EQ(BuiltIn("float32-single-head-d16").policy.precision,
            Precision::kFloat32);
}

// Every bad set is INVALID_ARGUMENT naming the source and each of `parts`.
void ExpectInvalidSet(const std::string& text,
                      std::initializer_list<std::string> parts) {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(text, "test.textproto");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument)
      << set.status();
  EXPECT_THAT(MessageOf(set.status()), HasSubstr("test.textproto"));
  for (const std::string& part : parts) {
    EXPECT_THAT(MessageOf(set.status()), HasSubstr(part));
  }
}

TEST(ParseChallengeSetTest, SyntaxErrorNamesLineAndColumn) {
  ExpectInvalidSet("challenge {\n  id: \"a\"\n  bogus: 1\n}\n",
                   {"line 3, column", "no field named \"bogus\""});
}

TEST(ParseChallengeSetTest, UnclosedBlockIsASyntaxError) {
  ExpectInvalidSet("challenge { id: \"a\" spec { d_model: 4 }", {"line 1"});
}

TEST(ParseChallengeSetTest, NegativeUnsignedLimitIsASyntaxError) {
  ExpectInvalidSet(
      "challenge {\n id: \"a\" spec { d_model: 4 }\n"
      " policy { limits { max_tokens_per_sequence: -1 } }\n}",
      {"line 3"});
}

TEST(ParseChallengeSetTest, NegativeMaxAbsInputNamesChallengeAndField) {
  ExpectInvalidSet(
      "challenge { id: \"a\" spec { d_model: 4 }"
      " policy { limits { max_abs_input: -1 } } }",
      {"challenge \"a\": policy.limits.max_abs_input"});
}

TEST(ParseChallengeSetTest, DuplicateIdIsRejected) {
  ExpectInvalidSet(
      "challenge { id: \"a\" spec { d_model: 4 } }\n"
      "challenge { id: \"a\" spec { d_model: 8 } }",
      {"challenge id \"a\" is defined twice"});
}

TEST(ParseChallengeSetTest, BadIdCharactersAreRejected) {
  ExpectInvalidSet("challenge { id: \"Tiny D4\" spec { d_model: 4 } }",
                   {"challenge id \"Tiny D4\" must be 1 to 64 characters"});
}

TEST(ParseChallengeSetTest, MissingOrOverlongIdIsRejected) {
  ExpectInvalidSet("challenge { spec { d_model: 4 } }", {"challenge id \"\""});
  // StrCat, not "..." + std::string: GCC 12 reports a false -Warray-bounds
  // in the inlined operator+ when this file follows the precompiled header.
  ExpectInvalidSet(absl::StrCat("challenge { id: \"", std::string(65, 'a'),
                                "\" spec { d_model: 4 } }"),
                   {"1 to 64 characters"});
}

TEST(ParseChallengeSetTest, EmptySetIsRejected) {
  ExpectInvalidSet("", {"defines no challenge"});
  ExpectInvalidSet("# only a comment\n", {"defines no challenge"});
}

TEST(ParseChallengeSetTest, BadSpecNamesChallengeAndField) {
  ExpectInvalidSet("challenge { id: \"b\" spec { d_model: 10 heads: 3 } }",
                   {"challenge \"b\": spec.heads = 3 does not divide"});
  ExpectInvalidSet("challenge { id: \"c\" }",
                   {"challenge \"c\": spec.d_model must be set"});
}

// Access and answer-form settings that cannot be served, each refused with
// the field named.
struct BadAccess {
  std::string name;
  std::string policy;  // text of the policy block
  std::string message;
};

void PrintTo(const BadAccess& v, std::ostream* os) { *os << v.name; }

class BadAccessConfig : public ::testing::TestWithParam<BadAccess> {};

TEST_P(BadAccessConfig, IsRefusedNamingTheField) {
  ExpectInvalidSet(absl::StrCat("challenge { id: \"a\" spec { d_model: 4 "
                                "readout: READOUT_LAST } policy { ",
                                GetParam().policy, " } }"),
                   {"challenge \"a\": ", GetParam().message});
}

INSTANTIATE_TEST_SUITE_P(
    BadAccessConfigs, BadAccessConfig,
    ::testing::Values(
        BadAccess{"ExamplesWithoutTokens", "access: ACCESS_EXAMPLES",
                  "policy.examples.tokens = 0: random examples need at least "
                  "1 token"},
        BadAccess{"BothWithZeroTokens",
                  "access: ACCESS_BOTH examples { tokens: 0 }",
                  "policy.examples.tokens = 0"},
        BadAccess{"ExampleLongerThanASequence",
                  "access: ACCESS_EXAMPLES examples { tokens: 9 } limits { "
                  "max_tokens_per_sequence: 8 }",
                  "policy.examples.tokens = 9 is over "
                  "policy.limits.max_tokens_per_sequence = 8"},
        BadAccess{"ZeroScale",
                  "access: ACCESS_EXAMPLES examples { tokens: 2 scale: 0 }",
                  "policy.examples.scale = 0 must be finite and > 0"},
        BadAccess{"NegativeScale",
                  "access: ACCESS_EXAMPLES examples { inputs: INPUTS_GAUSSIAN "
                  "tokens: 2 scale: -1 }",
                  "policy.examples.scale = -1"},
        BadAccess{"NaNScale",
                  "access: ACCESS_EXAMPLES examples { tokens: 2 scale: nan }",
                  "policy.examples.scale = nan"},
        BadAccess{"ExamplesOnAQueriesOnlyChallenge", "examples { tokens: 2 }",
                  "policy.examples is set but policy.access is "
                  "ACCESS_QUERIES"},
        BadAccess{"TopKZero", "answers: ANSWERS_TOP_K",
                  "policy.top_k = 0: ANSWERS_TOP_K needs top_k >= 1"},
        BadAccess{"TopKOverOutDim", "answers: ANSWERS_TOP_K top_k: 5",
                  "policy.top_k = 5 is over spec.out_dim = 4"},
        BadAccess{"TopKWithoutTopKAnswers", "top_k: 2",
                  "policy.top_k = 2 is set but policy.answers is "
                  "ANSWERS_VALUES"},
        BadAccess{"QuantizeStepZero", "answers: ANSWERS_QUANTIZED",
                  "policy.quantize_step = 0: ANSWERS_QUANTIZED needs a finite "
                  "step > 0"},
        BadAccess{"QuantizeStepNegative",
                  "answers: ANSWERS_QUANTIZED quantize_step: -0.5",
                  "policy.quantize_step = -0.5"},
        BadAccess{"QuantizeStepNaN",
                  "answers: ANSWERS_QUANTIZED quantize_step: nan",
                  "policy.quantize_step = nan"},
        BadAccess{"QuantizeStepInfinite",
                  "answers: ANSWERS_QUANTIZED quantize_step: inf",
                  "policy.quantize_step = inf"},
        BadAccess{"QuantizeStepWithSignAnswers",
                  "answers: ANSWERS_SIGN quantize_step: 0.5",
                  "policy.quantize_step = 0.5 is set but policy.answers is "
                  "ANSWERS_SIGN"}),
    [](const ::testing::TestParamInfo<BadAccess>& info) {
      return info.param.name;
    });

TEST(ParseChallengeSetTest, SignAnswersNeedAnOutputScaleTheScoringReaches) {
  ExpectInvalidSet(
      "challenge { id: \"a\" spec { d_model: 4 readout: READOUT_LAST "
      "ffn { hidden: 4 out_dim: 1 } } policy { answers: ANSWERS_SIGN } }",
      {"challenge \"a\": ", "ANSWERS_SIGN is not offered with spec.ffn"});
  ExpectInvalidSet(
      "challenge { id: \"a\" spec { d_model: 4 residual: true } "
      "policy { answers: ANSWERS_SIGN } }",
      {"challenge \"a\": ", "ANSWERS_SIGN is not offered with spec.residual"});
  absl::StatusOr<std::vector<ChallengeConfig>> stack = ParseChallengeSet(
      "challenge { id: \"a\" spec { d_model: 4 layers: 2 } "
      "policy { answers: ANSWERS_SIGN } }",
      "test");
  EXPECT_TRUE(stack.ok()) << stack.status();
}

TEST(ParseChallengeSetTest, AccessSettingsResolveAndPrintBack) {
  absl::StatusOr<std::vector<ChallengeConfig>> set = ParseChallengeSet(
      "challenge { id: \"g\" spec { d_model: 4 } policy { access: "
      "ACCESS_BOTH examples { inputs: INPUTS_GAUSSIAN tokens: 3 } answers: "
      "ANSWERS_QUANTIZED quantize_step: 0.25 } }",
      "test");
  ASSERT_TRUE(set.ok()) << set.status();
  const AccessPolicy& p = (*set)[0].policy;
  EXPECT_EQ(p.access, Access::kBoth);
  EXPECT_EQ(p.examples.inputs, InputDistribution::kGaussian);
  EXPECT_EQ(p.examples.tokens, 3);
  EXPECT_EQ(p.examples.scale, 1.0);  // unset: 1
  EXPECT_EQ(p.answers, Answers::kQuantized);
  EXPECT_EQ(p.quantize_step, 0.25);
  // Stored as text and read back (how the SQLite store keeps a challenge).
  absl::StatusOr<ChallengeConfig> again =
      ParseChallengeConfig(ChallengeConfigToText((*set)[0]));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->policy, p);
}

TEST(ParseChallengeSetTest, NegativePriorScaleIsRejected) {
  ExpectInvalidSet(
      "challenge { id: \"p\" spec { d_model: 4 } prior { scale: -1 } }",
      {"challenge \"p\": prior.scale"});
}

// Found by fuzzing: protobuf's text parser keeps any bytes in a string, but
// a proto3 string with invalid UTF-8 makes every ListChallenges and
// DescribeChallenge answer unparseable for the clients.
TEST(ParseChallengeSetTest, TextThatIsNotUtf8IsRejected) {
  ExpectInvalidSet(
      "challenge { id: \"u\" title: \"caf\\351\" spec { d_model: 4 } }",
      {"challenge \"u\": title is not valid UTF-8"});
  ExpectInvalidSet(
      "challenge { id: \"v\" description: \"\\377\" spec { d_model: 4 } }",
      {"challenge \"v\": description is not valid UTF-8"});
  absl::StatusOr<std::vector<ChallengeConfig>> set = ParseChallengeSet(
      "challenge { id: \"w\" title: \"caf\\303\\251\" spec { d_model: 4 } }",
      "test.textproto");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->front().title, "caf\u00e9");
}

TEST(LoadChallengeSetTest, MissingFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "/no-such-config.textproto";
  absl::StatusOr<std::vector<ChallengeConfig>> set = LoadChallengeSet(path);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(set.status()), HasSubstr(path));
}

TEST(LoadChallengeSetTest, ReadsAFile) {
  const std::string path = ::testing::TempDir() + "/one.textproto";
  std::ofstream(path) << "challenge { id: \"one\" spec { d_model: 2 } }\n";
  absl::StatusOr<std::vector<ChallengeConfig>> set = LoadChallengeSet(path);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 1u);
  EXPECT_EQ((*set)[0].id, "one");
  EXPECT_EQ((*set)[0].title, "one");
}

TEST(ResolvePolicyTest, ZeroMeansDefault) {
  absl::StatusOr<AccessPolicy> p = ResolvePolicy(AccessPolicy());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->budget, (Budget{.queries = 100'000, .tokens = 1'000'000}));
  EXPECT_EQ(p->limits, (Limits{.max_abs_input = 1000,
                               .max_tokens_per_sequence = 512,
                               .max_sequences_per_request = 1024,
                               .max_tokens_per_request = 65'536}));
}

TEST(ResolvePolicyTest, KeepsExplicitValues) {
  const AccessPolicy raw{.precision = Precision::kFloat32,
                         .noise_sigma = 0.5,
                         .budget = {.queries = 3, .tokens = 4},
                         .limits = {.max_abs_input = 2,
                                    .max_tokens_per_sequence = 5,
                                    .max_sequences_per_request = 6,
                                    .max_tokens_per_request = 7},
                         .examples = {}};
  absl::StatusOr<AccessPolicy> p = ResolvePolicy(raw);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, raw);
}

// A raw policy: the given noise and precision, budget and limits unset.
AccessPolicy Policy(double noise_sigma,
                    Precision precision = Precision::kFloat64) {
  AccessPolicy p;
  p.precision = precision;
  p.noise_sigma = noise_sigma;
  return p;
}

AccessPolicy PolicyWithLimits(const Limits& limits) {
  AccessPolicy p;
  p.limits = limits;
  return p;
}

struct BadPolicy {
  std::string name;
  AccessPolicy raw;
  std::string message;
};

void PrintTo(const BadPolicy& v, std::ostream* os) { *os << v.name; }

class ResolvePolicyRejects : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(ResolvePolicyRejects, NamingTheField) {
  absl::StatusOr<AccessPolicy> p = ResolvePolicy(GetParam().raw);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(p.status()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadPolicies, ResolvePolicyRejects,
    ::testing::Values(
        BadPolicy{"NaNSigma", Policy(kNaN), "policy.noise_sigma"},
        BadPolicy{"NegativeSigma", Policy(-1), "policy.noise_sigma"},
        BadPolicy{"InfiniteMaxAbs", PolicyWithLimits({.max_abs_input = kInf}),
                  "policy.limits.max_abs_input"},
        BadPolicy{"NegativeMaxAbs", PolicyWithLimits({.max_abs_input = -2}),
                  "policy.limits.max_abs_input"},
        BadPolicy{"NegativeTokensPerSequence",
                  PolicyWithLimits({.max_tokens_per_sequence = -1}),
                  "policy.limits.max_tokens_per_sequence = -1 is negative"},
        BadPolicy{"NegativeSequencesPerRequest",
                  PolicyWithLimits({.max_sequences_per_request = -2}),
                  "policy.limits.max_sequences_per_request = -2 is negative"},
        BadPolicy{"NegativeTokensPerRequest",
                  PolicyWithLimits({.max_tokens_per_request = -3}),
                  "policy.limits.max_tokens_per_request = -3 is negative"}),
    [](const ::testing::TestParamInfo<BadPolicy>& info) {
      return info.param.name;
    });

TEST(ApplyAnswerFormTest, SignIsPlusOneFromZeroUpAndForMinusZero) {
  AccessPolicy p;
  p.answers = Answers::kSign;
  Matrix y(1, 5);
  y << -2.5, -0.0, 0.0, 1e-300, -1e-300;
  ApplyAnswerForm(p, y);
  Matrix expected(1, 5);
  expected << -1, 1, 1, 1, -1;
  EXPECT_EQ(y, expected);
}

TEST(ApplyAnswerFormTest, QuantizedRoundsToNearestMultipleTiesToEven) {
  AccessPolicy p;
  p.answers = Answers::kQuantized;
  p.quantize_step = 0.5;
  Matrix y(1, 7);
  y << 0.26, 0.24, 0.25, 0.75, -0.75, -0.1, 1.0;
  ApplyAnswerForm(p, y);
  Matrix expected(1, 7);
  expected << 0.5, 0, 0, 1, -1, 0, 1;  // 0.25 -> 0 and 0.75 -> 1: even
  EXPECT_EQ(y, expected);
  EXPECT_FALSE(std::signbit(y(0, 5)));  // -0.1 rounds to +0, not -0
}

TEST(ApplyAnswerFormTest, ValuesAreLeftAlone) {
  Matrix y(1, 2);
  y << -0.0, 3.25;
  const Matrix before = y;
  ApplyAnswerForm(AccessPolicy{}, y);
  EXPECT_EQ(y, before);
  EXPECT_TRUE(std::signbit(y(0, 0)));
}

TEST(TopKIntoTest, LargestFirstTiesByLowerIndex) {
  Matrix y(2, 4);
  y << 1, 5, 5, -2,  //
      -1, -3, -0.5, -7;
  Matrix pairs(2, 4);
  TopKInto(y, 2, pairs);
  Matrix expected(2, 4);
  expected << 1, 5, 2, 5,  //
      2, -0.5, 0, -1;
  EXPECT_EQ(pairs, expected);
}

TEST(DegradeAnswerTest, Float64WithoutNoiseLeavesTheAnswerAlone) {
  Rng rng(1);
  const Matrix exact = RandomMatrix(rng, 3, 5);
  Matrix answer = exact;
  DegradeAnswer(AccessPolicy{}, 99, 0, answer);
  EXPECT_TRUE(BitwiseEqual(answer, exact));
}

TEST(DegradeAnswerTest, Float32RoundsToNearestFloat) {
  Rng rng(2);
  const Matrix exact = RandomMatrix(rng, 4, 6, 100.0);
  Matrix answer = exact;
  DegradeAnswer(Policy(0, Precision::kFloat32), 99, 0, answer);
  for (Eigen::Index i = 0; i < exact.size(); ++i) {
    const double rounded = static_cast<float>(exact.data()[i]);
    EXPECT_EQ(answer.data()[i], rounded) << "entry " << i;
  }
  EXPECT_FALSE(BitwiseEqual(answer, exact));
}

Matrix Noise(double sigma, uint64_t seed, uint64_t index, int rows, int cols) {
  Matrix m = Matrix::Zero(rows, cols);
  DegradeAnswer(Policy(sigma), seed, index, m);
  return m;
}

TEST(DegradeAnswerTest, NoiseIsAFunctionOfSeedAndIndex) {
  const Matrix a = Noise(1e-3, 7, 5, 3, 4);
  EXPECT_TRUE(BitwiseEqual(a, Noise(1e-3, 7, 5, 3, 4)));
  EXPECT_EQ((a.array() == Noise(1e-3, 7, 6, 3, 4).array()).count(), 0);
  EXPECT_EQ((a.array() == Noise(1e-3, 8, 5, 3, 4).array()).count(), 0);
}

TEST(DegradeAnswerTest, NoiseHasTheDeclaredStandardDeviation) {
  constexpr double kSigma = 1e-3;
  const Matrix noise = Noise(kSigma, 3, 0, 200, 100);
  const double mean = noise.mean();
  const double std_dev =
      std::sqrt((noise.array() - mean).square().sum() / noise.size());
  EXPECT_NEAR(mean, 0.0, 0.05 * kSigma);
  EXPECT_NEAR(std_dev, kSigma, 0.02 * kSigma);
}

TEST(DegradeAnswerTest, NoisyFloat32AnswersAreFloats) {
  Matrix answer = Matrix::Constant(3, 3, 0.1);
  DegradeAnswer(Policy(1e-3, Precision::kFloat32), 1, 2, answer);
  for (Eigen::Index i = 0; i < answer.size(); ++i) {
    const double v = answer.data()[i];
    EXPECT_EQ(static_cast<double>(static_cast<float>(v)), v);
    EXPECT_NE(v, static_cast<double>(0.1f));
  }
}

// Every configuration file the repository ships (the README's walkthroughs
// use them) loads and validates.
TEST(ShippedConfigsTest, EveryFileInConfigsLoads) {
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(ATTNORACLE_CONFIGS_DIR)) {
    if (entry.path().extension() != ".textproto") continue;
    ++files;
    absl::StatusOr<std::vector<ChallengeConfig>> set =
        LoadChallengeSet(entry.path().string());
    ASSERT_TRUE(set.ok()) << entry.path() << ": " << set.status();
    EXPECT_FALSE(set->empty()) << entry.path();
  }
  EXPECT_GE(files, 3) << "default, bench and example challenge files";
}

}  // namespace
}  // namespace attnoracle
