// Random examples (OracleCore::Sample) and answer forms (sign, top-k,
// quantized) in process: who may ask what, which examples a learner gets,
// what they cost, and that transcripts of queries and samples under every
// answer form verify after the reveal, while a tampered sample input is
// named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "client/verify.h"
#include "common/access_policy.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/examples.h"
#include "common/hashing.h"
#include "common/transcript.h"
#include "server/core/oracle_core.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::LearnerPrincipal;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::testing::HasSubstr;

constexpr int kDModel = 3;
constexpr int kExampleTokens = 4;
constexpr Budget kBudget{.queries = 50, .tokens = 200};

ChallengeConfig Config(const std::string& id, Access access,
                       Answers answers = Answers::kValues) {
  ChallengeConfig c;
  c.id = id;
  c.spec = {.d_model = kDModel, .heads = 1};
  c.prior.seed = 404;
  c.policy.access = access;
  if (access != Access::kQueries) {
    c.policy.examples.tokens = kExampleTokens;
  }
  c.policy.answers = answers;
  if (answers == Answers::kTopK) c.policy.top_k = 2;
  if (answers == Answers::kQuantized) c.policy.quantize_step = 0.125;
  c.policy.budget = kBudget;
  c.policy.limits = {.max_sequences_per_request = 4,
                     .max_tokens_per_request = 12};
  return c;
}

absl::StatusOr<QueryResult> Ask(OracleCore& core, const Principal& who,
                                const std::string& id,
                                const std::vector<Matrix>& xs,
                                std::vector<Matrix>* ys) {
  std::vector<ConstMatrixMap> maps;
  for (const Matrix& x : xs) maps.emplace_back(x.data(), x.rows(), x.cols());
  ys->assign(xs.size(), Matrix());
  return core.Query(who, id, maps, [ys](size_t i, int rows, int cols) {
    (*ys)[i].resize(rows, cols);
    return MatrixMap((*ys)[i].data(), rows, cols);
  });
}

class SampleCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const ChallengeConfig& c :
         {Config("examples", Access::kExamples), Config("both", Access::kBoth),
          Config("queries", Access::kQueries)}) {
      ASSERT_TRUE(h_.registry.Create(c).ok());
    }
  }
  std::shared_ptr<const Challenge> Find(const std::string& id) {
    return *h_.registry.Find(id);
  }

  CoreHarness h_;
  const Principal alice_ = LearnerPrincipal("alice");
  const Principal bob_ = LearnerPrincipal("bob");
};

TEST_F(SampleCoreTest, ExamplesOnlyChallengeRefusesQueries) {
  std::vector<Matrix> ys;
  Rng rng(1);
  absl::StatusOr<QueryResult> r =
      Ask(h_.core, alice_, "examples", {RandomMatrix(rng, 2, kDModel)}, &ys);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(r.status()),
              HasSubstr("answers random examples only (policy.access "
                        "ACCESS_EXAMPLES)"));
  EXPECT_EQ(h_.core.GetUsage(alice_, "examples")->queries_used, 0u);
}

TEST_F(SampleCoreTest, QueriesOnlyChallengeRefusesSample) {
  absl::StatusOr<SampleResult> r = h_.core.Sample(alice_, "queries", 1, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(r.status()),
              HasSubstr("answers queries only (policy.access ACCESS_QUERIES)"));
}

TEST_F(SampleCoreTest, TheAdminCannotSample) {
  const Principal admin{"", Role::kAdmin};
  EXPECT_EQ(h_.core.Sample(admin, "examples", 1, 0).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(SampleCoreTest, ExamplesAreTheSeededOnesAnsweredAndChargedLikeQueries) {
  const auto challenge = Find("both");
  const ChallengeConfig& c = challenge->config();
  const uint64_t seed = challenge->NoiseSeedFor("alice");
  absl::StatusOr<SampleResult> first = h_.core.Sample(alice_, "both", 3, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->first_query_index, 0u);
  EXPECT_EQ(first->usage.queries_used, 3u);
  EXPECT_EQ(first->usage.tokens_used, 3u * kExampleTokens);
  // A query in between takes the next sequence index; examples go on after.
  std::vector<Matrix> ys;
  Rng rng(2);
  ASSERT_TRUE(
      Ask(h_.core, alice_, "both", {RandomMatrix(rng, 1, kDModel)}, &ys).ok());
  absl::StatusOr<SampleResult> second =
      h_.core.Sample(alice_, "both", 2, kExampleTokens);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->first_query_index, 4u);
  EXPECT_EQ(second->usage.queries_used, 6u);
  EXPECT_EQ(second->usage.tokens_used, 5u * kExampleTokens + 1);
  for (const SampleResult* r : {&*first, &*second}) {
    ASSERT_EQ(r->inputs.size(), r->outputs.size());
    for (size_t i = 0; i < r->inputs.size(); ++i) {
      const uint64_t index = r->first_query_index + i;
      const Matrix& x = r->inputs[i];
      ASSERT_EQ(x.rows(), kExampleTokens);
      ASSERT_EQ(x.cols(), kDModel);
      // Independent of DrawExample: entries are +-1.
      EXPECT_TRUE((x.array().abs() == 1.0).all()) << x;
      EXPECT_TRUE(BitwiseEqual(
          x, DrawExample(c.policy.examples, kDModel, seed, index)));
      EXPECT_TRUE(BitwiseEqual(
          r->outputs[i],
          Forward(c.spec, challenge->SecretFor("alice")->params, x)));
    }
  }
}

TEST_F(SampleCoreTest, ExamplesDifferBetweenLearnersAndReplayBitForBit) {
  absl::StatusOr<SampleResult> a = h_.core.Sample(alice_, "examples", 3, 0);
  absl::StatusOr<SampleResult> b = h_.core.Sample(bob_, "examples", 3, 0);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  int differing = 0;
  for (size_t i = 0; i < a->inputs.size(); ++i) {
    differing += !BitwiseEqual(a->inputs[i], b->inputs[i]);
  }
  EXPECT_EQ(differing, 3);
  // A fresh server with the same configuration draws alice the same ones.
  CoreHarness other;
  ASSERT_TRUE(
      other.registry.Create(Config("examples", Access::kExamples)).ok());
  absl::StatusOr<SampleResult> again =
      other.core.Sample(alice_, "examples", 3, 0);
  ASSERT_TRUE(again.ok()) << again.status();
  for (size_t i = 0; i < a->inputs.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual(a->inputs[i], again->inputs[i])) << i;
    EXPECT_TRUE(BitwiseEqual(a->outputs[i], again->outputs[i])) << i;
  }
}

TEST_F(SampleCoreTest, GaussianExamplesHaveTheDeclaredScale) {
  ChallengeConfig c = Config("gauss", Access::kExamples);
  c.policy.examples.inputs = InputDistribution::kGaussian;
  c.policy.examples.scale = 3.0;
  c.policy.budget = {.queries = 1000, .tokens = 4000};
  c.policy.limits.max_sequences_per_request = 1000;
  c.policy.limits.max_tokens_per_request = 4000;
  ASSERT_TRUE(h_.registry.Create(c).ok());
  absl::StatusOr<SampleResult> r = h_.core.Sample(alice_, "gauss", 1000, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  double sum = 0, sq = 0, n = 0;
  for (const Matrix& x : r->inputs) {
    sum += x.sum();
    sq += x.squaredNorm();
    n += static_cast<double>(x.size());
  }
  // 12,000 draws: the standard deviation within 3%, the mean within 0.1.
  EXPECT_NEAR(std::sqrt(sq / n), 3.0, 0.09);
  EXPECT_NEAR(sum / n, 0.0, 0.1);
}

struct BadSample {
  const char* name;
  uint32_t count;
  uint32_t tokens;
  absl::StatusCode code;
  const char* message;
};

class SampleCoreBadRequest : public SampleCoreTest,
                             public ::testing::WithParamInterface<BadSample> {};

TEST_P(SampleCoreBadRequest, IsRefusedAndNothingIsCharged) {
  const BadSample& bad = GetParam();
  absl::StatusOr<SampleResult> r =
      h_.core.Sample(alice_, "examples", bad.count, bad.tokens);
  EXPECT_EQ(r.status().code(), bad.code) << r.status();
  EXPECT_THAT(MessageOf(r.status()), HasSubstr(bad.message));
  EXPECT_EQ(h_.core.GetUsage(alice_, "examples")->queries_used, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, SampleCoreBadRequest,
    ::testing::Values(
        BadSample{"ZeroCount", 0, 0, absl::StatusCode::kInvalidArgument,
                  "count = 0: ask for at least one example"},
        BadSample{"OverSequencesPerRequest", 5, 0,
                  absl::StatusCode::kInvalidArgument,
                  "count = 5 is over policy.limits.max_sequences_per_request "
                  "= 4"},
        BadSample{"OverTokensPerRequest", 4, 0,
                  absl::StatusCode::kInvalidArgument,
                  "are 16 tokens, over policy.limits.max_tokens_per_request = "
                  "12"},
        BadSample{"OtherLength", 1, 5, absl::StatusCode::kInvalidArgument,
                  "tokens = 5: the examples of challenge \"examples\" have 4 "
                  "tokens (policy.examples.tokens); send 0 or 4"}),
    [](const ::testing::TestParamInfo<BadSample>& info) {
      return info.param.name;
    });

TEST_F(SampleCoreTest, OverTheBudgetIsResourceExhausted) {
  for (int i = 0; i < 16; ++i) {  // 16 x 3 x 4 = 192 of 200 tokens
    ASSERT_TRUE(h_.core.Sample(alice_, "examples", 3, 0).ok()) << i;
  }
  absl::StatusOr<SampleResult> r = h_.core.Sample(alice_, "examples", 3, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(h_.core.GetUsage(alice_, "examples")->tokens_used, 192u);
}

// Each answer form on queries and samples, recorded in the transcript, and
// verified from the reveal.
class AnswerFormTest : public ::testing::TestWithParam<Answers> {};

TEST_P(AnswerFormTest, QueriesAndSamplesVerifyAfterTheReveal) {
  CoreHarness h;
  const ChallengeConfig raw = Config("form", Access::kBoth, GetParam());
  ASSERT_TRUE(h.registry.Create(raw).ok());
  const Principal alice = LearnerPrincipal("alice");
  const auto challenge = *h.registry.Find("form");
  const ChallengeConfig& c = challenge->config();
  const LayerParams& secret = challenge->SecretFor("alice")->params;
  const uint64_t seed = challenge->NoiseSeedFor("alice");
  Rng rng(5);
  const std::vector<Matrix> xs = {RandomMatrix(rng, 2, kDModel),
                                  RandomMatrix(rng, 3, kDModel)};
  std::vector<Matrix> ys;
  ASSERT_TRUE(Ask(h.core, alice, "form", xs, &ys).ok());
  absl::StatusOr<SampleResult> s = h.core.Sample(alice, "form", 2, 0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->answers, GetParam());
  // The answers in their form, against the layer computed here.
  for (size_t i = 0; i < xs.size(); ++i) {
    const Matrix y = Forward(c.spec, secret, xs[i]);
    const Matrix& got = ys[i];
    switch (GetParam()) {
      case Answers::kValues:
        EXPECT_TRUE(BitwiseEqual(got, y));
        break;
      case Answers::kSign:
        for (Eigen::Index j = 0; j < y.size(); ++j) {
          EXPECT_EQ(got.data()[j], y.data()[j] >= 0 ? 1.0 : -1.0);
        }
        break;
      case Answers::kQuantized:
        for (Eigen::Index j = 0; j < y.size(); ++j) {
          EXPECT_LE(std::fabs(got.data()[j] - y.data()[j]), 0.0625);
          EXPECT_EQ(std::fmod(got.data()[j], 0.125), 0.0);
        }
        break;
      case Answers::kTopK:
        ASSERT_EQ(got.cols(), 4);
        for (Eigen::Index r = 0; r < y.rows(); ++r) {
          Eigen::Index best;
          EXPECT_EQ(got(r, 1), y.row(r).maxCoeff(&best));
          EXPECT_EQ(got(r, 0), static_cast<double>(best));
          EXPECT_GE(got(r, 1), got(r, 3));
        }
        break;
    }
  }
  const Principal admin{"", Role::kAdmin};
  ASSERT_TRUE(h.core.SetPhase(admin, "form", Phase::kRevealed).ok());
  absl::StatusOr<Reveal> reveal = h.core.GetReveal(alice, "form", "");
  ASSERT_TRUE(reveal.ok()) << reveal.status();
  absl::StatusOr<TranscriptPage> page =
      h.core.GetTranscript(alice, "form", 0, 0);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->entries.size(), 2u);
  const RevealedChallenge revealed{reveal->config, reveal->secret,
                                   reveal->nonce,  reveal->config.prior.seed,
                                   seed,           reveal->commitment};
  absl::StatusOr<VerifiedTranscript> v =
      VerifyTranscript(revealed, reveal->commitment, page->entries);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->sequences, 4u);
  EXPECT_EQ(v->tokens, 5u + 2 * kExampleTokens);

  // A sample input changed (and the chain rebuilt around it) is named.
  std::vector<TranscriptEntry> tampered = page->entries;
  absl::StatusOr<DecodedRequest> request = DecodeRequest(tampered[1].request);
  ASSERT_TRUE(request.ok() && request->sample);
  request->sequences[1](0, 0) = -request->sequences[1](0, 0);
  tampered[1].request = EncodeSampleRequest(request->sequences);
  tampered[1].request_digest =
      RequestDigest(tampered[1].first_query_index, tampered[1].request);
  tampered[1].chain_hash =
      ChainHash(tampered[0].chain_hash, tampered[1].request_digest,
                tampered[1].response_digest);
  v = VerifyTranscript(revealed, reveal->commitment, tampered);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(MessageOf(v.status()),
              HasSubstr("entry 1: sample input 1 (sequence index 3) is not "
                        "the example the seed dictates"));

  // A changed answer is caught in every form.
  tampered = page->entries;
  absl::StatusOr<std::vector<Matrix>> answers =
      DecodeMatrices(tampered[1].response);
  ASSERT_TRUE(answers.ok());
  (*answers)[0](0, 1) = -(*answers)[0](0, 1) - 1;
  tampered[1].response = EncodeMatrices(*answers);
  tampered[1].response_digest = Sha256(tampered[1].response);
  tampered[1].chain_hash =
      ChainHash(tampered[0].chain_hash, tampered[1].request_digest,
                tampered[1].response_digest);
  v = VerifyTranscript(revealed, reveal->commitment, tampered);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(MessageOf(v.status()),
              HasSubstr("entry 1: answer to sample 0 differs"));
}

INSTANTIATE_TEST_SUITE_P(EveryForm, AnswerFormTest,
                         ::testing::Values(Answers::kValues, Answers::kSign,
                                           Answers::kTopK, Answers::kQuantized),
                         [](const ::testing::TestParamInfo<Answers>& info) {
                           return std::string(AnswersName(info.param))
                               .substr(8);  // after "ANSWERS_"
                         });

// A query entry on a challenge that takes examples only (a transcript
// edited to pass a chosen input off) is refused by verify.
TEST(VerifyAccessTest, AQueryEntryOnAnExamplesOnlyChallengeIsRefused) {
  CoreHarness h;
  ASSERT_TRUE(h.registry.Create(Config("both", Access::kBoth)).ok());
  const Principal alice = LearnerPrincipal("alice");
  std::vector<Matrix> ys;
  Rng rng(8);
  ASSERT_TRUE(
      Ask(h.core, alice, "both", {RandomMatrix(rng, 2, kDModel)}, &ys).ok());
  const Principal admin{"", Role::kAdmin};
  ASSERT_TRUE(h.core.SetPhase(admin, "both", Phase::kRevealed).ok());
  absl::StatusOr<Reveal> reveal = h.core.GetReveal(alice, "both", "");
  ASSERT_TRUE(reveal.ok());
  absl::StatusOr<TranscriptPage> page =
      h.core.GetTranscript(alice, "both", 0, 0);
  ASSERT_TRUE(page.ok());
  RevealedChallenge revealed{reveal->config,     reveal->secret,
                             reveal->nonce,      reveal->config.prior.seed,
                             reveal->noise_seed, reveal->commitment};
  ASSERT_TRUE(
      VerifyTranscript(revealed, reveal->commitment, page->entries).ok());
  revealed.config.policy.access = Access::kExamples;
  absl::StatusOr<VerifiedTranscript> v =
      VerifyTranscript(revealed, reveal->commitment, page->entries);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(MessageOf(v.status()),
              HasSubstr("entry 0: a query on a challenge that answers random "
                        "examples only"));
}

}  // namespace
}  // namespace attnoracle
