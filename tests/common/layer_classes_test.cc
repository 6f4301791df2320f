// The layer classes beyond one softmax layer (issue "seed papers' settings"):
// shared keys and values (kv_heads), linear attention, stacks with residuals
// and tied query/key weights, the ReLU feed-forward block, scalar readout.
// Each is checked against an independent long-double reference forward pass
// (masks, biases and residuals included), its gradient against central
// finite differences on the flat layout, and its spec and parameter checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/attention.h"
#include "common/attention_grad.h"
#include "common/codec.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::UniformInt;
using ::testing::HasSubstr;

constexpr double kForwardRelTol = 1e-12;
constexpr int kSpecsPerClass = 25;
constexpr double kFiniteDifferenceStep = 1e-5;
constexpr double kGradientRelTol = 1e-6;

using LongMatrix = std::vector<std::vector<long double>>;

LongMatrix ToLong(const Matrix& m) {
  LongMatrix out(m.rows(), std::vector<long double>(m.cols()));
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) out[i][j] = m(i, j);
  }
  return out;
}

// a * w + b (b may be empty).
LongMatrix Affine(const LongMatrix& a, const Matrix& w, const Vector& b) {
  LongMatrix out(a.size(), std::vector<long double>(w.cols(), 0.0L));
  for (size_t i = 0; i < a.size(); ++i) {
    for (Eigen::Index c = 0; c < w.cols(); ++c) {
      long double sum = b.size() > 0 ? b(c) : 0.0L;
      for (Eigen::Index j = 0; j < w.rows(); ++j) sum += a[i][j] * w(j, c);
      out[i][c] = sum;
    }
  }
  return out;
}

// One attention layer from its definition, for query rows `first`..n-1.
LongMatrix ReferenceLayer(const LayerSpec& spec,
                          const std::vector<HeadParams>& heads,
                          const Vector& bo, const LongMatrix& x, size_t first) {
  const size_t n = x.size();
  const size_t out_dim = heads[0].wo.cols();
  LongMatrix y(n - first, std::vector<long double>(out_dim, 0.0L));
  for (size_t i = first; i < n; ++i) {
    for (size_t c = 0; c < out_dim; ++c) {
      y[i - first][c] =
          (bo.size() > 0 ? bo(c) : 0.0L) + (spec.residual ? x[i][c] : 0.0L);
    }
  }
  for (const HeadParams& h : heads) {
    const LongMatrix q = Affine(x, h.wq, h.bq);
    const LongMatrix k = Affine(x, h.wk, h.bk);
    const LongMatrix v = Affine(x, h.wv, h.bv);
    for (size_t i = first; i < n; ++i) {
      // A causal mask hides keys after i, except for a last-position
      // readout (the last row sees every key anyway).
      const size_t visible = spec.mask == Mask::kCausal ? i + 1 : n;
      std::vector<long double> w(visible);
      for (size_t t = 0; t < visible; ++t) {
        long double s = 0;
        for (size_t j = 0; j < q[i].size(); ++j) s += q[i][j] * k[t][j];
        w[t] = s * spec.score_scale;
      }
      if (spec.attention == Attention::kSoftmax) {
        long double max = -std::numeric_limits<long double>::infinity();
        for (long double s : w) max = std::max(max, s);
        long double total = 0;
        for (long double& s : w) total += (s = std::exp(s - max));
        for (long double& s : w) s /= total;
      }
      std::vector<long double> z(v[0].size(), 0.0L);
      for (size_t t = 0; t < visible; ++t) {
        for (size_t j = 0; j < z.size(); ++j) z[j] += w[t] * v[t][j];
      }
      for (size_t c = 0; c < out_dim; ++c) {
        for (size_t j = 0; j < z.size(); ++j) {
          y[i - first][c] += z[j] * h.wo(j, c);
        }
      }
    }
  }
  return y;
}

Matrix ReferenceForward(const LayerSpec& spec, const LayerParams& p,
                        const Matrix& input) {
  LongMatrix x = ToLong(input);
  for (const AttentionLayerParams& l : p.lower_layers) {
    x = ReferenceLayer(spec, l.heads, l.bo, x, 0);
  }
  const size_t first = spec.readout == Readout::kLast ? x.size() - 1 : 0;
  LongMatrix y = ReferenceLayer(spec, p.heads, p.bo, x, first);
  if (spec.has_ffn) {
    LongMatrix hidden = Affine(y, p.ffn.w1, p.ffn.b1);
    for (auto& row : hidden) {
      for (long double& v : row) v = std::max(v, 0.0L);
    }
    LongMatrix out = Affine(hidden, p.ffn.w2, p.ffn.b2);
    if (spec.ffn.residual) {
      for (size_t i = 0; i < out.size(); ++i) {
        for (size_t c = 0; c < out[i].size(); ++c) out[i][c] += y[i][c];
      }
    }
    y = std::move(out);
  }
  Matrix result(y.size(), y[0].size());
  for (size_t i = 0; i < y.size(); ++i) {
    for (size_t c = 0; c < y[i].size(); ++c) {
      result(i, c) = static_cast<double>(y[i][c]);
    }
  }
  return result;
}

enum class Class { kShared, kLinear, kStack, kTiedStack, kFfn, kScalar };

std::string ClassName(Class c) {
  switch (c) {
    case Class::kShared:
      return "shared_kv";
    case Class::kLinear:
      return "linear";
    case Class::kStack:
      return "stack";
    case Class::kTiedStack:
      return "tied_stack";
    case Class::kFfn:
      return "ffn";
    case Class::kScalar:
      return "scalar";
  }
  return "";
}

LayerSpec RandomSpec(Rng& rng, Class c) {
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
  switch (c) {
    case Class::kShared:
      raw.heads = 2 * UniformInt(rng, 1, 2);
      raw.kv_heads = UniformInt(rng, 0, 1) ? 1 : 2;
      break;
    case Class::kLinear:
      raw.attention = Attention::kLinear;
      break;
    case Class::kStack:
      raw.layers = UniformInt(rng, 2, 3);
      raw.residual = UniformInt(rng, 0, 1) == 1;
      if (raw.residual) raw.out_dim = raw.d_model;
      raw.attention =
          UniformInt(rng, 0, 1) ? Attention::kLinear : Attention::kSoftmax;
      break;
    case Class::kTiedStack:
      raw.layers = 2;
      raw.residual = true;
      raw.tie_qk = true;
      raw.out_dim = raw.d_model;
      break;
    case Class::kFfn:
      raw.has_ffn = true;
      raw.ffn.hidden = UniformInt(rng, 1, 6);
      raw.ffn.biases = UniformInt(rng, 0, 1) == 1;
      raw.ffn.residual = UniformInt(rng, 0, 1) == 1;
      if (!raw.ffn.residual) raw.ffn.out_dim = UniformInt(rng, 1, 4);
      raw.layers = UniformInt(rng, 1, 2);
      break;
    case Class::kScalar:
      raw.readout = Readout::kLast;
      raw.out_dim = 1;
      break;
  }
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

const Class kClasses[] = {Class::kShared,    Class::kLinear, Class::kStack,
                          Class::kTiedStack, Class::kFfn,    Class::kScalar};

class LayerClassTest : public ::testing::TestWithParam<Class> {};

TEST_P(LayerClassTest, ForwardMatchesLongDoubleReference) {
  Rng rng(DeriveSeed(11, RngStream::kLearner, static_cast<int>(GetParam())));
  for (int trial = 0; trial < kSpecsPerClass; ++trial) {
    const LayerSpec spec = RandomSpec(rng, GetParam());
    // A larger scale than the prior's keeps every ReLU unit and softmax
    // away from trivial behaviour.
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.7, .seed = 100u + trial});
    ASSERT_TRUE(CheckParams(spec, p).ok()) << CheckParams(spec, p);
    const Matrix x = RandomMatrix(rng, UniformInt(rng, 1, 6), spec.d_model);
    const Matrix got = Forward(spec, p, x);
    const Matrix want = ReferenceForward(spec, p, x);
    ASSERT_EQ(got.rows(), want.rows());
    ASSERT_EQ(got.cols(), OutputDim(spec));
    EXPECT_LE((got - want).norm(), kForwardRelTol * (1 + want.norm()))
        << ClassName(GetParam()) << " trial " << trial;
  }
}

TEST_P(LayerClassTest, GradientMatchesFiniteDifferences) {
  Rng rng(DeriveSeed(12, RngStream::kLearner, static_cast<int>(GetParam())));
  for (int trial = 0; trial < kSpecsPerClass / 5; ++trial) {
    const LayerSpec spec = RandomSpec(rng, GetParam());
    std::vector<Matrix> inputs, targets;
    for (int s = 0; s < 3; ++s) {
      const Matrix x = RandomMatrix(rng, UniformInt(rng, 1, 5), spec.d_model);
      targets.push_back(
          RandomMatrix(rng, OutputRows(spec, x.rows()), OutputDim(spec)));
      inputs.push_back(x);
    }
    AttentionLoss loss(spec, inputs, targets);
    // Smaller than in the forward test: a stack of linear layers is a
    // polynomial of high degree, and finite differences of values near 1e6
    // lose the digits the comparison needs.
    const LayerParams p =
        DrawSecret(spec, Prior{.scale = 0.4, .seed = 200u + trial});
    Vector flat = FlattenParams(spec, p);
    ASSERT_EQ(flat.size(), ParamCount(spec));
    // The flat layout round-trips to the same (shared, tied) parameters.
    const LayerParams back = UnflattenParams(spec, flat);
    ASSERT_TRUE(CheckParams(spec, back).ok()) << CheckParams(spec, back);
    Vector grad;
    const double l0 = loss.Evaluate(flat, &grad);
    double l_check = 0;
    for (size_t s = 0; s < inputs.size(); ++s) {
      l_check +=
          0.5 *
          (ReferenceForward(spec, p, inputs[s]) - targets[s]).squaredNorm();
    }
    EXPECT_NEAR(l0, l_check, 1e-10 * (1 + l_check));
    for (Eigen::Index i = 0; i < flat.size(); ++i) {
      Vector plus = flat, minus = flat;
      plus(i) += kFiniteDifferenceStep;
      minus(i) -= kFiniteDifferenceStep;
      const double numeric =
          (loss.Evaluate(plus, nullptr) - loss.Evaluate(minus, nullptr)) /
          (2 * kFiniteDifferenceStep);
      // ReLU kinks are met with probability ~0 at random points.
      EXPECT_NEAR(grad(i), numeric, kGradientRelTol * (1 + std::abs(numeric)))
          << ClassName(GetParam()) << " trial " << trial << " entry " << i;
    }
  }
}

TEST_P(LayerClassTest, WireAndCommitmentRoundTrip) {
  Rng rng(DeriveSeed(13, RngStream::kLearner, static_cast<int>(GetParam())));
  const LayerSpec spec = RandomSpec(rng, GetParam());
  const LayerParams p = DrawSecret(spec, Prior{.scale = 0.5, .seed = 3});
  v1::LayerParams wire;
  ParamsToProto(p, &wire);
  absl::StatusOr<LayerParams> back = ParamsFromProto(wire, spec);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeParams(*back), EncodeParams(p));
  // A changed entry of the last block changes the commitment.
  LayerParams changed = *back;
  if (spec.has_ffn) {
    changed.ffn.w2(0, 0) += 1;
  } else if (!changed.lower_layers.empty()) {
    changed.lower_layers[0].heads[0].wo(0, 0) += 1;
  } else {
    changed.heads[0].wo(0, 0) += 1;
  }
  EXPECT_NE(Commitment(changed, "n"), Commitment(p, "n"));
}

INSTANTIATE_TEST_SUITE_P(Classes, LayerClassTest, ::testing::ValuesIn(kClasses),
                         [](const auto& info) {
                           return ClassName(info.param);
                         });

TEST(LayerClassSpec, RefusesBadSpecsNamingTheField) {
  struct Case {
    LayerSpec raw;
    std::string field;
  };
  LayerSpec kv{.d_model = 8, .heads = 4};
  kv.kv_heads = 3;
  LayerSpec kv_big{.d_model = 8, .heads = 2};
  kv_big.kv_heads = 4;
  LayerSpec residual{.d_model = 8, .out_dim = 4};
  residual.residual = true;
  LayerSpec tied{.d_model = 8, .heads = 2};
  tied.tie_qk = true;
  tied.kv_heads = 1;
  LayerSpec layers{.d_model = 8};
  layers.layers = kMaxLayers + 1;
  LayerSpec hidden{.d_model = 8};
  hidden.has_ffn = true;
  LayerSpec ffn_res{.d_model = 8};
  ffn_res.has_ffn = true;
  ffn_res.ffn = {.hidden = 4, .out_dim = 1, .residual = true};
  for (const Case& c :
       {Case{kv, "spec.kv_heads"}, Case{kv_big, "spec.kv_heads"},
        Case{residual, "spec.residual"}, Case{tied, "spec.tie_qk"},
        Case{layers, "spec.layers"}, Case{hidden, "spec.ffn.hidden"},
        Case{ffn_res, "spec.ffn.residual"}}) {
    absl::StatusOr<LayerSpec> s = ResolveSpec(c.raw);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(s.status()), HasSubstr(c.field));
  }
}

TEST(LayerClassSpec, DefaultsAreFilledIn) {
  LayerSpec raw{.d_model = 8, .heads = 2};
  raw.has_ffn = true;
  raw.ffn.hidden = 16;
  absl::StatusOr<LayerSpec> s = ResolveSpec(raw);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kv_heads, 2);
  EXPECT_EQ(s->layers, 1);
  EXPECT_EQ(s->ffn.out_dim, 8);
  EXPECT_EQ(OutputDim(*s), 8);
  raw.ffn.out_dim = 1;
  EXPECT_EQ(OutputDim(*ResolveSpec(raw)), 1);
}

TEST(LayerClassParams, SharingAndTyingAreEnforced) {
  LayerSpec raw{.d_model = 4, .heads = 2};
  raw.kv_heads = 1;
  const LayerSpec spec = *ResolveSpec(raw);
  LayerParams p = DrawSecret(spec, Prior{.seed = 5});
  EXPECT_EQ(p.heads[0].wk, p.heads[1].wk);
  EXPECT_EQ(p.heads[0].wv, p.heads[1].wv);
  EXPECT_NE(p.heads[0].wq, p.heads[1].wq);
  p.heads[1].wv(0, 0) += 1;
  const absl::Status s = CheckParams(spec, p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(s), HasSubstr("heads[1].wv must equal heads[0].wv"));

  LayerSpec traw{.d_model = 4, .heads = 2};
  traw.tie_qk = true;
  traw.layers = 2;
  const LayerSpec tied = *ResolveSpec(traw);
  LayerParams t = DrawSecret(tied, Prior{.seed = 5});
  EXPECT_EQ(t.lower_layers[0].heads[1].wk, t.lower_layers[0].heads[1].wq);
  t.lower_layers[0].heads[1].wk(0, 0) += 1;
  EXPECT_THAT(MessageOf(CheckParams(tied, t)),
              HasSubstr("layers[0].heads[1].wk must equal"));
  // A tied hypothesis may leave wk out; products are refused.
  v1::LayerParams wire;
  ParamsToProto(DrawSecret(tied, Prior{.seed = 6}), &wire);
  for (auto& layer : *wire.mutable_layers()) {
    for (auto& head : *layer.mutable_heads()) head.clear_wk();
  }
  EXPECT_TRUE(ParamsFromProto(wire, tied).ok());
  v1::HeadParams* first = wire.mutable_layers(0)->mutable_heads(0);
  first->clear_wq();
  first->clear_wv();
  first->clear_wo();
  MatrixToProto(Matrix::Identity(4, 4), first->mutable_theta());
  MatrixToProto(Matrix::Identity(4, 4), first->mutable_omega());
  EXPECT_THAT(MessageOf(ParamsFromProto(wire, tied).status()),
              HasSubstr("layers[0].heads[0] gives theta, omega"));
}

TEST(LayerClassParams, OneLayerBytesAreUnchangedByTheNewFields) {
  // The original encoding, written out: u32 heads, per head wq wk wv wo and
  // the (empty) biases, then bo.
  const LayerSpec spec = *ResolveSpec(LayerSpec{.d_model = 2});
  const LayerParams p = DrawSecret(spec, Prior{.seed = 1});
  const std::string bytes = EncodeParams(p);
  // 4 (head count) + 4 matrices of 2x2 (8 bytes header + 32) + 4 empty
  // vectors (8 bytes each).
  EXPECT_EQ(bytes.size(), 4u + 4 * (8 + 32) + 4 * 8);
}

}  // namespace
}  // namespace attnoracle
