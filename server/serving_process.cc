#include "server/serving_process.h"

#include <dlfcn.h>
#include <malloc.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace attnoracle {

void TuneProcessForServing() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

namespace {

// jemalloc's control interface.
using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);

// Where the process's malloc is defined: the first definition in the global
// lookup order, which a linked (or preloaded) allocator precedes glibc in
// and which every call binds to. Null when it cannot be told.
std::optional<Dl_info> MallocDefinition() {
  void* const malloc_address = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (malloc_address == nullptr || dladdr(malloc_address, &info) == 0) {
    return std::nullopt;
  }
  return info;
}

// jemalloc's mallctl when jemalloc is the object `malloc_info` (from
// MallocDefinition) names, else null: a jemalloc loaded beside another
// allocator does not count.
Mallctl ServingMallctl(const std::optional<Dl_info>& malloc_info) {
  void* const mallctl_address = dlsym(RTLD_DEFAULT, "mallctl");
  Dl_info mallctl_info;
  if (!malloc_info.has_value() || mallctl_address == nullptr ||
      dladdr(mallctl_address, &mallctl_info) == 0 ||
      mallctl_info.dli_fbase != malloc_info->dli_fbase) {
    return nullptr;
  }
  return reinterpret_cast<Mallctl>(mallctl_address);
}

}  // namespace

std::string MallocLibrary() {
  const std::optional<Dl_info> info = MallocDefinition();
  if (!info.has_value()) return "unknown";
  // The main program's own file is named by argv[0], or left empty.
  std::string name =
      info->dli_fname == nullptr || info->dli_fname[0] == '\0'
          ? "the program itself"
          : std::filesystem::path(info->dli_fname).filename().string();
  const char* version = nullptr;
  size_t version_size = sizeof(version);
  if (const Mallctl mallctl = ServingMallctl(info);
      mallctl != nullptr &&
      mallctl("version", &version, &version_size, nullptr, 0) == 0 &&
      version != nullptr) {
    // "5.3.0-0-g<commit>": the release is enough to tell runs apart.
    absl::StrAppend(&name, " ",
                    absl::string_view(version).substr(
                        0, absl::string_view(version).find('-')));
  }
  return name;
}

void ReleaseFreeHeapMemory() {
  malloc_trim(0);
  if (const Mallctl mallctl = ServingMallctl(MallocDefinition());
      mallctl != nullptr) {
    // 4096 is MALLCTL_ARENAS_ALL: every arena's unused dirty pages.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
  }
}

}  // namespace attnoracle
