// AttentionLoss against Forward() and its gradient against central finite
// differences on random specs (masks, readouts, biases, several heads,
// head_dim != value_dim != out_dim, inner dimensions other than the
// spec's); the flat layout.
#include "common/attention_grad.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/attention.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::UniformInt;

constexpr int kRandomSpecs = 40;
constexpr double kFiniteDifferenceStep = 1e-5;
// Central differences err by O(step^2) ~ 1e-10 plus rounding ~ 1e-16 / step.
constexpr double kGradientRelTol = 1e-6;

LayerSpec RandomSpec(Rng& rng) {
  LayerSpec raw;
  raw.d_model = UniformInt(rng, 2, 6);
  raw.heads = UniformInt(rng, 1, 3);
  raw.head_dim = UniformInt(rng, 1, 4);
  raw.value_dim = UniformInt(rng, 1, 4);
  raw.out_dim = UniformInt(rng, 1, 5);
  raw.mask = UniformInt(rng, 0, 1) ? Mask::kCausal : Mask::kNone;
  raw.readout = UniformInt(rng, 0, 1) ? Readout::kLast : Readout::kAll;
  raw.biases = UniformInt(rng, 0, 1) == 1;
  raw.score_scale = 0.3 + rng.NextUniform();
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

std::string Describe(const LayerSpec& s) {
  return absl::StrCat(
      "d=", s.d_model, " heads=", s.heads, " k=", s.head_dim,
      " v=", s.value_dim, " out=", s.out_dim, " mask=", MaskName(s.mask),
      " readout=", ReadoutName(s.readout), " biases=", s.biases);
}

struct Batch {
  std::vector<Matrix> inputs, targets;
};

Batch RandomBatch(Rng& rng, const LayerSpec& spec, int sequences) {
  Batch b;
  for (int i = 0; i < sequences; ++i) {
    const int n = UniformInt(rng, 1, 5);
    b.inputs.push_back(RandomMatrix(rng, n, spec.d_model, 1.5));
    b.targets.push_back(
        RandomMatrix(rng, OutputRows(spec, n), spec.out_dim, 1.0));
  }
  return b;
}

double DirectLoss(const LayerSpec& spec, const LayerParams& p, const Batch& b) {
  double sum = 0;
  for (size_t i = 0; i < b.inputs.size(); ++i) {
    sum += (Forward(spec, p, b.inputs[i]) - b.targets[i]).squaredNorm();
  }
  return 0.5 * sum;
}

TEST(AttentionLossTest, LossMatchesForward) {
  Rng rng(11);
  for (int trial = 0; trial < kRandomSpecs; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.7, .seed = rng.NextU64()});
    const Batch b = RandomBatch(rng, spec, UniformInt(rng, 1, 6));
    AttentionLoss loss(spec, b.inputs, b.targets);
    const double expected = DirectLoss(spec, p, b);
    EXPECT_NEAR(loss.Evaluate(p, nullptr), expected, 1e-12 * expected);
    double sq = 0;
    for (const Matrix& t : b.targets) sq += t.squaredNorm();
    EXPECT_NEAR(loss.target_sq_norm(), sq, 1e-12 * sq);
  }
}

TEST(AttentionLossTest, GradientMatchesCentralDifferences) {
  Rng rng(12);
  for (int trial = 0; trial < kRandomSpecs; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.7, .seed = rng.NextU64()});
    const Batch b = RandomBatch(rng, spec, UniformInt(rng, 1, 6));
    AttentionLoss loss(spec, b.inputs, b.targets);

    const Vector theta = FlattenParams(spec, p);
    Vector grad;
    loss.Evaluate(theta, &grad);
    ASSERT_EQ(grad.size(), theta.size());

    Vector numeric(theta.size());
    Vector probe = theta;
    for (Eigen::Index i = 0; i < theta.size(); ++i) {
      probe(i) = theta(i) + kFiniteDifferenceStep;
      const double up = loss.Evaluate(probe, nullptr);
      probe(i) = theta(i) - kFiniteDifferenceStep;
      const double down = loss.Evaluate(probe, nullptr);
      probe(i) = theta(i);
      numeric(i) = (up - down) / (2 * kFiniteDifferenceStep);
    }
    const double scale = std::max(numeric.cwiseAbs().maxCoeff(), 1e-8);
    for (Eigen::Index i = 0; i < theta.size(); ++i) {
      EXPECT_NEAR(grad(i), numeric(i), kGradientRelTol * scale)
          << "parameter " << i << " of " << theta.size();
    }
  }
}

// Inner dimensions other than the spec's (a hypothesis in product form, for
// instance) work through the structured interface.
TEST(AttentionLossTest, OtherInnerDimensions) {
  Rng rng(16);
  for (int trial = 0; trial < 10; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    LayerSpec wide = spec;
    wide.head_dim += 2;
    wide.value_dim += 1;
    const Batch b = RandomBatch(rng, spec, 4);
    AttentionLoss loss(spec, b.inputs, b.targets);
    const Vector theta = FlattenParams(
        wide, DrawSecret(wide, Prior{.scale = 0.7, .seed = rng.NextU64()}));
    auto eval = [&](const Vector& t, Vector* grad) {
      LayerParams g;
      const LayerParams p = UnflattenParams(wide, t);
      const double l = loss.Evaluate(p, grad ? &g : nullptr);
      EXPECT_NEAR(l, DirectLoss(spec, p, b), 1e-12 * l);
      if (grad) *grad = FlattenParams(wide, g);
      return l;
    };
    Vector grad;
    eval(theta, &grad);
    Vector probe = theta;
    double worst = 0, scale = 1e-8;
    for (Eigen::Index i = 0; i < theta.size(); ++i) {
      probe(i) = theta(i) + kFiniteDifferenceStep;
      const double up = eval(probe, nullptr);
      probe(i) = theta(i) - kFiniteDifferenceStep;
      const double down = eval(probe, nullptr);
      probe(i) = theta(i);
      const double numeric = (up - down) / (2 * kFiniteDifferenceStep);
      worst = std::max(worst, std::abs(grad(i) - numeric));
      scale = std::max(scale, std::abs(numeric));
    }
    EXPECT_LE(worst, kGradientRelTol * scale);
  }
}

TEST(AttentionLossTest, StructuredAndFlatGradientsAgree) {
  Rng rng(13);
  for (int trial = 0; trial < 10; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.7, .seed = rng.NextU64()});
    const Batch b = RandomBatch(rng, spec, 4);
    AttentionLoss loss(spec, b.inputs, b.targets);
    LayerParams grad;
    const double l1 = loss.Evaluate(p, &grad);
    Vector flat_grad;
    const double l2 = loss.Evaluate(FlattenParams(spec, p), &flat_grad);
    EXPECT_EQ(l1, l2);
    EXPECT_TRUE(BitwiseEqual(FlattenParams(spec, grad), flat_grad));
  }
}

TEST(AttentionLossTest, ZeroLossAndGradientAtTheTruth) {
  Rng rng(14);
  for (int trial = 0; trial < 10; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.7, .seed = rng.NextU64()});
    Batch b = RandomBatch(rng, spec, 5);
    for (size_t i = 0; i < b.inputs.size(); ++i) {
      b.targets[i] = Forward(spec, p, b.inputs[i]);
    }
    AttentionLoss loss(spec, b.inputs, b.targets);
    Vector grad;
    EXPECT_LE(loss.Evaluate(FlattenParams(spec, p), &grad),
              1e-28 * loss.target_sq_norm());
    EXPECT_LE(grad.cwiseAbs().maxCoeff(), 1e-12);
  }
}

TEST(FlattenParamsTest, RoundTripAndCount) {
  Rng rng(15);
  for (int trial = 0; trial < kRandomSpecs; ++trial) {
    const LayerSpec spec = RandomSpec(rng);
    SCOPED_TRACE(Describe(spec));
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 1.0, .seed = rng.NextU64()});
    const Vector flat = FlattenParams(spec, p);
    ASSERT_EQ(flat.size(), ParamCount(spec));
    const LayerParams back = UnflattenParams(spec, flat);
    ASSERT_TRUE(CheckParams(spec, back).ok());
    for (size_t h = 0; h < p.heads.size(); ++h) {
      EXPECT_TRUE(BitwiseEqual(back.heads[h].wq, p.heads[h].wq));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].wk, p.heads[h].wk));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].wv, p.heads[h].wv));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].wo, p.heads[h].wo));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].bq, p.heads[h].bq));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].bk, p.heads[h].bk));
      EXPECT_TRUE(BitwiseEqual(back.heads[h].bv, p.heads[h].bv));
    }
    EXPECT_TRUE(BitwiseEqual(back.bo, p.bo));
  }
}

// The flat layout is the order DrawSecret draws in, so a secret's flat
// vector is its gaussian stream scaled.
TEST(FlattenParamsTest, LayoutIsTheDrawOrder) {
  LayerSpec raw{.d_model = 5,
                .heads = 2,
                .head_dim = 3,
                .value_dim = 2,
                .out_dim = 4,
                .biases = true};
  const LayerSpec spec = *ResolveSpec(raw);
  const Prior prior{.scale = 0.5, .seed = 99};
  const Vector flat = FlattenParams(spec, DrawSecret(spec, prior));
  Rng rng(DeriveSeed(prior.seed, RngStream::kSecret, 0));
  for (Eigen::Index i = 0; i < flat.size(); ++i) {
    ASSERT_EQ(flat(i), prior.scale * rng.NextGaussian()) << "entry " << i;
  }
}

}  // namespace
}  // namespace attnoracle
