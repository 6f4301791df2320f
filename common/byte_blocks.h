// ByteBlocks: bytes kept for a long time (transcripts held in memory),
// copied into large blocks instead of living in heap allocations of their
// own. Long-lived bytes then do not fragment the heap that short-lived
// messages are allocated from, and keeping a string is one copy, with an
// allocation only once per block. Blocks are mapped from the system
// directly (not through malloc, whose threshold for doing so moves), and a
// string larger than a quarter of a block gets a mapping of its own size,
// so large strings neither waste the end of a block nor take one each.
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
  // Small strings are copied into shared blocks of this size.
  static constexpr size_t kBlockBytes = size_t{1} << 20;
  // Strings longer than this get a block of their own.
  static constexpr size_t kOwnBlockAbove = kBlockBytes / 4;

  // Where the kept bytes end.
  struct Mark {
    size_t blocks = 0;
    size_t shared = 0;  // index of the shared block being filled
    size_t used = 0;    // bytes used in it
    uint64_t kept = 0;
    uint64_t reserved = 0;
  };

  // Copies `bytes` after everything kept so far. The view stays valid and
  // unchanged until a Rewind to a mark taken before this call, or until
  // the ByteBlocks is destroyed. Throws std::bad_alloc when the system
  // has no memory for a new block.
  absl::string_view Keep(absl::string_view bytes);

  Mark mark() const {
    return Mark{blocks_.size(), shared_, used_, kept_, reserved_};
  }
  // Drops everything kept after `mark` was taken, which must come from
  // this ByteBlocks with no Rewind past it since; later Keeps reuse the
  // space. Rewind({}) drops everything and unmaps the blocks.
  void Rewind(const Mark& mark);

  // Bytes kept (not counting the unused ends of blocks).
  uint64_t kept() const { return kept_; }
  // Bytes of memory the blocks take.
  uint64_t reserved() const { return reserved_; }

 private:
  struct Unmap {
    size_t size = 0;
    void operator()(char* bytes) const;
  };
  using Block = std::unique_ptr<char[], Unmap>;

  // A new block of `size` bytes, counted in reserved_.
  char* AddBlock(size_t size);

  std::vector<Block> blocks_;
  // The shared block being filled, as an index into blocks_ (blocks of
  // their own may come after it), and the bytes used in it; used_ is
  // kBlockBytes when there is none, so the next small string starts one.
  size_t shared_ = 0;
  size_t used_ = kBlockBytes;
  uint64_t kept_ = 0;
  uint64_t reserved_ = 0;
};

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_BYTE_BLOCKS_H_
