// The canonical bytes a verifier recomputes (common/transcript.h) and the
// hashing under them (common/hashing.h): byte layouts, round trips, errors
// on malformed input, and the definitions of commitment and chain hash.
#include "common/transcript.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/hashing.h"
#include "common/layer_params.h"
#include "common/tensor.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::RandomMatrix;
using ::testing::HasSubstr;

// The FIPS 180-2 example: SHA-256("abc").
constexpr char kSha256OfAbc[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(HashingTest, Sha256OfPartsIsTheDigestOfTheirConcatenation) {
  EXPECT_EQ(HexEncode(Sha256("abc")), kSha256OfAbc);
  EXPECT_EQ(Sha256({"a", "", "bc"}), Sha256("abc"));
  EXPECT_EQ(Sha256("abc").size(), kSha256Bytes);
  EXPECT_EQ(HexEncode(Bytes({0x00, 0x0f, 0xff})), "000fff");
}

// Each thread keeps its own digest context: digests taken on several
// threads at once, and one after another on the same thread, do not mix.
TEST(HashingTest, Sha256IsRightOnManyThreadsAtOnce) {
  const std::string long_input(100000, 'q');
  const std::string long_digest = Sha256(long_input);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (HexEncode(Sha256("abc")) != kSha256OfAbc) ++wrong;
        if (Sha256({long_input.substr(0, 7), long_input.substr(7)}) !=
            long_digest) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(HashingTest, ConstantTimeEqualsComparesContent) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret1"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

TEST(HashingTest, RandomBytesAreFreshEachTime) {
  const std::string a = RandomBytes(32), b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(EncodeMatricesTest, LayoutIsLittleEndianCountShapeAndRowMajorValues) {
  Matrix m(1, 2);
  m << 1.0, -2.0;
  const std::vector<Matrix> one = {m};
  const std::string expected =
      Bytes({1, 0, 0, 0,                                        // count
             1, 0, 0, 0, 2, 0, 0,    0,                         // 1 x 2
             0, 0, 0, 0, 0, 0, 0xf0, 0x3f,                      // 1.0
             0, 0, 0, 0, 0, 0, 0,    static_cast<int>(0xc0)});  // -2.0
  EXPECT_EQ(EncodeMatrices(one), expected);
  EXPECT_EQ(EncodeMatrices(std::vector<Matrix>{}), Bytes({0, 0, 0, 0}));
}

TEST(EncodeMatricesTest, MapsAndMatricesEncodeAlike) {
  Rng rng(3);
  const std::vector<Matrix> owned = {RandomMatrix(rng, 3, 2),
                                     RandomMatrix(rng, 1, 5)};
  std::vector<ConstMatrixMap> maps;
  for (const Matrix& m : owned) maps.emplace_back(m.data(), m.rows(), m.cols());
  EXPECT_EQ(EncodeMatrices(owned), EncodeMatrices(maps));
}

TEST(EncodeMatricesTest, DecodeGivesBackTheSameBits) {
  Rng rng(4);
  Matrix special(2, 3);
  special << -0.0, std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::denorm_min(),
      std::numeric_limits<double>::max(), -1e-300;
  const std::vector<Matrix> in = {RandomMatrix(rng, 4, 3), special,
                                  Matrix(0, 0)};
  absl::StatusOr<std::vector<Matrix>> out = DecodeMatrices(EncodeMatrices(in));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual((*out)[i], in[i])) << "matrix " << i;
  }
}

TEST(EncodeMatricesTest, MalformedBytesAreInvalidArgument) {
  Rng rng(5);
  const std::string good =
      EncodeMatrices(std::vector<Matrix>{RandomMatrix(rng, 2, 2)});
  struct Case {
    std::string name;
    std::string bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty", "", "truncated"},
      {"short count", good.substr(0, 3), "truncated"},
      {"no shape", good.substr(0, 6), "truncated"},
      {"short values", good.substr(0, good.size() - 1), "matrix 0"},
      {"trailing", good + "x", "trailing bytes"},
      // A shape whose values would need 2^64 bytes must not allocate.
      {"huge shape",
       Bytes({1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
       "matrix 0"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<Matrix>> out = DecodeMatrices(c.bytes);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_THAT(MessageOf(out.status()), HasSubstr(c.message)) << c.name;
  }
}

LayerParams SmallParams(bool biases) {
  Rng rng(6);
  LayerParams p;
  HeadParams h;
  h.wq = RandomMatrix(rng, 2, 1);
  h.wk = RandomMatrix(rng, 2, 1);
  h.wv = RandomMatrix(rng, 2, 1);
  h.wo = RandomMatrix(rng, 1, 2);
  if (biases) {
    h.bq = test::RandomVector(rng, 1);
    h.bk = test::RandomVector(rng, 1);
    h.bv = test::RandomVector(rng, 1);
    p.bo = test::RandomVector(rng, 2);
  }
  p.heads.push_back(h);
  return p;
}

TEST(EncodeParamsTest, IsHeadFactorsThenBiasesWithEmptyBiasesAs0x0) {
  const LayerParams p = SmallParams(false);
  const HeadParams& h = p.heads[0];
  const Matrix empty(0, 0);
  std::string expected = Bytes({1, 0, 0, 0});  // one head
  for (const Matrix* m : {&h.wq, &h.wk, &h.wv, &h.wo, &empty, &empty, &empty}) {
    expected += EncodeMatrices(std::vector<Matrix>{*m}).substr(4);
  }
  expected += EncodeMatrices(std::vector<Matrix>{empty}).substr(4);  // bo
  EXPECT_EQ(EncodeParams(p), expected);
}

TEST(EncodeParamsTest, BiasesAreOneRowMatrices) {
  const LayerParams p = SmallParams(true);
  const std::string bytes = EncodeParams(p);
  // bo (1 x 2) closes the encoding: shape then its two values.
  const std::string tail = bytes.substr(bytes.size() - 8 - 16);
  EXPECT_EQ(tail.substr(0, 8), Bytes({1, 0, 0, 0, 2, 0, 0, 0}));
  EXPECT_NE(EncodeParams(p), EncodeParams(SmallParams(false)));
}

TEST(CommitmentTest, IsSha256OfTheSecretBytesAndTheNonce) {
  const LayerParams p = SmallParams(true);
  EXPECT_EQ(Commitment(p, "nonce"), Sha256(EncodeParams(p) + "nonce"));
  EXPECT_NE(Commitment(p, "nonce"), Commitment(p, "nonce2"));
  LayerParams changed = p;
  changed.heads[0].wo(0, 1) = std::nextafter(changed.heads[0].wo(0, 1), 1.0);
  EXPECT_NE(Commitment(changed, "nonce"), Commitment(p, "nonce"));
}

TEST(RequestDigestTest, BindsTheQueryIndexLittleEndian) {
  const std::string index = Bytes({0x02, 0x01, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(RequestDigest(0x0102, "request"), Sha256(index + "request"));
  EXPECT_NE(RequestDigest(0, "request"), RequestDigest(1, "request"));
  EXPECT_NE(RequestDigest(0, "request"), Sha256("request"));
}

TEST(ChainHashTest, ChainsThePreviousHashAndBothDigests) {
  const std::string req = Sha256("request"), resp = Sha256("response");
  const std::string h0 = ChainHash("", req, resp);
  EXPECT_EQ(h0, Sha256(req + resp));
  const std::string h1 = ChainHash(h0, resp, req);
  EXPECT_EQ(h1, Sha256(h0 + resp + req));
  EXPECT_NE(ChainHash(h0, req, resp), h1);
}

}  // namespace
}  // namespace attnoracle
