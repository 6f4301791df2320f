// LearnRegress under the access models and answer forms, on the built-in
// challenges, against LocalOracle (no network): random examples only
// (Chen & Li), top-k and quantized answers, and the refusal of sign
// answers before anything is spent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/learners/learner.h"
#include "client/learners/query_oracle.h"
#include "common/challenge_config.h"
#include "common/examples.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MessageOf;
using ::testing::HasSubstr;

constexpr double kTargetRelErr = 1e-10;
// Far above what the fits need in an optimised build (a few seconds); only
// a slow sanitizer build comes near it.
constexpr double kTimeLimitSeconds = 300;

ChallengeConfig BuiltIn(const std::string& id) {
  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(DefaultChallengeSetText(), "built-in");
  EXPECT_TRUE(set.ok()) << set.status();
  for (const ChallengeConfig& c : *set) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no built-in challenge " << id;
  return {};
}

LocalOracle OracleFor(const ChallengeConfig& c) {
  ChallengeInfo info;
  info.id = c.id;
  info.spec = c.spec;
  info.policy = c.policy;
  return LocalOracle(info, DrawSecret(c.spec, c.prior), c.prior.seed + 1);
}

// Probes drawn from `examples`, or gaussian ones for a query challenge.
std::vector<Matrix> Probes(const ChallengeConfig& c) {
  if (AllowsQueries(c.policy)) return DrawProbeSet(c.spec, 777, 8, 16);
  Rng rng(777);
  std::vector<Matrix> probes;
  for (int i = 0; i < 64; ++i) {
    Matrix x(c.policy.examples.tokens, c.spec.d_model);
    FillFromDistribution(c.policy.examples, rng, x);
    probes.push_back(std::move(x));
  }
  return probes;
}

LearnOptions Options() {
  LearnOptions options;
  options.seed = 1;
  options.time_limit_seconds = kTimeLimitSeconds;
  return options;
}

TEST(RegressAccessTest, LearnsChenLiFromRandomSignExamplesAlone) {
  const ChallengeConfig c = BuiltIn("chen-li-signs-d8-h2");
  LocalOracle oracle = OracleFor(c);
  absl::StatusOr<LearnResult> r = LearnRegress(oracle, Options());
  ASSERT_TRUE(r.ok()) << r.status();
  const double err =
      CompareFunctions(c.spec, oracle.secret(), r->hypothesis, Probes(c))
          .rel_mse;
  EXPECT_LE(err, kTargetRelErr);
  // Every answer came from Sample (Query is refused on this challenge):
  // 2,000 tokens are 250 examples of 8 tokens.
  EXPECT_EQ(oracle.usage().queries_used, 250u);
  EXPECT_EQ(oracle.usage().tokens_used, 2000u);
}

TEST(RegressAccessTest, LearnsFromTopKAnswers) {
  const ChallengeConfig c = BuiltIn("top3-last-token-d16");
  LocalOracle oracle = OracleFor(c);
  absl::StatusOr<LearnResult> r = LearnRegress(oracle, Options());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(CompareFunctions(c.spec, oracle.secret(), r->hypothesis, Probes(c))
                .rel_mse,
            kTargetRelErr);
}

// Rounded answers leave an error of the order of the step: the fit gets
// within it, and no nearer.
TEST(RegressAccessTest, LearnsFromQuantizedAnswersToTheStepsPrecision) {
  ChallengeConfig c = BuiltIn("tiny-d4");
  c.policy.answers = Answers::kQuantized;
  c.policy.quantize_step = 1e-4;
  c.policy.budget = {};
  absl::StatusOr<ChallengeConfig> resolved = ResolveChallenge(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  LocalOracle oracle = OracleFor(*resolved);
  absl::StatusOr<LearnResult> r = LearnRegress(oracle, Options());
  ASSERT_TRUE(r.ok()) << r.status();
  const double err = CompareFunctions(c.spec, oracle.secret(), r->hypothesis,
                                      Probes(*resolved))
                         .rel_mse;
  EXPECT_LE(err, 1e-6);
  EXPECT_GT(err, 1e-16);
}

TEST(RegressAccessTest, RefusesSignAnswersBeforeSpendingAnything) {
  const ChallengeConfig c = BuiltIn("sign-scalar-d8");
  LocalOracle oracle = OracleFor(c);
  absl::StatusOr<LearnResult> r = LearnRegress(oracle, Options());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(r.status()),
              HasSubstr("answers signs only (policy.answers ANSWERS_SIGN)"));
  EXPECT_EQ(oracle.usage().queries_used, 0u);
  EXPECT_EQ(oracle.requests(), 0);
}

TEST(ProbeAccessTest, RefusesWhatItCannotSolveBeforeSpendingAnything) {
  for (const char* id :
       {"chen-li-signs-d8-h2", "sign-scalar-d8", "top3-last-token-d16"}) {
    SCOPED_TRACE(id);
    LocalOracle oracle = OracleFor(BuiltIn(id));
    absl::StatusOr<LearnResult> r = LearnProbe(oracle, Options());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("does not qualify"));
    EXPECT_EQ(oracle.requests(), 0);
  }
}

TEST(LocalOracleAccessTest, RefusesQueriesOnExamplesOnlyAndSamplesOnQueries) {
  LocalOracle examples = OracleFor(BuiltIn("chen-li-signs-d8-h2"));
  const Matrix x = Matrix::Ones(2, 8);
  EXPECT_EQ(examples.Query({&x, 1}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  LocalOracle queries = OracleFor(BuiltIn("tiny-d4"));
  EXPECT_EQ(queries.Sample(1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace attnoracle
