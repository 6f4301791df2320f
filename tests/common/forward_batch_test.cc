// ForwardBatchInto and AnswerBatchInto against one sequence at a time, bit
// for bit: the server answers a request's sequences together, while
// `verify`, the learners' local oracle and the scorer answer them one by
// one, so any difference in the last bit would break a transcript's
// verification. The cases cover the shapes that are stacked (lengths a
// multiple of four) and those that are not, mixed in one request.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/access_policy.h"
#include "common/answer.h"
#include "common/attention.h"
#include "common/prior.h"
#include "common/rng.h"

namespace attnoracle {
namespace {

struct BatchCase {
  const char* name;
  LayerSpec spec;
};

const BatchCase kBatchCases[] = {
    {"d16", {.d_model = 16}},
    {"d4", {.d_model = 4}},
    {"d8_2heads", {.d_model = 8, .heads = 2}},
    {"d17_rank3", {.d_model = 17, .head_dim = 3}},
    {"d16_2heads_causal_biases",
     {.d_model = 16, .heads = 2, .mask = Mask::kCausal, .biases = true}},
    {"d32_4heads_grouped", {.d_model = 32, .heads = 4, .kv_heads = 2}},
    {"d16_linear_causal",
     {.d_model = 16, .mask = Mask::kCausal, .attention = Attention::kLinear}},
    {"d16_residual", {.d_model = 16, .residual = true}},
    {"d24_value_and_out_dims", {.d_model = 24, .value_dim = 5, .out_dim = 7}},
    {"d64", {.d_model = 64}},
    {"d64_4heads_last", {.d_model = 64, .heads = 4, .readout = Readout::kLast}},
    {"d16_2layers", {.d_model = 16, .layers = 2, .residual = true}},
    {"d128", {.d_model = 128}},
};

// Lengths in request order: runs of equal lengths that stack (8, 4, 12)
// and that do not (9, 1, 33), interleaved.
const int kLengths[] = {8, 9, 8, 1, 4, 8, 33, 4, 9, 12, 12, 1, 8, 9, 12, 8};

std::vector<Matrix> Inputs(int d_model, uint64_t seed) {
  Rng rng(DeriveSeed(seed, RngStream::kLearner, 0));
  std::vector<Matrix> xs;
  for (int n : kLengths) {
    Matrix x(n, d_model);
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      x.data()[i] = rng.NextGaussian();
    }
    xs.push_back(std::move(x));
  }
  return xs;
}

bool SameBits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

class ForwardBatchTest : public ::testing::TestWithParam<BatchCase> {};

TEST_P(ForwardBatchTest, EveryBitAsOneSequenceAtATime) {
  const LayerSpec spec = *ResolveSpec(GetParam().spec);
  for (uint64_t seed : {1, 2}) {
    const LayerParams params =
        DrawSecret(spec, Prior{.scale = 0, .seed = seed});
    const std::vector<Matrix> xs = Inputs(spec.d_model, seed);
    std::vector<ConstMatrixMap> maps;
    std::vector<Matrix> batched;
    for (const Matrix& x : xs) {
      maps.emplace_back(x.data(), x.rows(), x.cols());
      batched.emplace_back(OutputRows(spec, static_cast<int>(x.rows())),
                           OutputDim(spec));
    }
    std::vector<MatrixMap> outs;
    for (Matrix& y : batched) outs.emplace_back(y.data(), y.rows(), y.cols());
    ForwardBatchInto(spec, params, maps, outs);
    for (size_t i = 0; i < xs.size(); ++i) {
      EXPECT_TRUE(SameBits(batched[i], Forward(spec, params, xs[i])))
          << GetParam().name << ", seed " << seed << ", sequence " << i << " ("
          << xs[i].rows() << " tokens)";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ForwardBatchTest,
                         ::testing::ValuesIn(kBatchCases),
                         [](const ::testing::TestParamInfo<BatchCase>& info) {
                           return std::string(info.param.name);
                         });

// Noise is keyed by each sequence's own query index, and the answer forms
// apply per sequence: the batch must give each its own.
TEST(AnswerBatchTest, EachSequenceKeepsItsQueryIndexAndForm) {
  const LayerSpec spec = *ResolveSpec({.d_model = 16});
  const LayerParams params = DrawSecret(spec, Prior{.scale = 0, .seed = 3});
  const std::vector<Matrix> xs = Inputs(spec.d_model, 3);
  std::vector<ConstMatrixMap> maps;
  for (const Matrix& x : xs) maps.emplace_back(x.data(), x.rows(), x.cols());
  std::vector<AccessPolicy> policies(4);
  policies[0].noise_sigma = 0.1;
  policies[1].precision = Precision::kFloat32;
  policies[1].noise_sigma = 0.01;
  policies[2].answers = Answers::kSign;
  policies[3].answers = Answers::kTopK;
  policies[3].top_k = 3;
  constexpr uint64_t kNoiseSeed = 11, kFirstIndex = 40;
  for (const AccessPolicy& policy : policies) {
    const int cols = AnswerCols(spec, policy);
    std::vector<Matrix> batched;
    for (const Matrix& x : xs) batched.emplace_back(x.rows(), cols);
    std::vector<MatrixMap> outs;
    for (Matrix& y : batched) outs.emplace_back(y.data(), y.rows(), y.cols());
    AnswerBatchInto(spec, params, policy, kNoiseSeed, kFirstIndex, maps, outs);
    for (size_t i = 0; i < xs.size(); ++i) {
      EXPECT_TRUE(SameBits(
          batched[i],
          AnswerTo(spec, params, policy, kNoiseSeed, kFirstIndex + i, xs[i])))
          << "answers " << static_cast<int>(policy.answers) << ", sequence "
          << i;
    }
  }
}

}  // namespace
}  // namespace attnoracle
