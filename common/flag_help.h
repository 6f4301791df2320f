// Help for the binaries' absl flags: listings of chosen flags with their
// value and default, grouped the way a reader looks for them, and the usage
// config that keeps the build machine's paths out of --helpfull.
//
//   SetFlagsUsageConfigFor(__FILE__, "server/main.cc");
//   constexpr FlagDoc kNetwork[] = {{"listen", "HOST:PORT"}};
//   PrintFlags(std::cout, kNetwork);
//
// Only the binaries' main files use it (absl flags stay out of the
// libraries). Header-only so that common/ does not link absl's flag
// libraries.
#ifndef ATTNORACLE_COMMON_FLAG_HELP_H_
#define ATTNORACLE_COMMON_FLAG_HELP_H_

#include <algorithm>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace attnoracle {

// One flag of a listing: its absl name (with underscores) and what its
// value looks like ("" for a bool flag).
struct FlagDoc {
  const char* name;
  const char* value;
};

// A titled group of flags.
struct FlagGroup {
  const char* title;
  std::span<const FlagDoc> flags;
};

// Listings wrap at this many columns; help text starts at the second.
inline constexpr size_t kFlagHelpWidth = 79;
inline constexpr size_t kFlagHelpColumn = 27;

// `flag` as typed: "--name-with-dashes" (both spellings are accepted; see
// flag_names.h).
inline std::string DashedFlagName(absl::string_view name) {
  std::string dashed = "--" + std::string(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return dashed;
}

// "head" then `words` wrapped in the second column (kFlagHelpColumn up to
// kFlagHelpWidth); a head too wide for the first column gets its own line.
inline void PrintTwoColumns(std::ostream& out, const std::string& head,
                            const std::vector<std::string>& words) {
  out << head;
  size_t column = head.size();
  if (column + 1 >= kFlagHelpColumn) {
    out << "\n";
    column = 0;
  }
  bool line_empty = true;
  for (const std::string& word : words) {
    if (!line_empty && column + 1 + word.size() > kFlagHelpWidth) {
      out << "\n";
      column = 0;
      line_empty = true;
    }
    if (line_empty) {
      out << std::string(kFlagHelpColumn - column, ' ');
      column = kFlagHelpColumn;
    } else {
      out << ' ';
      ++column;
    }
    out << word;
    column += word.size();
    line_empty = false;
  }
  out << "\n";
}

// One flag: "  --name VALUE" then its help text wrapped in the second
// column, ending with "(default: X)" unless the default is empty or false.
// A help text's leading "command: " (which tells --helpfull readers who
// reads the flag) is dropped, as listings are already per command, and the
// rest capitalised. A name
// that is no flag of this binary is printed with no help, so a stale
// listing shows rather than hides.
inline void PrintFlag(std::ostream& out, const FlagDoc& doc) {
  std::string head = "  " + DashedFlagName(doc.name);
  if (*doc.value != '\0') head += std::string(" ") + doc.value;
  std::vector<std::string> words;
  if (const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(doc.name)) {
    std::string text = flag->Help();
    const size_t colon = text.find(": ");
    if (colon != std::string::npos &&
        text.find_first_not_of("abcdefghijklmnopqrstuvwxyz ") == colon) {
      text.erase(0, colon + 2);
      if (!text.empty()) text[0] = absl::ascii_toupper(text[0]);
    }
    words = absl::StrSplit(text, ' ', absl::SkipEmpty());
    // One unit, so the default never starts a line apart from its label.
    const std::string fallback = flag->DefaultValue();
    if (!fallback.empty() && fallback != "false") {
      words.push_back("(default: " + fallback + ")");
    }
  }
  PrintTwoColumns(out, head, words);
}

inline void PrintFlags(std::ostream& out, std::span<const FlagDoc> flags) {
  for (const FlagDoc& doc : flags) PrintFlag(out, doc);
}

// Every group under its title, then, under "Other:", any flag defined in a
// file whose name ends with `main_path` that no group lists (so a flag
// added to main without a place in the groups still shows).
inline void PrintFlagGroups(std::ostream& out,
                            std::span<const FlagGroup> groups,
                            absl::string_view main_path) {
  std::vector<std::string> listed;
  for (const FlagGroup& group : groups) {
    out << group.title << ":\n";
    PrintFlags(out, group.flags);
    for (const FlagDoc& doc : group.flags) listed.push_back(doc.name);
  }
  std::vector<std::string> others;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), main_path) &&
        std::find(listed.begin(), listed.end(), name) == listed.end()) {
      others.emplace_back(name);
    }
  }
  if (others.empty()) return;
  std::sort(others.begin(), others.end());
  out << "Other:\n";
  for (const std::string& name : others) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    PrintFlag(out, {name.c_str(), flag->IsOfType<bool>() ? "" : "VALUE"});
  }
}

// absl's usage config for a binary whose main file is `main_file`
// (__FILE__ there), `main_path` from the source root: --helpshort lists the
// flags defined in the main file, and --helpfull names files from the
// source root (abseil's own from its absl/ directory) instead of the
// absolute paths of the machine that built the binary.
inline void SetFlagsUsageConfigFor(absl::string_view main_file,
                                   absl::string_view main_path) {
  std::string root(main_file);
  if (absl::EndsWith(root, main_path)) {
    root.resize(root.size() - main_path.size());
  }
  const std::string path(main_path);
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = [path](absl::string_view file) {
    return absl::EndsWith(file, path);
  };
  config.contains_help_flags = config.contains_helpshort_flags;
  config.normalize_filename = [root](absl::string_view file) -> std::string {
    if (!root.empty() && absl::ConsumePrefix(&file, root)) {
      return std::string(file);
    }
    if (const size_t at = file.rfind("absl/"); at != file.npos) {
      return std::string(file.substr(at));
    }
    return std::string(file.substr(file.rfind('/') + 1));
  };
  absl::SetFlagsUsageConfig(config);
}

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_FLAG_HELP_H_
