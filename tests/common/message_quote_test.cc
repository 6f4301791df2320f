// QuoteForMessage: short values quoted as they are, long ones cut with
// their length, anything unprintable escaped.
#include "common/message_quote.h"

#include <gtest/gtest.h>

#include <string>

namespace attnoracle {
namespace {

TEST(QuoteForMessageTest, ShortValuesAreQuotedWhole) {
  EXPECT_EQ(QuoteForMessage("tiny-d4"), "\"tiny-d4\"");
  EXPECT_EQ(QuoteForMessage(""), "\"\"");
  EXPECT_EQ(QuoteForMessage(std::string(kMaxQuotedBytes, 'a')),
            "\"" + std::string(kMaxQuotedBytes, 'a') + "\"");
}

TEST(QuoteForMessageTest, LongValuesAreCutAndSayTheirLength) {
  EXPECT_EQ(QuoteForMessage(std::string(kMaxQuotedBytes + 1, 'a')),
            "\"" + std::string(kMaxQuotedBytes, 'a') + "\"...(129 bytes)");
  const std::string megabyte(1 << 20, 'x');
  const std::string quoted = QuoteForMessage(megabyte);
  EXPECT_EQ(quoted,
            "\"" + std::string(kMaxQuotedBytes, 'x') + "\"...(1048576 bytes)");
  EXPECT_EQ(QuoteForMessage("abcdef", 3), "\"abc\"...(6 bytes)");
}

TEST(QuoteForMessageTest, UnprintableBytesAreEscaped) {
  EXPECT_EQ(QuoteForMessage(std::string("a\x01-b\"\\\n", 7)),
            "\"a\\x01-b\\\"\\\\\\n\"");
  // A hex digit after a hex escape is escaped too, so C reads it back.
  EXPECT_EQ(QuoteForMessage("\x01"
                            "b"),
            "\"\\x01\\x62\"");
  EXPECT_EQ(QuoteForMessage("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
  EXPECT_EQ(QuoteForMessage(std::string(1, '\0')), "\"\\x00\"");
  // Every byte escaped at its widest still stays within the bound.
  const std::string worst(1000, '\xff');
  EXPECT_LE(QuoteForMessage(worst).size(), 4 * kMaxQuotedBytes + 40);
}

}  // namespace
}  // namespace attnoracle
