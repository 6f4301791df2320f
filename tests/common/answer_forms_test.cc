// The rules docs/VERIFICATION.md settles for the answer forms (section 2,
// step 3), each on deliberately built ties: the sign of +0 and -0, halfway
// values under ANSWERS_QUANTIZED, equal entries under ANSWERS_TOP_K, and the
// order noise -> precision -> answer form through AnswerTo. Each test fails
// if its rule changes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "common/access_policy.h"
#include "common/answer.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"
#include "common/rng.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kLeastSubnormal = std::numeric_limits<double>::denorm_min();

AccessPolicy Form(Answers answers, double step = 0, int top_k = 0) {
  AccessPolicy p;
  p.answers = answers;
  p.quantize_step = step;
  p.top_k = top_k;
  return p;
}

Matrix Row(std::initializer_list<double> values) {
  Matrix m(1, static_cast<Eigen::Index>(values.size()));
  Eigen::Index j = 0;
  for (double v : values) m(0, j++) = v;
  return m;
}

Matrix Quantized(double step, std::initializer_list<double> values) {
  Matrix y = Row(values);
  ApplyAnswerForm(Form(Answers::kQuantized, step), y);
  return y;
}

TEST(SignFormTest, BothZerosGivePlusOne) {
  Matrix y = Row({-0.0, 0.0, -kLeastSubnormal, kLeastSubnormal});
  ApplyAnswerForm(Form(Answers::kSign), y);
  // +1.0 and -1.0 exactly, bit for bit.
  EXPECT_TRUE(BitwiseEqual(y, Row({1.0, 1.0, -1.0, 1.0})));
}

TEST(SignFormTest, InfinitiesAndNaN) {
  Matrix y = Row({kInf, -kInf, kNaN, -kNaN});
  ApplyAnswerForm(Form(Answers::kSign), y);
  // NaN >= 0 is false: -1 whatever the NaN's sign bit.
  EXPECT_TRUE(BitwiseEqual(y, Row({1.0, -1.0, -1.0, -1.0})));
}

// Halfway values k * Q / 2, k odd, are exact in binary64 for Q = 0.5 and
// Q = 3: the quotient is exactly k / 2 and goes to the even neighbour.
TEST(QuantizedFormTest, ExactTiesGoToEven) {
  EXPECT_TRUE(BitwiseEqual(
      Quantized(0.5, {0.25, 0.75, 1.25, 1.75, -0.75, -1.25, -1.75}),
      Row({0.0, 1.0, 1.0, 2.0, -1.0, -1.0, -2.0})));
  EXPECT_TRUE(BitwiseEqual(Quantized(3, {1.5, 4.5, 7.5, -4.5, -7.5}),
                           Row({0.0, 6.0, 6.0, -6.0, -6.0})));
}

TEST(QuantizedFormTest, EveryZeroIsPlusZero) {
  // -0.5 * Q and -0.0 both give the product -0, written +0.
  EXPECT_TRUE(BitwiseEqual(Quantized(0.5, {-0.25, -0.0, -0.1, 0.0}),
                           Row({0.0, 0.0, 0.0, 0.0})));
}

// The quotient is rounded to binary64 before it is rounded to an integer,
// and the product is rounded again: with Q = 0.1 (not a binary fraction)
// decimal halfway points are not ties, and 3 steps are 3 * 0.1 in binary64.
TEST(QuantizedFormTest, QuotientAndProductAreBinary64Operations) {
  const Matrix y = Quantized(0.1, {0.15, 0.25, 0.35, -0.05});
  ASSERT_EQ(0.15 / 0.1, 1.4999999999999998);
  ASSERT_EQ(0.25 / 0.1, 2.5);
  EXPECT_TRUE(BitwiseEqual(y, Row({0.1, 2 * 0.1, 3 * 0.1, 0.0})));
  EXPECT_NE(y(0, 2), 0.3);
}

TEST(QuantizedFormTest, NonFiniteValuesAndAnOverflowingQuotient) {
  // Infinities and NaN pass through; a step so small that y / Q overflows
  // gives an infinity of y's sign.
  Matrix y = Quantized(0.5, {kInf, -kInf, kNaN});
  EXPECT_EQ(y(0, 0), kInf);
  EXPECT_EQ(y(0, 1), -kInf);
  EXPECT_TRUE(std::isnan(y(0, 2)));
  EXPECT_TRUE(BitwiseEqual(Quantized(kLeastSubnormal, {1.0, -1.0}),
                           Row({kInf, -kInf})));
}

Matrix TopK(const Matrix& values, int k) {
  Matrix pairs(values.rows(), 2 * k);
  TopKInto(values, k, pairs);
  return pairs;
}

TEST(TopKFormTest, EqualValuesGoLowerColumnFirst) {
  EXPECT_TRUE(
      BitwiseEqual(TopK(Row({1, 5, 5, -2, 5}), 3), Row({1, 5, 2, 5, 4, 5})));
  EXPECT_TRUE(BitwiseEqual(TopK(Row({-4, -4, -4, -4}), 4),
                           Row({0, -4, 1, -4, 2, -4, 3, -4})));
}

TEST(TopKFormTest, SignedZerosAreEqualAndKeepTheirBits) {
  // -0 == +0: column order decides, and each value keeps its sign bit.
  const Matrix pairs = TopK(Row({-1, -0.0, 0.0, -0.0}), 3);
  EXPECT_TRUE(BitwiseEqual(pairs, Row({1, -0.0, 2, 0.0, 3, -0.0})));
  EXPECT_TRUE(std::signbit(pairs(0, 1)));
  EXPECT_FALSE(std::signbit(pairs(0, 3)));
}

TEST(TopKFormTest, LargestFirstRowByRow) {
  Matrix y(2, 4);
  y << 0.5, -1, 3, 2,  //
      7, 7.5, -7, 8;
  Matrix want(2, 4);
  want << 2, 3, 3, 2,  //
      3, 8, 1, 7.5;
  EXPECT_TRUE(BitwiseEqual(TopK(y, 2), want));
}

TEST(TopKFormTest, NaNRanksBelowEveryNumber) {
  // Only an overflowing forward pass makes a NaN; it still has a place.
  const Matrix pairs = TopK(Row({kNaN, -kInf, kNaN, 1}), 4);
  EXPECT_EQ(pairs(0, 0), 3);
  EXPECT_EQ(pairs(0, 1), 1);
  EXPECT_EQ(pairs(0, 2), 1);
  EXPECT_EQ(pairs(0, 3), -kInf);
  EXPECT_EQ(pairs(0, 4), 0);
  EXPECT_TRUE(std::isnan(pairs(0, 5)));
  EXPECT_EQ(pairs(0, 6), 2);
  EXPECT_TRUE(std::isnan(pairs(0, 7)));
}

// A one-head layer whose weights are all zero answers bo in every row, so
// AnswerTo can be handed chosen forward outputs.
struct BiasOnlyLayer {
  LayerSpec spec;
  LayerParams params;
};

BiasOnlyLayer OutputsBo(const Matrix& bo) {
  const int d = static_cast<int>(bo.cols());
  BiasOnlyLayer l;
  l.spec = *ResolveSpec(LayerSpec{.d_model = d, .biases = true});
  HeadParams h;
  h.wq = h.wk = h.wv = h.wo = Matrix::Zero(d, d);
  h.bq = h.bk = h.bv = Vector::Zero(d);
  l.params.heads = {h};
  l.params.bo = bo.row(0).transpose();
  return l;
}

Matrix Answer(const Matrix& bo, AccessPolicy policy, uint64_t noise_seed = 0,
              uint64_t query_index = 0) {
  const BiasOnlyLayer l = OutputsBo(bo);
  EXPECT_TRUE(CheckParams(l.spec, l.params).ok());
  const absl::StatusOr<AccessPolicy> resolved = ResolvePolicy(policy);
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  return AnswerTo(l.spec, l.params, *resolved, noise_seed, query_index,
                  Matrix::Ones(2, bo.cols()));
}

TEST(AnswerOrderTest, BiasOnlyLayerAnswersItsBias) {
  const Matrix bo = Row({0.15, -2.5, 1e-50});
  const Matrix y = Answer(bo, AccessPolicy{});
  EXPECT_TRUE(BitwiseEqual(y.row(0), bo));
  EXPECT_TRUE(BitwiseEqual(y.row(1), bo));
}

// float32 first: 0.15 becomes 0.1500000059604645, whose quotient by 0.1 is
// above 1.5, so 2 steps; quantizing first would give 1 step. The result is
// 2 * 0.1 in binary64, not rounded to float32 again.
TEST(AnswerOrderTest, QuantizedAfterFloat32) {
  AccessPolicy p = Form(Answers::kQuantized, 0.1);
  p.precision = Precision::kFloat32;
  const Matrix y = Answer(Row({0.15, 0.25, -0.05}), p);
  EXPECT_TRUE(BitwiseEqual(y.row(0), Row({2 * 0.1, 2 * 0.1, -0.1})));
  EXPECT_NE(y(0, 0), static_cast<double>(static_cast<float>(0.2)));
}

// -1e-50 rounds to float32 -0, whose sign is +1.
TEST(AnswerOrderTest, SignAfterFloat32) {
  AccessPolicy p = Form(Answers::kSign);
  p.precision = Precision::kFloat32;
  EXPECT_TRUE(BitwiseEqual(Answer(Row({-1e-50, 1e-50, -1e-40}), p).row(0),
                           Row({1, 1, -1})));
  p.precision = Precision::kFloat64;
  EXPECT_TRUE(BitwiseEqual(Answer(Row({-1e-50, 1e-50, -1e-40}), p).row(0),
                           Row({-1, 1, -1})));
}

// 1.0000000001 and 1.0 are one float32: the tie goes to the lower column.
TEST(AnswerOrderTest, TopKAfterFloat32) {
  AccessPolicy p = Form(Answers::kTopK, 0, 2);
  p.precision = Precision::kFloat32;
  EXPECT_TRUE(BitwiseEqual(Answer(Row({1.0, 1.0000000001, 0.5}), p).row(0),
                           Row({0, 1, 1, 1})));
  p.precision = Precision::kFloat64;
  EXPECT_TRUE(BitwiseEqual(Answer(Row({1.0, 1.0000000001, 0.5}), p).row(0),
                           Row({1, 1.0000000001, 0, 1})));
}

// Zero outputs with noise: each sign is the sign of its noise draw.
TEST(AnswerOrderTest, SignAfterNoise) {
  constexpr double kSigma = 1e-3;
  constexpr uint64_t kSeed = 77, kIndex = 5;
  AccessPolicy p = Form(Answers::kSign);
  p.noise_sigma = kSigma;
  const Matrix y = Answer(Row({0, 0, 0, 0}), p, kSeed, kIndex);
  Rng rng(DeriveSeed(kSeed, RngStream::kNoise, kIndex));
  int negative = 0;
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    const double noise = kSigma * rng.NextGaussian();
    EXPECT_EQ(y.data()[i], noise >= 0 ? 1.0 : -1.0) << "entry " << i;
    negative += noise < 0;
  }
  // Both signs occur, so the test tells the noise from a constant.
  EXPECT_GT(negative, 0);
  EXPECT_LT(negative, y.size());
}

}  // namespace
}  // namespace attnoracle
