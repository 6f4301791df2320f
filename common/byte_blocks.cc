#include "common/byte_blocks.h"

#include <algorithm>
#include <cstring>

namespace attnoracle {

absl::string_view ByteBlocks::Keep(absl::string_view bytes) {
  if (bytes.empty()) return {};
  if (blocks_.empty() || blocks_.back().size - used_ < bytes.size()) {
    const size_t size = std::max(kBlockBytes, bytes.size());
    // Not zeroed: every byte handed out is written first.
    blocks_.push_back(
        Block{std::make_unique_for_overwrite<char[]>(size), size});
    used_ = 0;
  }
  char* at = blocks_.back().bytes.get() + used_;
  std::memcpy(at, bytes.data(), bytes.size());
  used_ += bytes.size();
  kept_ += bytes.size();
  return {at, bytes.size()};
}

void ByteBlocks::Rewind(const Mark& mark) {
  blocks_.resize(mark.blocks);
  if (mark.blocks == 0) blocks_.shrink_to_fit();
  used_ = mark.used;
  kept_ = mark.kept;
}

}  // namespace attnoracle
