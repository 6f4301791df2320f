// Symmetry-aware scoring: gauge and permutation invariance, product form,
// merging of equal-theta heads, invisible heads, errors in proportion to a
// perturbation, the optimal assignment, the probe set and the counting bound.
#include "common/layer_comparison.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::RandomVector;
using ::testing::ElementsAre;

// A hypothesis equal to the secret modulo symmetries scores within rounding.
constexpr double kParamRelTol = 1e-12;
constexpr double kFunctionalRelTol = 1e-24;
// Bits are absolute: outputs of order 1 lose a few ulp to rounding.
constexpr double kEquivalentBits = 44;
constexpr int kTypicalLengthTokens = 8;
constexpr int kSequencesPerLength = 16;
constexpr uint64_t kProbeSeed = 99;
constexpr double kInf = std::numeric_limits<double>::infinity();

LayerSpec Resolved(LayerSpec raw) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

LayerParams Secret(const LayerSpec& spec, uint64_t seed) {
  return DrawSecret(spec, Prior{.scale = 0, .seed = seed});
}

std::vector<Matrix> Probes(const LayerSpec& spec) {
  return DrawProbeSet(spec, kProbeSeed, kTypicalLengthTokens,
                      kSequencesPerLength);
}

// A well-conditioned random invertible n x n matrix.
Matrix RandomInvertible(Rng& rng, int n) {
  return Matrix::Identity(n, n) * 2.0 + RandomMatrix(rng, n, n, 0.5);
}

// `params` with heads in the order `order` and every head's factors moved
// along the gauge: wq G, wk G^-T, wv R, R^-1 wo (biases transformed to
// keep the function: bq G, bk G^-1, bv R as rows).
LayerParams Regauge(const LayerParams& params, const std::vector<int>& order,
                    Rng& rng) {
  LayerParams out;
  out.bo = params.bo;
  for (int h : order) {
    const HeadParams& in = params.heads[h];
    const int k = static_cast<int>(in.wq.cols());
    const int v = static_cast<int>(in.wv.cols());
    const Matrix g = RandomInvertible(rng, k);
    const Matrix r = RandomInvertible(rng, v);
    const Matrix g_inv = g.inverse();
    const Matrix r_inv = r.inverse();
    HeadParams head;
    head.wq = in.wq * g;
    head.wk = in.wk * g_inv.transpose();
    head.wv = in.wv * r;
    head.wo = r_inv * in.wo;
    if (in.bq.size() > 0) {
      head.bq = g.transpose() * in.bq;
      head.bk = g_inv * in.bk;
      head.bv = r.transpose() * in.bv;
    }
    out.heads.push_back(std::move(head));
  }
  return out;
}

struct Scores {
  FunctionalError f;
  ParameterError p;
};

Scores ScoreOf(const LayerSpec& spec, const LayerParams& secret,
               const LayerParams& candidate) {
  return Scores{CompareFunctions(spec, secret, candidate, Probes(spec)),
                CompareParameters(spec, secret, candidate)};
}

void ExpectPerfect(const Scores& s) {
  EXPECT_LT(s.f.rel_mse, kFunctionalRelTol);
  EXPECT_LT(s.p.theta_rel_err, kParamRelTol);
  EXPECT_LT(s.p.omega_rel_err, kParamRelTol);
  EXPECT_GE(s.f.bits, kEquivalentBits);
}

// A head with the given theta (d x d) and omega (d x out) in product form.
HeadParams ProductHead(const LayerSpec& spec, const Matrix& theta,
                       const Matrix& omega) {
  HeadParams h;
  h.wq = theta / spec.score_scale;
  h.wk = Matrix::Identity(theta.cols(), theta.cols());
  h.wv = omega;
  h.wo = Matrix::Identity(omega.cols(), omega.cols());
  return h;
}

TEST(MetricsTest, SecretAgainstItselfIsExact) {
  const LayerSpec spec = Resolved({.d_model = 8, .heads = 2, .head_dim = 4});
  const LayerParams secret = Secret(spec, 1);
  const Scores s = ScoreOf(spec, secret, secret);
  EXPECT_EQ(s.f.rel_mse, 0);
  EXPECT_EQ(s.f.max_abs_err, 0);
  EXPECT_EQ(s.f.bits, kMaxBits);
  EXPECT_EQ(s.p.theta_rel_err, 0);
  EXPECT_EQ(s.p.omega_rel_err, 0);
}

TEST(MetricsTest, GaugeAndPermutationInvariance) {
  const std::vector<LayerSpec> specs = {
      Resolved({.d_model = 16}),
      Resolved({.d_model = 16, .heads = 2, .head_dim = 8}),
      Resolved({.d_model = 12,
                .heads = 3,
                .head_dim = 3,
                .value_dim = 5,
                .out_dim = 7,
                .mask = Mask::kCausal}),
      Resolved({.d_model = 10,
                .heads = 4,
                .head_dim = 6,
                .readout = Readout::kLast}),
      Resolved({.d_model = 8, .heads = 3, .head_dim = 4, .biases = true}),
  };
  Rng rng(2024);
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(i);
    const LayerSpec& spec = specs[i];
    const LayerParams secret = Secret(spec, 100 + i);
    std::vector<int> order(spec.heads);
    std::iota(order.begin(), order.end(), 0);
    std::reverse(order.begin(), order.end());
    ExpectPerfect(ScoreOf(spec, secret, Regauge(secret, order, rng)));
  }
}

TEST(MetricsTest, ProductFormFromProtoIsPerfect) {
  const LayerSpec spec = Resolved({.d_model = 16, .heads = 2, .head_dim = 8});
  const LayerParams secret = Secret(spec, 7);
  pb::LayerParams proto;
  for (int h : {1, 0}) {  // permuted as well
    pb::HeadParams* head = proto.add_heads();
    MatrixToProto(Theta(spec, secret.heads[h]), head->mutable_theta());
    MatrixToProto(Omega(secret.heads[h]), head->mutable_omega());
  }
  absl::StatusOr<LayerParams> hypothesis = ParamsFromProto(proto, spec);
  ASSERT_TRUE(hypothesis.ok()) << hypothesis.status();
  ExpectPerfect(ScoreOf(spec, secret, *hypothesis));
}

TEST(MetricsTest, HeadsWithEqualThetaMerge) {
  const LayerSpec spec = Resolved({.d_model = 6, .heads = 2, .head_dim = 3});
  Rng rng(11);
  LayerParams secret = Secret(spec, 3);
  secret.heads[1].wq = secret.heads[0].wq;
  secret.heads[1].wk = secret.heads[0].wk;
  const Matrix theta = Theta(spec, secret.heads[0]);
  const Matrix omega_sum = Omega(secret.heads[0]) + Omega(secret.heads[1]);
  ASSERT_EQ(Canonicalize(spec, secret).size(), 1u);

  // One head carrying the summed omega, plus a zero-omega head.
  LayerParams merged;
  merged.heads.push_back(
      ProductHead(spec, RandomMatrix(rng, 6, 6), Matrix::Zero(6, 6)));
  merged.heads.push_back(ProductHead(spec, theta, omega_sum));
  ExpectPerfect(ScoreOf(spec, secret, merged));

  // The same theta twice with the omega split differently.
  LayerParams split;
  split.heads.push_back(ProductHead(spec, theta, 0.3 * omega_sum));
  split.heads.push_back(ProductHead(spec, theta, 0.7 * omega_sum));
  ExpectPerfect(ScoreOf(spec, secret, split));

  // A single head (fewer than the spec has) compares the same way.
  LayerParams one;
  one.heads.push_back(ProductHead(spec, theta, omega_sum));
  const ParameterError p = CompareParameters(spec, secret, one);
  EXPECT_LT(p.theta_rel_err, kParamRelTol);
  EXPECT_LT(p.omega_rel_err, kParamRelTol);
}

TEST(MetricsTest, ZeroOmegaHeadIsIgnored) {
  const LayerSpec spec = Resolved({.d_model = 8, .heads = 3, .head_dim = 4});
  Rng rng(5);
  LayerParams secret = Secret(spec, 9);
  secret.heads[2].wo.setZero();  // an invisible secret head
  ASSERT_EQ(Canonicalize(spec, secret).size(), 2u);

  LayerParams hypothesis;
  hypothesis.heads = {secret.heads[1], secret.heads[0], secret.heads[2]};
  hypothesis.heads[2].wq = RandomMatrix(rng, 8, 4);  // another invisible one
  hypothesis.heads[2].wv.setZero();
  hypothesis.heads[2].wo = RandomMatrix(rng, 4, 8);
  ExpectPerfect(ScoreOf(spec, secret, hypothesis));
}

TEST(MetricsTest, MissingHeadCountsWithItsWholeNorm) {
  const LayerSpec spec = Resolved({.d_model = 8, .heads = 2, .head_dim = 4});
  const LayerParams secret = Secret(spec, 21);
  LayerParams hypothesis = secret;
  hypothesis.heads[1].wo.setZero();
  const ParameterError p = CompareParameters(spec, secret, hypothesis);
  const double t0 = Theta(spec, secret.heads[0]).squaredNorm();
  const double t1 = Theta(spec, secret.heads[1]).squaredNorm();
  const double o0 = Omega(secret.heads[0]).squaredNorm();
  const double o1 = Omega(secret.heads[1]).squaredNorm();
  EXPECT_NEAR(p.theta_rel_err, std::sqrt(t1 / (t0 + t1)), 1e-12);
  EXPECT_NEAR(p.omega_rel_err, std::sqrt(o1 / (o0 + o1)), 1e-12);
}

TEST(MetricsTest, ErrorGrowsInProportionToThePerturbation) {
  const LayerSpec spec = Resolved({.d_model = 16, .heads = 2, .head_dim = 8});
  const LayerParams secret = Secret(spec, 31);
  const std::vector<Matrix> probes = Probes(spec);
  Rng rng(77);
  LayerParams noise = secret;
  for (HeadParams& h : noise.heads) {
    for (Matrix* m : {&h.wq, &h.wk, &h.wv, &h.wo}) {
      *m = RandomMatrix(rng, static_cast<int>(m->rows()),
                        static_cast<int>(m->cols()));
    }
  }
  std::vector<double> functional_per_eps2, theta_per_eps, omega_per_eps;
  double previous = kInf;
  for (double eps : {1e-3, 1e-4, 1e-5}) {
    LayerParams perturbed = secret;
    for (size_t h = 0; h < secret.heads.size(); ++h) {
      perturbed.heads[h].wq += eps * noise.heads[h].wq;
      perturbed.heads[h].wk += eps * noise.heads[h].wk;
      perturbed.heads[h].wv += eps * noise.heads[h].wv;
      perturbed.heads[h].wo += eps * noise.heads[h].wo;
    }
    const FunctionalError f = CompareFunctions(spec, secret, perturbed, probes);
    const ParameterError p = CompareParameters(spec, secret, perturbed);
    EXPECT_LT(f.rel_mse, previous);
    previous = f.rel_mse;
    EXPECT_GT(f.max_abs_err, 0);
    EXPECT_NEAR(f.bits, -std::log2(f.max_abs_err), 1e-12);
    functional_per_eps2.push_back(f.rel_mse / (eps * eps));
    theta_per_eps.push_back(p.theta_rel_err / eps);
    omega_per_eps.push_back(p.omega_rel_err / eps);
  }
  for (const std::vector<double>* ratios :
       {&functional_per_eps2, &theta_per_eps, &omega_per_eps}) {
    const auto [lo, hi] = std::minmax_element(ratios->begin(), ratios->end());
    EXPECT_GT(*lo, 0);
    EXPECT_LT(*hi / *lo, 3.0);
  }
}

TEST(MetricsTest, OverflowingHypothesisScoresInfinitelyWrong) {
  const LayerSpec spec = Resolved({.d_model = 4});
  const LayerParams secret = Secret(spec, 1);
  LayerParams huge = secret;
  huge.heads[0].wq *= 1e200;
  huge.heads[0].wk *= 1e200;
  const Scores s = ScoreOf(spec, secret, huge);
  EXPECT_EQ(s.f.rel_mse, kInf);
  EXPECT_EQ(s.f.max_abs_err, kInf);
  EXPECT_EQ(s.f.bits, -kInf);
  EXPECT_EQ(s.p.theta_rel_err, kInf);
  EXPECT_EQ(s.p.omega_rel_err, kInf);
}

// Many heads: the Hungarian path of the assignment.
TEST(MetricsTest, PermutationOfManyHeadsIsPerfect) {
  const LayerSpec spec = Resolved({.d_model = 20, .heads = 10, .head_dim = 2});
  const LayerParams secret = Secret(spec, 41);
  Rng rng(3);
  ExpectPerfect(ScoreOf(spec, secret,
                        Regauge(secret, {3, 9, 0, 5, 1, 8, 2, 7, 6, 4}, rng)));
}

double TotalCost(const Matrix& cost, const std::vector<int>& assignment) {
  double total = 0;
  for (size_t i = 0; i < assignment.size(); ++i) {
    total += cost(static_cast<Eigen::Index>(i), assignment[i]);
  }
  return total;
}

TEST(MetricsTest, HungarianMatchesBruteForce) {
  Rng rng(8);
  // Just past kMaxBruteForceHeads, so MinCostAssignment runs Hungarian.
  const int n = kMaxBruteForceHeads + 1;
  std::vector<int> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  for (int trial = 0; trial < 4; ++trial) {
    const Matrix cost = RandomMatrix(rng, n, n).cwiseAbs();
    const std::vector<int> fast = MinCostAssignment(cost);
    std::vector<int> sorted = fast;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted, identity) << "not a permutation";
    double best = kInf;
    std::vector<int> perm = identity;
    do {
      best = std::min(best, TotalCost(cost, perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
    EXPECT_NEAR(TotalCost(cost, fast), best, 1e-12) << trial;
  }
}

TEST(MetricsTest, SmallAssignmentIsOptimal) {
  Matrix cost(3, 3);
  cost << 4, 1, 3,  //
      2, 0, 5,      //
      3, 2, 2;
  EXPECT_THAT(MinCostAssignment(cost), ElementsAre(1, 0, 2));
  EXPECT_TRUE(MinCostAssignment(Matrix(0, 0)).empty());
}

TEST(MetricsTest, ProbeSetIsSeededAndShaped) {
  const LayerSpec spec = Resolved({.d_model = 5});
  const std::vector<Matrix> a = DrawProbeSet(spec, 12, 8, 3);
  const std::vector<Matrix> b = DrawProbeSet(spec, 12, 8, 3);
  const std::vector<Matrix> c = DrawProbeSet(spec, 13, 8, 3);
  ASSERT_EQ(a.size(), 12u);
  std::vector<int> lengths;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].cols(), 5);
    EXPECT_TRUE(BitwiseEqual(a[i], b[i]));
    EXPECT_FALSE(BitwiseEqual(a[i], c[i]));
    if (i % 3 == 0) lengths.push_back(static_cast<int>(a[i].rows()));
  }
  EXPECT_THAT(lengths, ElementsAre(1, 2, 8, 32));
}

TEST(MetricsTest, CountingBound) {
  const CountingBound single = CountingBoundOf(Resolved({.d_model = 16}));
  EXPECT_EQ(single.identifiable_params, 512);
  EXPECT_FALSE(single.per_sequence);
  EXPECT_EQ(single.units, 32);

  const CountingBound two =
      CountingBoundOf(Resolved({.d_model = 16, .heads = 2, .head_dim = 8}));
  EXPECT_EQ(two.identifiable_params, 768);
  EXPECT_FALSE(two.per_sequence);
  EXPECT_EQ(two.units, 48);

  const CountingBound last =
      CountingBoundOf(Resolved({.d_model = 16, .readout = Readout::kLast}));
  EXPECT_EQ(last.identifiable_params, 512);
  EXPECT_TRUE(last.per_sequence);
  EXPECT_EQ(last.units, 32);

  // Biases add a key bias of rank(theta) = 16 and an output bias of 16.
  const CountingBound biased =
      CountingBoundOf(Resolved({.d_model = 16, .biases = true}));
  EXPECT_EQ(biased.identifiable_params, 544);
  EXPECT_EQ(biased.units, 34);

  // Narrow output: omega of rank 4 in a 16 x 4 matrix.
  const CountingBound narrow =
      CountingBoundOf(Resolved({.d_model = 16, .out_dim = 4}));
  EXPECT_EQ(narrow.identifiable_params, 256 + 4 * (16 + 4 - 4));
  EXPECT_EQ(narrow.units, (256 + 64) / 4.0);
}

TEST(MetricsTest, CanonicalizeMergesAndDrops) {
  const LayerSpec spec = Resolved({.d_model = 4, .heads = 3, .head_dim = 2});
  LayerParams p = Secret(spec, 2);
  p.heads[2].wq = p.heads[0].wq * 2.0;  // theta of head 0 ...
  p.heads[2].wk = p.heads[0].wk * 0.5;  // ... through another gauge
  std::vector<CanonicalHead> c = Canonicalize(spec, p);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(c[0].omega.isApprox(Omega(p.heads[0]) + Omega(p.heads[2])));
  EXPECT_EQ(c[0].key_bias.size(), 0);

  p.heads[2].wo = -p.heads[0].wo;  // the merged omegas cancel
  p.heads[2].wv = p.heads[0].wv;
  c = Canonicalize(spec, p);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].theta.isApprox(Theta(spec, p.heads[1])));
}

}  // namespace
}  // namespace attnoracle
