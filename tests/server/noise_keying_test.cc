// The noise of answers is keyed by the learner, also when learners share
// one secret: two accounts asking at the same query index get independent
// noise of the declared size, so subtracting their answers leaves noise,
// not the noise-free difference of the layer's outputs. Each learner's
// reveal names its own noise seed, which replays its answers bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/access_policy.h"
#include "common/attention.h"
#include "common/challenge_config.h"
#include "common/rng.h"
#include "server/core/challenge_registry.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::AdminPrincipal;
using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::LearnerPrincipal;
using ::attnoracle::test::RandomMatrix;

constexpr char kShared[] = "shared-noisy";
constexpr int kDModel = 4;
constexpr int kTokens = 64;  // 256 noisy entries per answer
constexpr double kNoiseSigma = 1e-3;
constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

ChallengeConfig SharedNoisyChallenge() {
  ChallengeConfig c;
  c.id = kShared;
  c.spec = {.d_model = kDModel};
  c.prior.seed = 31;
  c.policy.noise_sigma = kNoiseSigma;
  return c;
}

double RootMeanSquare(const Matrix& m) {
  return std::sqrt(m.squaredNorm() / static_cast<double>(m.size()));
}

class NoiseKeyingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.registry.Create(SharedNoisyChallenge()).ok());
  }

  // The answer to one sequence, asked by `learner` as its first query.
  Matrix FirstAnswer(const std::string& learner, const Matrix& x) {
    std::vector<ConstMatrixMap> maps = {
        ConstMatrixMap(x.data(), x.rows(), x.cols())};
    Matrix y;
    absl::StatusOr<QueryResult> r =
        h_.core.Query(LearnerPrincipal(learner), kShared, maps,
                      [&y](size_t, int rows, int cols) {
                        y.resize(rows, cols);
                        return MatrixMap(y.data(), rows, cols);
                      });
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r.ok() ? r->first_query_index : 1u, 0u);
    return y;
  }

  const Challenge& Hidden() { return **h_.registry.Find(kShared); }

  CoreHarness h_;
  Rng rng_{5};
};

TEST_F(NoiseKeyingTest, SameQueryAtSameIndexDiffersByNoiseOfDeclaredSize) {
  const Matrix x = RandomMatrix(rng_, kTokens, kDModel);
  const Matrix alice = FirstAnswer(kAlice, x);
  const Matrix bob = FirstAnswer(kBob, x);
  ASSERT_EQ(alice.rows(), kTokens);
  ASSERT_EQ(bob.rows(), kTokens);
  // Independent noise of standard deviation sigma on each side: the
  // difference has sigma * sqrt(2).
  const Matrix difference = alice - bob;
  EXPECT_NEAR(RootMeanSquare(difference) / std::sqrt(2.0), kNoiseSigma,
              0.2 * kNoiseSigma);
  EXPECT_GT(difference.cwiseAbs().minCoeff(), 0.0);
  const Matrix exact =
      Forward(Hidden().config().spec, Hidden().SecretFor(kAlice)->params, x);
  EXPECT_NEAR(RootMeanSquare(alice - exact), kNoiseSigma, 0.2 * kNoiseSigma);
  EXPECT_NEAR(RootMeanSquare(bob - exact), kNoiseSigma, 0.2 * kNoiseSigma);
}

TEST_F(NoiseKeyingTest, SubtractingTwoAccountsAnswersLeavesNoise) {
  const Matrix x1 = RandomMatrix(rng_, kTokens, kDModel);
  const Matrix x2 = RandomMatrix(rng_, kTokens, kDModel);
  const Matrix alice = FirstAnswer(kAlice, x1);
  const Matrix bob = FirstAnswer(kBob, x2);
  const LayerSpec& spec = Hidden().config().spec;
  const LayerParams& secret = Hidden().SecretFor(kAlice)->params;
  // With noise keyed by the query index only this residual was ~1e-16.
  const Matrix residual =
      (alice - bob) - (Forward(spec, secret, x1) - Forward(spec, secret, x2));
  EXPECT_NEAR(RootMeanSquare(residual) / std::sqrt(2.0), kNoiseSigma,
              0.2 * kNoiseSigma);
}

TEST_F(NoiseKeyingTest, EachRevealNamesTheSeedThatReplaysItsAnswers) {
  const Matrix x = RandomMatrix(rng_, kTokens, kDModel);
  const std::vector<std::string> learners = {kAlice, kBob};
  std::vector<Matrix> answers;
  for (const std::string& learner : learners) {
    answers.push_back(FirstAnswer(learner, x));
  }
  ASSERT_TRUE(h_.core.SetPhase(AdminPrincipal(), kShared, Phase::kClosed).ok());
  ASSERT_TRUE(
      h_.core.SetPhase(AdminPrincipal(), kShared, Phase::kRevealed).ok());
  std::vector<uint64_t> seeds;
  for (size_t k = 0; k < learners.size(); ++k) {
    SCOPED_TRACE(learners[k]);
    absl::StatusOr<Reveal> reveal =
        h_.core.GetReveal(LearnerPrincipal(learners[k]), kShared, "");
    ASSERT_TRUE(reveal.ok()) << reveal.status();
    EXPECT_EQ(reveal->noise_seed, Hidden().NoiseSeedFor(learners[k]));
    Matrix expected = Forward(reveal->config.spec, reveal->secret, x);
    DegradeAnswer(reveal->config.policy, reveal->noise_seed, 0, expected);
    EXPECT_TRUE(BitwiseEqual(answers[k], expected));
    seeds.push_back(reveal->noise_seed);
  }
  EXPECT_NE(seeds[0], seeds[1]);
}

}  // namespace
}  // namespace attnoracle
