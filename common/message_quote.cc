#include "common/message_quote.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace attnoracle {

std::string QuoteForMessage(absl::string_view value, size_t max_bytes) {
  std::string out =
      absl::StrCat("\"", absl::CHexEscape(value.substr(0, max_bytes)), "\"");
  if (value.size() > max_bytes) {
    absl::StrAppend(&out, "...(", value.size(), " bytes)");
  }
  return out;
}

}  // namespace attnoracle
