// Forward() against an independent long-double reference on random specs;
// SoftmaxRows stability; ResolveSpec defaults and errors; CheckParams.
#include "common/attention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MatricesNear;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::RandomVector;
using ::attnoracle::test::UniformInt;
using ::testing::HasSubstr;

constexpr double kForwardRelTol = 1e-12;
constexpr int kSpecsPerVariant = 60;

using LongRow = std::vector<long double>;
using LongMatrix = std::vector<LongRow>;

// x * w + b (b may be empty), one row per row of x.
LongMatrix Project(const Matrix& x, const Matrix& w, const Vector& b) {
  LongMatrix out(x.rows(), LongRow(w.cols(), 0.0L));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (Eigen::Index c = 0; c < w.cols(); ++c) {
      long double sum = b.size() > 0 ? b(c) : 0.0L;
      for (Eigen::Index j = 0; j < x.cols(); ++j) sum += x(i, j) * w(j, c);
      out[i][c] = sum;
    }
  }
  return out;
}

long double Dot(const LongRow& a, const LongRow& b) {
  long double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Softmax weights of query row i over the keys it may see.
LongRow AttentionWeights(const LayerSpec& spec, const LongMatrix& q,
                         const LongMatrix& k, size_t i) {
  const size_t visible = spec.mask == Mask::kCausal ? i + 1 : k.size();
  LongRow w(visible);
  long double max = -std::numeric_limits<long double>::infinity();
  for (size_t t = 0; t < visible; ++t) {
    w[t] = Dot(q[i], k[t]) * spec.score_scale;
    max = std::max(max, w[t]);
  }
  long double total = 0;
  for (long double& v : w) total += (v = std::exp(v - max));
  for (long double& v : w) v /= total;
  return w;
}

// The layer written straight from its definition, every head, every row.
Matrix NaiveForward(const LayerSpec& spec, const LayerParams& p,
                    const Matrix& x) {
  const size_t n = x.rows();
  LongMatrix y(n, LongRow(spec.out_dim, 0.0L));
  for (const HeadParams& head : p.heads) {
    const LongMatrix q = Project(x, head.wq, head.bq);
    const LongMatrix k = Project(x, head.wk, head.bk);
    const LongMatrix v = Project(x, head.wv, head.bv);
    for (size_t i = 0; i < n; ++i) {
      const LongRow w = AttentionWeights(spec, q, k, i);
      for (int o = 0; o < spec.out_dim; ++o) {
        for (size_t t = 0; t < w.size(); ++t) {
          for (Eigen::Index c = 0; c < head.wo.rows(); ++c) {
            y[i][o] += w[t] * v[t][c] * head.wo(c, o);
          }
        }
      }
    }
  }
  const size_t first_row = spec.readout == Readout::kLast ? n - 1 : 0;
  Matrix out(n - first_row, spec.out_dim);
  for (size_t i = first_row; i < n; ++i) {
    for (int o = 0; o < spec.out_dim; ++o) {
      const long double bias = spec.biases ? p.bo(o) : 0.0L;
      out(i - first_row, o) = static_cast<double>(y[i][o] + bias);
    }
  }
  return out;
}

LayerParams RandomParams(Rng& rng, const LayerSpec& spec) {
  LayerParams p;
  p.heads.resize(spec.heads);
  for (HeadParams& h : p.heads) {
    h.wq = RandomMatrix(rng, spec.d_model, spec.head_dim);
    h.wk = RandomMatrix(rng, spec.d_model, spec.head_dim);
    h.wv = RandomMatrix(rng, spec.d_model, spec.value_dim);
    h.wo = RandomMatrix(rng, spec.value_dim, spec.out_dim);
    if (spec.biases) {
      h.bq = RandomVector(rng, spec.head_dim);
      h.bk = RandomVector(rng, spec.head_dim);
      h.bv = RandomVector(rng, spec.value_dim);
    }
  }
  if (spec.biases) p.bo = RandomVector(rng, spec.out_dim);
  return p;
}

LayerSpec RandomSpec(Rng& rng, Mask mask, Readout readout, bool biases) {
  LayerSpec raw{
      .d_model = UniformInt(rng, 1, 9),
      .heads = UniformInt(rng, 1, 3),
      .head_dim = UniformInt(rng, 1, 5),
      .value_dim = UniformInt(rng, 1, 5),
      .out_dim = UniformInt(rng, 1, 6),
      .mask = mask,
      .readout = readout,
      .score_scale = rng.NextUniform() < 0.5 ? 0 : 2 * rng.NextUniform(),
      .biases = biases};
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

std::string Describe(const LayerSpec& s, int n) {
  return absl::StrCat("d_model=", s.d_model, " heads=", s.heads,
                      " head_dim=", s.head_dim, " value_dim=", s.value_dim,
                      " out_dim=", s.out_dim, " mask=", MaskName(s.mask),
                      " readout=", ReadoutName(s.readout),
                      " scale=", s.score_scale, " biases=", s.biases, " n=", n);
}

struct Variant {
  Mask mask;
  Readout readout;
  bool biases;
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << MaskName(v.mask) << "/" << ReadoutName(v.readout)
      << (v.biases ? "/biases" : "");
}

class ForwardMatchesReference : public ::testing::TestWithParam<Variant> {};

TEST_P(ForwardMatchesReference, OnRandomSpecs) {
  const Variant v = GetParam();
  Rng rng(DeriveSeed(2024, RngStream::kLearner,
                     static_cast<uint64_t>(v.mask) * 4 +
                         static_cast<uint64_t>(v.readout) * 2 + v.biases));
  for (int trial = 0; trial < kSpecsPerVariant; ++trial) {
    const LayerSpec spec = RandomSpec(rng, v.mask, v.readout, v.biases);
    const LayerParams params = RandomParams(rng, spec);
    ASSERT_TRUE(CheckParams(spec, params).ok());
    const int n = UniformInt(rng, 1, 7);
    const Matrix x = RandomMatrix(rng, n, spec.d_model, 2.0);
    SCOPED_TRACE(Describe(spec, n));
    EXPECT_TRUE(MatricesNear(Forward(spec, params, x),
                             NaiveForward(spec, params, x), kForwardRelTol));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllVariants, ForwardMatchesReference,
    ::testing::Values(Variant{Mask::kNone, Readout::kAll, false},
                      Variant{Mask::kNone, Readout::kAll, true},
                      Variant{Mask::kNone, Readout::kLast, false},
                      Variant{Mask::kNone, Readout::kLast, true},
                      Variant{Mask::kCausal, Readout::kAll, false},
                      Variant{Mask::kCausal, Readout::kAll, true},
                      Variant{Mask::kCausal, Readout::kLast, false},
                      Variant{Mask::kCausal, Readout::kLast, true}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return absl::StrCat(MaskName(info.param.mask), "_",
                          ReadoutName(info.param.readout), "_",
                          info.param.biases ? "biases" : "nobiases");
    });

TEST(ForwardTest, IntoWritesTheSameAsForward) {
  Rng rng(5);
  const LayerSpec spec = RandomSpec(rng, Mask::kCausal, Readout::kAll, true);
  const LayerParams params = RandomParams(rng, spec);
  const Matrix x = RandomMatrix(rng, 4, spec.d_model);
  Matrix out = Matrix::Constant(4, spec.out_dim, 123.0);
  ForwardInto(spec, params, x, out);
  EXPECT_TRUE(test::BitwiseEqual(out, Forward(spec, params, x)));
}

// A small layer's intermediates are kept per thread and reused: an answer
// must not depend on what the thread computed before it.
TEST(ForwardTest, ReusedScratchGivesTheBitsOfAFreshThread) {
  Rng rng(6);
  const LayerSpec causal = RandomSpec(rng, Mask::kCausal, Readout::kAll, true);
  const LayerParams causal_params = RandomParams(rng, causal);
  const Matrix x = RandomMatrix(rng, 6, causal.d_model);
  const LayerSpec other = RandomSpec(rng, Mask::kNone, Readout::kLast, false);
  const LayerParams other_params = RandomParams(rng, other);
  const Matrix longer = RandomMatrix(rng, 11, other.d_model);

  Matrix fresh;
  std::thread([&] { fresh = Forward(causal, causal_params, x); }).join();
  const Matrix before = Forward(other, other_params, longer);
  EXPECT_TRUE(test::BitwiseEqual(Forward(causal, causal_params, x), fresh));
  // Again with storage of exactly its shape left from the call before.
  EXPECT_TRUE(test::BitwiseEqual(Forward(causal, causal_params, x), fresh));
  EXPECT_TRUE(test::BitwiseEqual(Forward(other, other_params, longer), before));
}

TEST(SoftmaxRowsTest, IsStableForHugeLogits) {
  const double inf = std::numeric_limits<double>::infinity();
  Matrix logits(4, 3);
  logits << 1000, 999, -1000,  //
      -1000, -1001, -1000,     //
      1000, 1000, 1000,        //
      -inf, 1000, -inf;
  SoftmaxRows(logits);
  ASSERT_TRUE(logits.allFinite()) << logits;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    EXPECT_NEAR(logits.row(i).sum(), 1.0, 1e-15) << "row " << i;
  }
  const double e = std::exp(-1.0);
  EXPECT_NEAR(logits(0, 0), 1 / (1 + e), 1e-15);
  EXPECT_NEAR(logits(0, 1), e / (1 + e), 1e-15);
  EXPECT_EQ(logits(0, 2), 0.0);
  EXPECT_NEAR(logits(1, 0), 1 / (2 + e), 1e-15);
  EXPECT_NEAR(logits(1, 1), e / (2 + e), 1e-15);
  EXPECT_NEAR(logits(2, 1), 1.0 / 3, 1e-15);
  EXPECT_EQ(logits(3, 0), 0.0);
  EXPECT_EQ(logits(3, 1), 1.0);
  EXPECT_EQ(logits(3, 2), 0.0);
}

// Long rows, so that vectorised code paths see the masked entries too.
TEST(SoftmaxRowsTest, MaskedEntriesGetExactlyZeroWeight) {
  const double inf = std::numeric_limits<double>::infinity();
  Matrix logits(3, 9);
  logits << -inf, 0.5, -inf, -inf, 1, -inf, -inf, 2, -inf,  //
      3, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf,    //
      -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -1000;
  const Matrix masked = (logits.array() == -inf).cast<double>();
  SoftmaxRows(logits);
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    for (Eigen::Index j = 0; j < logits.cols(); ++j) {
      if (masked(i, j) != 0) {
        EXPECT_EQ(logits(i, j), 0.0) << "entry " << i << "," << j;
      }
    }
  }
  EXPECT_EQ(logits(1, 0), 1.0);
  EXPECT_EQ(logits(2, 8), 1.0);
  EXPECT_NEAR(logits.row(0).sum(), 1.0, 1e-15);
}

TEST(ResolveSpecTest, FillsDefaults) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec({.d_model = 16});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->heads, 1);
  EXPECT_EQ(spec->head_dim, 16);
  EXPECT_EQ(spec->value_dim, 16);
  EXPECT_EQ(spec->out_dim, 16);
  EXPECT_EQ(spec->score_scale, 0.25);
  EXPECT_EQ(spec->mask, Mask::kNone);
  EXPECT_EQ(spec->readout, Readout::kAll);
  EXPECT_FALSE(spec->biases);
}

TEST(ResolveSpecTest, SplitsDModelAcrossHeads) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec({.d_model = 12, .heads = 3});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->head_dim, 4);
  EXPECT_EQ(spec->value_dim, 4);
  EXPECT_EQ(spec->out_dim, 12);
  EXPECT_EQ(spec->score_scale, 0.5);
}

TEST(ResolveSpecTest, KeepsExplicitValues) {
  const LayerSpec raw{.d_model = 12,
                      .heads = 5,
                      .head_dim = 2,
                      .value_dim = 3,
                      .out_dim = 7,
                      .mask = Mask::kCausal,
                      .readout = Readout::kLast,
                      .score_scale = 0.1,
                      .biases = true,
                      .kv_heads = 5,
                      .attention = Attention::kLinear,
                      .layers = 3,
                      .residual = false,
                      .tie_qk = true,
                      .has_ffn = true,
                      .ffn = {.hidden = 4, .out_dim = 2, .biases = true}};
  absl::StatusOr<LayerSpec> spec = ResolveSpec(raw);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec, raw);
}

TEST(ResolveSpecTest, LargestAllowedSecretFits) {
  // 4 heads of d=2048 with head_dim 512 use
  // 4 * (2*2048*512 + 2048*512 + 512*2048) = 2^24 numbers: exactly the cap.
  absl::StatusOr<LayerSpec> spec =
      ResolveSpec({.d_model = 2048, .heads = 4, .head_dim = 512});
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec = ResolveSpec(
      {.d_model = 2048, .heads = 4, .head_dim = 512, .biases = true});
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResolveSpecTest, ZeroHeadsMeansOne) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec({.d_model = 6, .heads = 0});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->heads, 1);
  EXPECT_EQ(spec->head_dim, 6);
}

struct BadSpec {
  std::string name;
  LayerSpec raw;
  std::string message;
};

void PrintTo(const BadSpec& v, std::ostream* os) { *os << v.name; }

class ResolveSpecRejects : public ::testing::TestWithParam<BadSpec> {};

TEST_P(ResolveSpecRejects, NamingTheField) {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(GetParam().raw);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(spec.status()), HasSubstr(GetParam().message));
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

INSTANTIATE_TEST_SUITE_P(
    BadSpecs, ResolveSpecRejects,
    ::testing::Values(
        BadSpec{"MissingDModel", {.d_model = 0}, "spec.d_model must be set"},
        BadSpec{"NegativeDModel", {.d_model = -4}, "spec.d_model = -4"},
        BadSpec{"HugeDModel", {.d_model = kMaxModelDim + 1}, "spec.d_model"},
        BadSpec{"HeadsNotDividing",
                {.d_model = 10, .heads = 3},
                "spec.heads = 3 does not divide spec.d_model = 10"},
        BadSpec{
            "NegativeHeads", {.d_model = 4, .heads = -1}, "spec.heads = -1"},
        BadSpec{"TooManyHeads",
                {.d_model = 4, .heads = kMaxHeads + 1, .head_dim = 1},
                "spec.heads"},
        BadSpec{"NegativeHeadDim",
                {.d_model = 4, .head_dim = -1},
                "spec.head_dim = -1"},
        BadSpec{"NegativeValueDim",
                {.d_model = 4, .value_dim = -2},
                "spec.value_dim = -2"},
        BadSpec{"NegativeOutDim",
                {.d_model = 4, .out_dim = -3},
                "spec.out_dim = -3"},
        BadSpec{"NaNScale",
                {.d_model = 4, .score_scale = kNaN},
                "spec.score_scale"},
        BadSpec{"InfiniteScale",
                {.d_model = 4, .score_scale = kInf},
                "spec.score_scale"},
        BadSpec{"NegativeScale",
                {.d_model = 4, .score_scale = -1},
                "spec.score_scale"},
        BadSpec{"TooManyParameters",
                {.d_model = kMaxModelDim,
                 .heads = kMaxHeads,
                 .head_dim = kMaxModelDim},
                "parameters; at most"}),
    [](const ::testing::TestParamInfo<BadSpec>& info) {
      return info.param.name;
    });

// A resolved spec with biases, two heads and every inner dimension distinct.
LayerSpec CheckedSpec() {
  return *ResolveSpec({.d_model = 4,
                       .heads = 2,
                       .head_dim = 3,
                       .value_dim = 2,
                       .out_dim = 5,
                       .biases = true});
}

struct BadParams {
  std::string name;
  std::function<void(LayerSpec&, LayerParams&)> spoil;
  std::string message;
};

void PrintTo(const BadParams& v, std::ostream* os) { *os << v.name; }

class CheckParamsRejects : public ::testing::TestWithParam<BadParams> {};

TEST(CheckParamsTest, AcceptsFittingParams) {
  Rng rng(3);
  const LayerSpec spec = CheckedSpec();
  EXPECT_TRUE(CheckParams(spec, RandomParams(rng, spec)).ok());
}

TEST_P(CheckParamsRejects, NamingTheField) {
  Rng rng(3);
  LayerSpec spec = CheckedSpec();
  LayerParams params = RandomParams(rng, spec);
  GetParam().spoil(spec, params);
  const absl::Status status = CheckParams(spec, params);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(status), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    BadParamsCases, CheckParamsRejects,
    ::testing::Values(
        BadParams{"MissingHead",
                  [](LayerSpec&, LayerParams& p) { p.heads.pop_back(); },
                  "params have 1 heads, spec has 2"},
        BadParams{
            "WqRows",
            [](LayerSpec&, LayerParams& p) { p.heads[1].wq.resize(3, 3); },
            "heads[1].wq has shape 3x3, expected 4x3"},
        BadParams{
            "WkInnerDim",
            [](LayerSpec&, LayerParams& p) { p.heads[0].wk.resize(4, 2); },
            "heads[0].wk has shape 4x2, expected 4x3"},
        BadParams{
            "WvRows",
            [](LayerSpec&, LayerParams& p) { p.heads[0].wv.resize(5, 2); },
            "heads[0].wv has shape 5x2"},
        BadParams{
            "WoCols",
            [](LayerSpec&, LayerParams& p) { p.heads[1].wo.resize(2, 4); },
            "heads[1].wo has shape 2x4, expected 2x5"},
        BadParams{
            "EmptyWq",
            [](LayerSpec&, LayerParams& p) { p.heads[0].wq.resize(4, 0); },
            "heads[0].wq and wv need at least one column"},
        BadParams{
            "NaNInWv",
            [](LayerSpec&, LayerParams& p) { p.heads[1].wv(2, 1) = kNaN; },
            "heads[1].wv has a non-finite entry"},
        BadParams{
            "InfInWo",
            [](LayerSpec&, LayerParams& p) { p.heads[0].wo(0, 0) = kInf; },
            "heads[0].wo has a non-finite entry"},
        BadParams{"BqSize",
                  [](LayerSpec&, LayerParams& p) { p.heads[0].bq.resize(2); },
                  "heads[0].bq has 2 entries, expected 3"},
        BadParams{"NaNInBv",
                  [](LayerSpec&, LayerParams& p) { p.heads[1].bv(0) = kNaN; },
                  "heads[1].bv has a non-finite entry"},
        BadParams{"MissingBo",
                  [](LayerSpec&, LayerParams& p) { p.bo.resize(0); },
                  "bo has 0 entries, expected 5"},
        BadParams{"BiasWithoutSpecBiases",
                  [](LayerSpec& s, LayerParams&) { s.biases = false; },
                  "heads[0].bq is given but the spec has no biases"},
        BadParams{"OutputBiasWithoutSpecBiases",
                  [](LayerSpec& s, LayerParams& p) {
                    s.biases = false;
                    for (HeadParams& h : p.heads) h.bq = h.bk = h.bv = Vector();
                  },
                  "bo is given but the spec has no biases"}),
    [](const ::testing::TestParamInfo<BadParams>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace attnoracle
