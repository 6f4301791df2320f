#include "client/cli_common.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace attnoracle::cli {

std::string ResolveToken(const std::string& flag, bool admin) {
  if (!flag.empty()) return flag;
  const char* learner = "ATTNORACLE_TOKEN";
  const char* organiser = "ATTNORACLE_ADMIN_TOKEN";
  for (const char* name :
       {admin ? organiser : learner, admin ? learner : organiser}) {
    if (const char* env = std::getenv(name); env != nullptr && *env != '\0') {
      return env;
    }
  }
  return "";
}

int Fail(const absl::Status& status) {
  std::cerr << "oracle-client: " << absl::StatusCodeToString(status.code())
            << ": " << status.message() << "\n";
  return kExitFailure;
}

int UsageError(absl::string_view message) {
  std::cerr << "oracle-client: " << message << "\n";
  return kExitUsage;
}

void PrintJson(const nlohmann::ordered_json& doc) {
  std::cout << doc.dump(2) << std::endl;
}

std::optional<nlohmann::ordered_json> ReadJson(const std::string& path,
                                               const char* what) {
  std::stringstream text;
  if (path.empty() || path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "oracle-client: cannot read " << what << " \"" << path
                << "\"\n";
      return std::nullopt;
    }
    text << in.rdbuf();
  }
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
      text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    std::cerr << "oracle-client: the " << what << " is not valid JSON\n";
    return std::nullopt;
  }
  return doc;
}

std::string Counted(uint64_t n, absl::string_view singular,
                    absl::string_view plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : plural);
}

std::string FormatUnixMs(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

}  // namespace attnoracle::cli
