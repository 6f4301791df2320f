// OutputProjection and BalanceGauge (client/learners/regress_varpro.h): the
// least-squares output projections reproduce a layer exactly, the projected
// Jacobian is orthogonal to the outputs' span, and balancing changes no
// output while equalising the factors' Gram matrices.
#include "client/learners/regress_varpro.h"

#include <gtest/gtest.h>

#include <Eigen/QR>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/attention.h"
#include "common/attention_grad.h"
#include "common/prior.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

LayerSpec Spec(Mask mask) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(
      {.d_model = 6, .heads = 2, .head_dim = 3, .value_dim = 2, .mask = mask});
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

std::vector<Matrix> Inputs(const LayerSpec& spec, uint64_t seed) {
  Rng rng(seed);
  std::vector<Matrix> inputs;
  for (int n : {4, 3, 5, 4}) {
    Matrix x(n, spec.d_model);
    for (Eigen::Index j = 0; j < x.size(); ++j) {
      x.data()[j] = rng.NextGaussian();
    }
    inputs.push_back(std::move(x));
  }
  return inputs;
}

TEST(OutputProjectionTest, AppliesToOneSoftmaxLayerWithFullOutputOnly) {
  EXPECT_TRUE(OutputProjection::Applies(Spec(Mask::kNone)));
  EXPECT_TRUE(OutputProjection::Applies(Spec(Mask::kCausal)));
  LayerSpec last = Spec(Mask::kNone);
  last.readout = Readout::kLast;
  EXPECT_FALSE(OutputProjection::Applies(last));
  LayerSpec biased = Spec(Mask::kNone);
  biased.biases = true;
  EXPECT_FALSE(OutputProjection::Applies(biased));
}

TEST(OutputProjectionTest, SolvedProjectionsReproduceTheLayer) {
  for (Mask mask : {Mask::kNone, Mask::kCausal}) {
    const LayerSpec spec = Spec(mask);
    const LayerParams secret = DrawSecret(spec, Prior{.scale = 0, .seed = 5});
    const std::vector<Matrix> inputs = Inputs(spec, 11);
    std::vector<Matrix> targets;
    for (const Matrix& x : inputs) targets.push_back(Forward(spec, secret, x));
    OutputProjection projection(spec, inputs, targets);
    Vector flat = FlattenParams(spec, secret);
    const Vector truth = flat;
    // Zero the output projections: Solve must put them back.
    Vector zeroed = Vector::Zero(flat.size());
    for (Eigen::Index c : projection.free_columns()) zeroed(c) = flat(c);
    Vector r;
    const double half_sq = projection.Solve(&zeroed, &r);
    EXPECT_LT(half_sq, 1e-24);
    // 15 tokens, 4 columns of Z: the projections are determined.
    EXPECT_LT((zeroed - truth).norm(), 1e-10 * truth.norm());
    EXPECT_EQ(r.size(), 16 * spec.out_dim);
  }
}

// Z's column c of head h, stacked over the inputs: output column 0 of the
// layer whose only nonzero output weight is head h's wo(c, 0).
Matrix OutputsSpan(const LayerSpec& spec, const LayerParams& params,
                   const std::vector<Matrix>& inputs) {
  Eigen::Index tokens = 0;
  for (const Matrix& x : inputs) tokens += x.rows();
  Matrix z(tokens, spec.heads * spec.value_dim);
  for (int h = 0; h < spec.heads; ++h) {
    for (int c = 0; c < spec.value_dim; ++c) {
      LayerParams one = params;
      for (HeadParams& head : one.heads) head.wo.setZero();
      one.heads[h].wo(c, 0) = 1;
      Eigen::Index at = 0;
      for (const Matrix& x : inputs) {
        z.block(at, h * spec.value_dim + c, x.rows(), 1) =
            Forward(spec, one, x).col(0);
        at += x.rows();
      }
    }
  }
  return z;
}

TEST(OutputProjectionTest, ProjectedJacobianIsTheComplementOfTheOutputsSpan) {
  const LayerSpec spec = Spec(Mask::kNone);
  const LayerParams start = DrawSecret(spec, Prior{.scale = 0, .seed = 6});
  const std::vector<Matrix> inputs = Inputs(spec, 12);
  std::vector<Matrix> targets;
  for (const Matrix& x : inputs) {
    targets.push_back(Matrix::Ones(x.rows(), spec.out_dim));
  }
  OutputProjection projection(spec, inputs, targets);
  Vector flat = FlattenParams(spec, start), r;
  projection.Solve(&flat, &r);
  const Matrix z = OutputsSpan(spec, start, inputs);
  // The projection acts on rows; any matrix of the Jacobian's shape will do.
  const Eigen::Index out = spec.out_dim, tokens = z.rows();
  Rng rng(3);
  Matrix jac(tokens * out, flat.size());
  for (Eigen::Index j = 0; j < jac.size(); ++j) {
    jac.data()[j] = rng.NextGaussian();
  }
  const Matrix original = jac;
  projection.ProjectJacobian(&jac);
  const std::vector<Eigen::Index>& free = projection.free_columns();
  ASSERT_EQ(jac.cols(), static_cast<Eigen::Index>(free.size()));
  const Eigen::ColPivHouseholderQR<Matrix> qr(z);
  for (Eigen::Index o = 0; o < out; ++o) {
    for (Eigen::Index j = 0; j < jac.cols(); ++j) {
      Vector projected(tokens), before(tokens);
      for (Eigen::Index t = 0; t < tokens; ++t) {
        projected(t) = jac(t * out + o, j);
        before(t) = original(t * out + o, free[j]);
      }
      // Orthogonal to span(Z), and differing from the column by a member
      // of span(Z): exactly (I - P) applied to it.
      EXPECT_LT((z.transpose() * projected).norm(),
                1e-10 * z.norm() * before.norm());
      const Vector moved = before - projected;
      EXPECT_LT((z * qr.solve(moved) - moved).norm(), 1e-10 * before.norm());
    }
  }
}

TEST(BalanceGaugeTest, KeepsTheFunctionAndEqualisesTheGramMatrices) {
  const LayerSpec spec = Spec(Mask::kCausal);
  LayerParams params = DrawSecret(spec, Prior{.scale = 0, .seed = 7});
  // Unbalance each pair by an invertible map.
  for (HeadParams& h : params.heads) {
    h.wq *= 8;
    h.wk /= 8;
    h.wv.col(0) *= 5;
    h.wo.row(0) /= 5;
  }
  Vector flat = FlattenParams(spec, params);
  const std::vector<Matrix> inputs = Inputs(spec, 13);
  EXPECT_EQ(BalanceGauge(spec, 0.5, &flat), 2 * spec.heads);
  const LayerParams balanced = UnflattenParams(spec, flat);
  for (const Matrix& x : inputs) {
    const Matrix before = Forward(spec, params, x);
    EXPECT_LT((Forward(spec, balanced, x) - before).norm(),
              1e-12 * before.norm());
  }
  for (const HeadParams& h : balanced.heads) {
    const Matrix gq = h.wq.transpose() * h.wq, gk = h.wk.transpose() * h.wk;
    EXPECT_LT((gq - gk).norm(), 1e-12 * gq.norm());
    const Matrix gv = h.wv.transpose() * h.wv, go = h.wo * h.wo.transpose();
    EXPECT_LT((gv - go).norm(), 1e-12 * gv.norm());
  }
  // Balanced pairs are left alone.
  EXPECT_EQ(BalanceGauge(spec, 0.5, &flat), 0);
}

}  // namespace
}  // namespace attnoracle
