#include "common/byte_blocks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>
#include <cstring>
#include <new>
#include <utility>

namespace attnoracle {

void ByteBlocks::Unmap::operator()(char* bytes) const { munmap(bytes, size); }

char* ByteBlocks::AddBlock(size_t size) {
  void* bytes = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (bytes == MAP_FAILED) throw std::bad_alloc();
  Block block(static_cast<char*>(bytes), Unmap{size});
  blocks_.push_back(std::move(block));
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  reserved_ += (size + page - 1) / page * page;
  return blocks_.back().get();
}

absl::string_view ByteBlocks::Keep(absl::string_view bytes) {
  if (bytes.empty()) return {};
  char* at = nullptr;
  if (bytes.size() > kOwnBlockAbove) {
    at = AddBlock(bytes.size());
  } else {
    if (kBlockBytes - used_ < bytes.size()) {
      AddBlock(kBlockBytes);
      shared_ = blocks_.size() - 1;
      used_ = 0;
    }
    at = blocks_[shared_].get() + used_;
    used_ += bytes.size();
  }
  std::memcpy(at, bytes.data(), bytes.size());
  kept_ += bytes.size();
  return {at, bytes.size()};
}

void ByteBlocks::Rewind(const Mark& mark) {
  assert(mark.blocks <= blocks_.size());
  blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(mark.blocks),
                blocks_.end());
  if (blocks_.empty()) {
    *this = ByteBlocks();  // also frees the vector's storage
    return;
  }
  assert(mark.used <= kBlockBytes && mark.kept <= kept_);
  shared_ = mark.shared;
  used_ = mark.used;
  kept_ = mark.kept;
  reserved_ = mark.reserved;
}

}  // namespace attnoracle
