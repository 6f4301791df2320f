// The FFN units' parameter error: the Hungarian algorithm against brute
// force, invariance under unit permutation, positive rescaling and the
// omega / w1 gauge, the exact error of a perturbed unit, a negatively
// rescaled unit, dead units, and which classes report the error.
#include "common/ffn_comparison.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "common/layer_comparison.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::RandomMatrix;

constexpr double kEquivalentRelErr = 1e-12;
constexpr double kInf = std::numeric_limits<double>::infinity();

double TotalCost(const Matrix& cost, const std::vector<int>& assignment) {
  double total = 0;
  for (size_t i = 0; i < assignment.size(); ++i) {
    total += cost(static_cast<Eigen::Index>(i), assignment[i]);
  }
  return total;
}

double BruteForceMinimum(const Matrix& cost) {
  std::vector<int> perm(cost.rows());
  std::iota(perm.begin(), perm.end(), 0);
  double best = kInf;
  do {
    best = std::min(best, TotalCost(cost, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

void ExpectOptimalPermutation(const Matrix& cost, const std::string& what) {
  const std::vector<int> got = HungarianAssignment(cost);
  std::vector<int> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> identity(cost.rows());
  std::iota(identity.begin(), identity.end(), 0);
  ASSERT_EQ(sorted, identity) << what << ": not a permutation";
  EXPECT_NEAR(TotalCost(cost, got), BruteForceMinimum(cost), 1e-12) << what;
}

TEST(HungarianTest, MatchesBruteForceOnRandomCosts) {
  Rng rng(20);
  for (int n = 1; n <= 7; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      ExpectOptimalPermutation(
          RandomMatrix(rng, n, n).cwiseAbs(),
          "n " + std::to_string(n) + " trial " + std::to_string(trial));
    }
  }
}

// Small integer costs: many ties and several optimal matchings.
TEST(HungarianTest, MatchesBruteForceWithTiesAndNegativeCosts) {
  Rng rng(21);
  for (int n = 2; n <= 7; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      Matrix cost(n, n);
      for (Eigen::Index i = 0; i < cost.size(); ++i) {
        cost.data()[i] = static_cast<double>(rng.NextU64() % 4) - 1;
      }
      ExpectOptimalPermutation(cost, "ties n " + std::to_string(n));
    }
  }
}

TEST(HungarianTest, KnownSmallCases) {
  EXPECT_TRUE(HungarianAssignment(Matrix(0, 0)).empty());
  Matrix one(1, 1);
  one << 5;
  EXPECT_EQ(HungarianAssignment(one), std::vector<int>{0});
  Matrix cost(3, 3);
  cost << 4, 1, 3,  //
      2, 0, 5,      //
      3, 2, 2;
  EXPECT_EQ(HungarianAssignment(cost), (std::vector<int>{1, 0, 2}));
}

LayerSpec Resolved(LayerSpec raw) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

// transformer-ffn-d8's class: one head, last-token readout, 16 units, one
// output, no biases.
LayerSpec TransformerFfn() {
  return Resolved({.d_model = 8,
                   .readout = Readout::kLast,
                   .has_ffn = true,
                   .ffn = {.hidden = 16, .out_dim = 1}});
}

// Two heads, biases everywhere, three outputs.
LayerSpec BiasedTwoHeadFfn() {
  return Resolved({.d_model = 6,
                   .heads = 2,
                   .head_dim = 3,
                   .biases = true,
                   .has_ffn = true,
                   .ffn = {.hidden = 10, .out_dim = 3, .biases = true}});
}

LayerParams Secret(const LayerSpec& spec, uint64_t seed) {
  return DrawSecret(spec, Prior{.scale = 0, .seed = seed});
}

// `p` with its FFN units in the order `order`, unit k multiplied by
// scales[k] on the input side (w1 column, b1) and divided on the output
// side (w2 row); and omega moved along the gauge against w1: every wo
// times r, w1 and bo's path compensated (wo r, r^-1 w1, bo r).
LayerParams Transformed(const LayerParams& p, const std::vector<int>& order,
                        const std::vector<double>& scales, const Matrix& r) {
  LayerParams out = p;
  for (HeadParams& h : out.heads) h.wo = h.wo * r;
  if (out.bo.size() > 0) out.bo = (out.bo.transpose() * r).transpose();
  const Matrix w1 = r.inverse() * p.ffn.w1;
  for (size_t k = 0; k < order.size(); ++k) {
    const int j = order[k];
    out.ffn.w1.col(k) = scales[k] * w1.col(j);
    out.ffn.w2.row(k) = p.ffn.w2.row(j) / scales[k];
    if (p.ffn.b1.size() > 0) out.ffn.b1(k) = scales[k] * p.ffn.b1(j);
  }
  return out;
}

std::vector<int> Shuffled(int n, Rng& rng) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (int i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.NextU64() % (i + 1)]);
  }
  return order;
}

std::vector<double> PositiveScales(int n, Rng& rng) {
  std::vector<double> scales(n);
  for (double& s : scales) s = std::exp(2 * rng.NextGaussian());
  return scales;
}

Matrix Invertible(int n, Rng& rng) {
  return Matrix::Identity(n, n) * 2.0 + RandomMatrix(rng, n, n, 0.5);
}

TEST(FfnComparisonTest, PermutedAndPositivelyRescaledUnitsScoreZero) {
  Rng rng(5);
  for (const LayerSpec& spec : {TransformerFfn(), BiasedTwoHeadFfn()}) {
    const LayerParams secret = Secret(spec, 11);
    const int m = spec.ffn.hidden;
    const LayerParams h =
        Transformed(secret, Shuffled(m, rng), PositiveScales(m, rng),
                    Invertible(spec.out_dim, rng));
    EXPECT_LE(CompareFfn(spec, secret, h), kEquivalentRelErr);
    EXPECT_LE(CompareFfn(spec, secret, h, /*unit_output_scale=*/true),
              kEquivalentRelErr);
    EXPECT_EQ(CompareFfn(spec, secret, secret), 0);
  }
}

// Head order is free too: the heads' slots follow theta.
TEST(FfnComparisonTest, PermutedHeadsScoreZero) {
  const LayerSpec spec = BiasedTwoHeadFfn();
  const LayerParams secret = Secret(spec, 12);
  LayerParams h = secret;
  std::swap(h.heads[0], h.heads[1]);
  EXPECT_LE(CompareFfn(spec, secret, h), kEquivalentRelErr);
}

// One unit's output row moved by delta: in canonical form that unit's
// output moves by delta ||u_j|| (u_j = omega w1_j, its input side), so the
// error is ||delta|| ||u_j|| / sqrt(sum_k (1 + ||u_k||^2 ||w2_k||^2)).
TEST(FfnComparisonTest, PerturbedUnitScoresTheExpectedError) {
  const LayerSpec spec = TransformerFfn();
  const LayerParams secret = Secret(spec, 13);
  const Matrix composed = Omega(secret.heads[0]) * secret.ffn.w1;
  double total = 0;
  for (int k = 0; k < spec.ffn.hidden; ++k) {
    total +=
        1 + composed.col(k).squaredNorm() * secret.ffn.w2.row(k).squaredNorm();
  }
  for (double delta : {1e-3, 1e-6}) {
    LayerParams h = secret;
    h.ffn.w2(3, 0) += delta;
    const double expected = delta * composed.col(3).norm() / std::sqrt(total);
    EXPECT_NEAR(CompareFfn(spec, secret, h), expected, 1e-9 * expected)
        << delta;
  }
}

// relu(-a) != -relu(a): a unit rescaled by c < 0 computes another function
// and must not score as the secret.
TEST(FfnComparisonTest, NegativelyRescaledUnitDoesNotScoreZero) {
  const LayerSpec spec = TransformerFfn();
  const LayerParams secret = Secret(spec, 14);
  LayerParams h = secret;
  h.ffn.w1.col(2) *= -2;
  h.ffn.w2.row(2) /= -2;
  const double err = CompareFfn(spec, secret, h);
  EXPECT_GT(err, 0.05);
  // The unit flipped alone is the whole difference: both its normalised
  // input (distance 2) and its output (2 ||w2_2|| ||u_2||) changed, unless
  // another unit happens to lie closer; at least the input's share counts.
  const Matrix composed = Omega(secret.heads[0]) * secret.ffn.w1;
  double total = 0;
  for (int k = 0; k < spec.ffn.hidden; ++k) {
    total +=
        1 + composed.col(k).squaredNorm() * secret.ffn.w2.row(k).squaredNorm();
  }
  EXPECT_LE(err, std::sqrt((4 + 4 * composed.col(2).squaredNorm() *
                                    secret.ffn.w2.row(2).squaredNorm()) /
                           total) *
                     (1 + 1e-12));
}

// Dead units are invisible on both sides: a unit with a zero output row
// and a unit with zero input weights (never active without a bias) may
// carry anything on their other side.
TEST(FfnComparisonTest, DeadUnitsAreDropped) {
  const LayerSpec spec = TransformerFfn();
  LayerParams secret = Secret(spec, 15);
  secret.ffn.w2.row(0).setZero();
  secret.ffn.w1.col(1).setZero();
  Rng rng(6);
  LayerParams h = secret;
  h.ffn.w1.col(0) = RandomMatrix(rng, spec.out_dim, 1);
  h.ffn.w2.row(1) = RandomMatrix(rng, 1, 1);
  EXPECT_LE(CompareFfn(spec, secret, h), kEquivalentRelErr);
  // Brought to life, a dead unit counts with its whole norm.
  LayerParams alive = h;
  alive.ffn.w2.row(0) = RandomMatrix(rng, 1, 1);
  EXPECT_GT(CompareFfn(spec, secret, alive), 0.05);
}

// Units with the same normalised input merge, their outputs added, as heads
// with equal theta do.
TEST(FfnComparisonTest, DuplicateUnitsMerge) {
  const LayerSpec spec = TransformerFfn();
  LayerParams secret = Secret(spec, 16);
  secret.ffn.w2.row(5).setZero();  // unit 5 unused in the secret
  LayerParams h = secret;
  // Split unit 4 into two copies, the second at twice the input scale.
  h.ffn.w1.col(5) = 2 * secret.ffn.w1.col(4);
  h.ffn.w2.row(4) = 0.5 * secret.ffn.w2.row(4);
  h.ffn.w2.row(5) = 0.25 * secret.ffn.w2.row(4);
  EXPECT_LE(CompareFfn(spec, secret, h), kEquivalentRelErr);
}

TEST(FfnComparisonTest, OverflowingCandidateScoresInfinity) {
  const LayerSpec spec = TransformerFfn();
  const LayerParams secret = Secret(spec, 17);
  LayerParams h = secret;
  h.ffn.w1 *= 1e300;
  h.heads[0].wo *= 1e300;
  EXPECT_EQ(CompareFfn(spec, secret, h), kInf);
}

TEST(FfnComparisonTest, IdentifiabilityByClass) {
  const ParameterIdentifiability ffn = IdentifiabilityOf(TransformerFfn());
  EXPECT_TRUE(ffn.ffn);
  EXPECT_TRUE(ffn.theta);
  EXPECT_FALSE(ffn.omega);
  EXPECT_EQ(ffn.note.find("ffn_rel_err"), std::string::npos) << ffn.note;

  const ParameterIdentifiability plain =
      IdentifiabilityOf(Resolved({.d_model = 8}));
  EXPECT_FALSE(plain.ffn);
  EXPECT_TRUE(plain.theta && plain.omega);
  EXPECT_EQ(plain.note, "no FFN block, so ffn_rel_err does not apply");

  const ParameterIdentifiability residual = IdentifiabilityOf(Resolved(
      {.d_model = 8, .has_ffn = true, .ffn = {.hidden = 4, .residual = true}}));
  EXPECT_FALSE(residual.ffn);
  EXPECT_NE(residual.note.find("residual FFN block"), std::string::npos)
      << residual.note;

  const ParameterIdentifiability stack =
      IdentifiabilityOf(Resolved({.d_model = 8,
                                  .layers = 2,
                                  .residual = true,
                                  .has_ffn = true,
                                  .ffn = {.hidden = 4}}));
  EXPECT_FALSE(stack.ffn || stack.theta || stack.omega);
  EXPECT_NE(stack.note.find("only after one softmax layer"), std::string::npos)
      << stack.note;
}

}  // namespace
}  // namespace attnoracle
