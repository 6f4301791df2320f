// ByteBlocks: what is kept reads back unchanged however many blocks it
// spans, a string larger than a block is kept whole, large strings take
// about their own size in memory and small ones share blocks, and a rewind
// drops exactly what came after its mark.
#include "common/byte_blocks.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace attnoracle {
namespace {

// Distinct contents for string i, of a length that does not divide a block.
std::string Bytes(int i) {
  std::string s(1000 + i % 97, '\0');
  for (size_t j = 0; j < s.size(); ++j) s[j] = static_cast<char>(i * 31 + j);
  return s;
}

TEST(ByteBlocksTest, KeptBytesStayUnchangedAcrossBlocks) {
  ByteBlocks blocks;
  std::vector<absl::string_view> views;
  uint64_t total = 0;
  // Enough to fill several blocks.
  const int n = 4 * static_cast<int>(ByteBlocks::kBlockBytes / 1000);
  for (int i = 0; i < n; ++i) {
    const std::string s = Bytes(i);
    views.push_back(blocks.Keep(s));
    total += s.size();
  }
  for (int i = 0; i < n; ++i) ASSERT_EQ(views[i], Bytes(i)) << i;
  EXPECT_EQ(blocks.kept(), total);
  EXPECT_TRUE(blocks.Keep("").empty());
  EXPECT_EQ(blocks.kept(), total);
}

TEST(ByteBlocksTest, StringLargerThanABlockIsKeptWhole) {
  ByteBlocks blocks;
  const absl::string_view before = blocks.Keep("before");
  const std::string large(ByteBlocks::kBlockBytes * 2 + 3, 'x');
  const absl::string_view kept = blocks.Keep(large);
  const absl::string_view after = blocks.Keep("after");
  EXPECT_EQ(kept, large);
  EXPECT_EQ(before, "before");
  EXPECT_EQ(after, "after");
}

// The large workload's transcript strings are a little over half a block:
// two of them must not take a block each.
TEST(ByteBlocksTest, LargeStringsTakeAboutTheirOwnSize) {
  ByteBlocks blocks;
  const std::string half(ByteBlocks::kBlockBytes / 2 + 12, 'h');
  const absl::string_view a = blocks.Keep(half);
  const absl::string_view b = blocks.Keep(half);
  EXPECT_EQ(a, half);
  EXPECT_EQ(b, half);
  const uint64_t page = 4096;
  EXPECT_LE(blocks.reserved(), blocks.kept() + 2 * page);

  // Small strings between them still share one block.
  const uint64_t before = blocks.reserved();
  for (int i = 0; i < 100; ++i) {
    blocks.Keep(Bytes(i));
    if (i == 50) blocks.Keep(half);
  }
  EXPECT_EQ(blocks.reserved(), before + ByteBlocks::kBlockBytes +
                                   (half.size() + page - 1) / page * page);
  EXPECT_EQ(a, half);
}

TEST(ByteBlocksTest, RewindDropsOnlyWhatCameAfterTheMark) {
  ByteBlocks blocks;
  const absl::string_view first = blocks.Keep(Bytes(1));
  const ByteBlocks::Mark mark = blocks.mark();
  // Past the end of the first block, so the rewind drops a block too.
  for (int i = 0; i < 2000; ++i) blocks.Keep(Bytes(i));
  blocks.Rewind(mark);
  EXPECT_EQ(blocks.kept(), Bytes(1).size());
  const absl::string_view second = blocks.Keep(Bytes(2));
  EXPECT_EQ(first, Bytes(1));
  EXPECT_EQ(second, Bytes(2));
  // The space after the mark is used again.
  EXPECT_EQ(second.data(), first.data() + first.size());

  // A string with a block of its own goes with its block.
  const ByteBlocks::Mark before_large = blocks.mark();
  blocks.Keep(std::string(ByteBlocks::kBlockBytes, 'x'));
  EXPECT_GT(blocks.reserved(), before_large.reserved);
  blocks.Rewind(before_large);
  EXPECT_EQ(blocks.reserved(), before_large.reserved);
  EXPECT_EQ(blocks.Keep(Bytes(4)).data(), second.data() + second.size());

  blocks.Rewind({});
  EXPECT_EQ(blocks.kept(), 0u);
  EXPECT_EQ(blocks.reserved(), 0u);
  EXPECT_EQ(blocks.Keep(Bytes(3)), Bytes(3));
}

}  // namespace
}  // namespace attnoracle
