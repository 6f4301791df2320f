// Tests of the wire <-> domain conversions in common/codec.h that hostile
// input reaches: hypotheses as the server receives them in Submit.
#include "common/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "absl/status/status.h"
#include "common/layer_spec.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::MessageOf;
using ::testing::HasSubstr;

// 2^20 columns: 8 MiB of values in the message; an identity that wide
// would take 8 TiB.
constexpr uint32_t kWideCols = uint32_t{1} << 20;

LayerSpec Tiny() {
  absl::StatusOr<LayerSpec> spec = ResolveSpec(LayerSpec{.d_model = 4});
  EXPECT_TRUE(spec.ok());
  return *spec;
}

void SetMatrix(uint32_t rows, uint32_t cols, pb::Matrix* m) {
  m->set_rows(rows);
  m->set_cols(cols);
  m->mutable_values()->Resize(static_cast<int>(rows * cols), 0.5);
}

TEST(ParamsFromProtoTest, ProductsAreAccepted) {
  pb::LayerParams p;
  pb::HeadParams* head = p.add_heads();
  SetMatrix(4, 4, head->mutable_theta());
  SetMatrix(4, 4, head->mutable_omega());
  absl::StatusOr<LayerParams> params = ParamsFromProto(p, Tiny());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->heads[0].wk, Matrix::Identity(4, 4));
}

// Found while fuzzing the Submit path: the identity factors of a product
// head were sized by theta's and omega's columns before their shapes were
// checked, so a small request could make the server allocate terabytes.
TEST(ParamsFromProtoTest, WideThetaIsRefusedBeforeAnythingIsAllocated) {
  pb::LayerParams p;
  pb::HeadParams* head = p.add_heads();
  SetMatrix(1, kWideCols, head->mutable_theta());
  SetMatrix(4, 4, head->mutable_omega());
  absl::StatusOr<LayerParams> params = ParamsFromProto(p, Tiny());
  ASSERT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(params.status()),
              HasSubstr("heads[0].theta has shape 1x1048576, expected 4x4"));
}

TEST(ParamsFromProtoTest, WideOmegaIsRefusedBeforeAnythingIsAllocated) {
  pb::LayerParams p;
  pb::HeadParams* head = p.add_heads();
  SetMatrix(4, 4, head->mutable_theta());
  SetMatrix(1, kWideCols, head->mutable_omega());
  absl::StatusOr<LayerParams> params = ParamsFromProto(p, Tiny());
  ASSERT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(params.status()),
              HasSubstr("heads[0].omega has shape 1x1048576, expected 4x4"));
}

}  // namespace
}  // namespace attnoracle

namespace attnoracle {
namespace {

TEST(QueryErrorCodecTest, RoundTripsCodeAndMessage) {
  pb::QueryError error;
  QueryErrorToProto(absl::InvalidArgumentError("sequences[2]: NaN"), &error);
  EXPECT_EQ(error.code(), 3);  // google.rpc.Code INVALID_ARGUMENT
  EXPECT_EQ(error.message(), "sequences[2]: NaN");
  const absl::Status back = StatusFromProto(error);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back.message(), "sequences[2]: NaN");
}

}  // namespace
}  // namespace attnoracle
