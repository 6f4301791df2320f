// QuoteForMessage: a request-provided string as an error message may show
// it, quoted, escaped and bounded. Messages echo ids and names so a caller
// sees what it sent, but a request can carry any bytes of any length (a
// 1 MB challenge id echoed whole made a status no stock client could
// receive), so every echo of one goes through here.
//
//   absl::NotFoundError(absl::StrCat("no challenge ", QuoteForMessage(id)));
//   // no challenge "tiny-d4"
//   // no challenge "aaaa...a"...(1048576 bytes)   (first 128 bytes shown)
//   // no challenge "a\x01b"
#ifndef ATTNORACLE_COMMON_MESSAGE_QUOTE_H_
#define ATTNORACLE_COMMON_MESSAGE_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace attnoracle {

// Most bytes of a request-provided value an error message repeats: twice a
// valid id or name (at most 64 characters), so a name just over the limit
// is still shown whole, and little enough that a message stays far below
// gRPC's 8 KiB metadata limit.
inline constexpr size_t kMaxQuotedBytes = 128;

// `value` in double quotes, its first `max_bytes` bytes C-escaped (quotes,
// backslashes, control and non-ASCII bytes as \" \\ \n \xNN), followed,
// when longer, by "...(N bytes)" with N its whole length. The result is
// printable ASCII and at most 4 * max_bytes + 40 bytes long.
std::string QuoteForMessage(absl::string_view value,
                            size_t max_bytes = kMaxQuotedBytes);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_MESSAGE_QUOTE_H_
