#include <gtest/gtest.h>

#include <string>

#include "common/json/json.h"

namespace tierflow {
namespace {

using namespace std::string_literals;

TEST(JsonQuote, QuotesAndEscapesQuoteAndBackslash) {
  EXPECT_EQ(json_quote(""), R"("")");
  EXPECT_EQ(json_quote("plain"), R"("plain")");
  EXPECT_EQ(json_quote(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(json_quote(R"(C:\dir\)"), R"("C:\\dir\\")");
  EXPECT_EQ(json_quote("/"), R"("/")");  // solidus may stay as it is
}

TEST(JsonQuote, EscapesEveryControlCharacter) {
  EXPECT_EQ(json_quote("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(json_quote("\x01\x1f\b\f"), R"("\u0001\u001f\u0008\u000c")");
  EXPECT_EQ(json_quote("nul:\0!"s), R"("nul:\u0000!")");
  for (int c = 0; c < 0x20; ++c) {
    const std::string quoted = json_quote(std::string(1, static_cast<char>(c)));
    ASSERT_GE(quoted.size(), 4u) << c;
    EXPECT_EQ(quoted[1], '\\') << c;  // never raw inside the literal
  }
  EXPECT_EQ(json_quote("\x7f"), "\"\x7f\"");  // DEL is no control character in JSON
}

TEST(JsonQuote, CopiesUtf8ByteForByte) {
  EXPECT_EQ(json_quote("王小明 – café €5 😀"), "\"王小明 – café €5 😀\"");
  EXPECT_EQ(json_quote("\u2028\u2029"), "\"\u2028\u2029\"");  // valid JSON in a document
  EXPECT_EQ(json_quote("<a & b>"), R"("<a & b>")");
}

TEST(JsonQuote, InsideAScriptHidesMarkupAndLineSeparators) {
  EXPECT_EQ(json_quote("</script><!--", JsonEmbed::html_script), R"("\u003c/script\u003e\u003c!--")");
  EXPECT_EQ(json_quote("a & b", JsonEmbed::html_script), R"("a \u0026 b")");
  EXPECT_EQ(json_quote("x\u2028y\u2029z", JsonEmbed::html_script), R"("x\u2028y\u2029z")");
  // Other characters starting with E2 80 (an en dash is E2 80 93) are copied.
  EXPECT_EQ(json_quote("– 客户 \"q\"\n", JsonEmbed::html_script), "\"– 客户 \\\"q\\\"\\n\"");
  // A truncated sequence at the end is copied, never read past.
  EXPECT_EQ(json_quote("\xE2\x80", JsonEmbed::html_script), "\"\xE2\x80\"");
}

}  // namespace
}  // namespace tierflow
