// ByteBlocks: bytes kept for a long time (transcripts held in memory),
// copied into large blocks instead of living in heap allocations of their
// own. Long-lived bytes then do not fragment the heap that short-lived
// messages are allocated from, and keeping a string is one copy, with an
// allocation only once per block.
//
//   ByteBlocks blocks;
//   ByteBlocks::Mark before = blocks.mark();
//   absl::string_view kept = blocks.Keep(bytes);  // valid until a Rewind
//   blocks.Rewind(before);                        // past it, or destruction
//
// Not thread-safe: callers hold their own lock.
#ifndef ATTNORACLE_COMMON_BYTE_BLOCKS_H_
#define ATTNORACLE_COMMON_BYTE_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"

namespace attnoracle {

class ByteBlocks {
 public:
  // Bytes go into blocks of this size; a larger string gets a block of its
  // own.
  static constexpr size_t kBlockBytes = size_t{1} << 20;

  // Where the kept bytes end.
  struct Mark {
    size_t blocks = 0;
    size_t used = 0;  // in the last block
    uint64_t kept = 0;
  };

  // Copies `bytes` after everything kept so far. The view stays valid and
  // unchanged until a Rewind to a mark taken before this call, or until
  // the ByteBlocks is destroyed.
  absl::string_view Keep(absl::string_view bytes);

  Mark mark() const { return Mark{blocks_.size(), used_, kept_}; }
  // Drops everything kept after `mark` was taken; later Keeps reuse the
  // space. Rewind({}) drops everything and frees the blocks.
  void Rewind(const Mark& mark);

  // Bytes kept (not counting the unused ends of blocks).
  uint64_t kept() const { return kept_; }

 private:
  struct Block {
    std::unique_ptr<char[]> bytes;
    size_t size = 0;
  };

  std::vector<Block> blocks_;
  size_t used_ = 0;
  uint64_t kept_ = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_BYTE_BLOCKS_H_
