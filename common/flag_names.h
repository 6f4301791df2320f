// Lets command lines spell flags with dashes (--admin-token-file) as well as
// with underscores (--admin_token_file), which is all absl accepts.
//
//   std::vector<char*> args = NormalizeFlagNames(argc, argv, storage);
//   absl::ParseCommandLine(args.size(), args.data());
#ifndef ATTNORACLE_COMMON_FLAG_NAMES_H_
#define ATTNORACLE_COMMON_FLAG_NAMES_H_

#include <algorithm>
#include <string>
#include <vector>

namespace attnoracle {

// A copy of argv (kept alive in `storage`) in which the name part of every
// "--flag-name[=value]" before a bare "--" has its dashes made underscores.
inline std::vector<char*> NormalizeFlagNames(
    int argc, char** argv, std::vector<std::string>& storage) {
  storage.assign(argv, argv + argc);
  for (size_t i = 1; i < storage.size(); ++i) {
    std::string& arg = storage[i];
    if (arg == "--") break;
    if (arg.size() < 3 || arg[0] != '-' || arg[1] != '-') continue;
    const size_t end = std::min(arg.find('='), arg.size());
    std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
  }
  std::vector<char*> out;
  for (std::string& arg : storage) out.push_back(arg.data());
  return out;
}

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_FLAG_NAMES_H_
