// Escaping of the JSON text the server writes.
#include "json/writer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "json/batch.hpp"

namespace encke::json {
namespace {

class WriterTest : public ::testing::Test {
  protected:
    static std::string quoted(std::string_view s) {
        std::string out;
        append_string(out, s);
        return out;
    }
};

TEST_F(WriterTest, PlainStringIsQuoted) {
    EXPECT_EQ(quoted("hello"), R"("hello")");
    EXPECT_EQ(quoted(""), R"("")");
}

TEST_F(WriterTest, AppendsToExistingText) {
    std::string out = "[";
    append_string(out, "a");
    out += ',';
    append_string(out, "b");
    EXPECT_EQ(out, R"(["a","b")");
}

TEST_F(WriterTest, EscapesQuotesAndBackslash) {
    EXPECT_EQ(quoted(R"(a"b\c)"), R"("a\"b\\c")");
    EXPECT_EQ(quoted("\"\""), R"("\"\"")");
    EXPECT_EQ(quoted("\\"), R"("\\")");
}

TEST_F(WriterTest, EscapesNamedControlCharacters) {
    EXPECT_EQ(quoted("\n\r\t\b\f"), R"("\n\r\t\b\f")");
}

TEST_F(WriterTest, EscapesOtherControlCharactersAsUnicode) {
    EXPECT_EQ(quoted(std::string_view("\0", 1)), R"("\u0000")");
    EXPECT_EQ(quoted("\x01"), R"("\u0001")");
    EXPECT_EQ(quoted("a\x1f"
                     "b"),
              R"("a\u001fb")");
    EXPECT_EQ(quoted("\x0b"), R"("\u000b")");
}

TEST_F(WriterTest, LeavesPrintableAndNonAsciiAlone) {
    EXPECT_EQ(quoted("/chat/room ~!@#$%^&*()"), R"x("/chat/room ~!@#$%^&*()")x");
    EXPECT_EQ(quoted("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    EXPECT_EQ(quoted("\x7f"), "\"\x7f\"");
}

TEST_F(WriterTest, EscapesLineAndParagraphSeparators) {
    EXPECT_EQ(quoted("a\xe2\x80\xa8"
                     "b\xe2\x80\xa9"
                     "c"),
              R"("a\u2028b\u2029c")");
    EXPECT_EQ(quoted("\xe2\x80\xa8"), R"("\u2028")");  // at the very end
    // Other characters sharing the lead bytes are left alone (U+2020 dagger, U+20AC euro).
    EXPECT_EQ(quoted("\xe2\x80\xa0\xe2\x82\xac"), "\"\xe2\x80\xa0\xe2\x82\xac\"");
}

TEST_F(WriterTest, TruncatedSeparatorPrefixIsCopied) {
    EXPECT_EQ(quoted("a\xe2\x80"), "\"a\xe2\x80\"");
}

TEST_F(WriterTest, EscapedOutputParsesBackToTheInput) {
    std::string input = "q\"b\\s/\n\x01\x1f\xe2\x80\xa8 caf\xc3\xa9";
    std::string doc = R"({"channel":)";
    append_string(doc, input);
    doc += "}";
    batch_parser p(8);
    std::vector<message> out;
    ASSERT_EQ(p.parse(doc, out), parse_error::none) << doc;
    EXPECT_EQ(out[0].channel, input);
}

TEST_F(WriterTest, AppendKeyAddsColon) {
    std::string out;
    append_key(out, "a\"b");
    EXPECT_EQ(out, R"("a\"b":)");
}

TEST_F(WriterTest, AppendIntWritesDecimal) {
    std::string out;
    append_int(out, 0);
    out += ',';
    append_int(out, -42);
    out += ',';
    append_int(out, 1700000000000);
    out += ',';
    append_int(out, INT64_MIN);
    EXPECT_EQ(out, "0,-42,1700000000000,-9223372036854775808");
}

TEST_F(WriterTest, EscapeLineSeparatorsReplacesRawSeparators) {
    EXPECT_EQ(escape_line_separators("[\"a\xe2\x80\xa8"
                                     "b\xe2\x80\xa9\"]"),
              R"(["a\u2028b\u2029"])");
}

TEST_F(WriterTest, EscapeLineSeparatorsLeavesOtherTextAlone) {
    std::string s = "[{\"data\":\"caf\xc3\xa9 \xe2\x80\xa0 \\u2028\"}]";
    EXPECT_EQ(escape_line_separators(s), s);
    EXPECT_EQ(escape_line_separators(""), "");
    EXPECT_EQ(escape_line_separators("\xe2\x80"), "\xe2\x80");
    EXPECT_EQ(escape_line_separators("\xe2\x80\xa9"), R"(\u2029)");
}

}  // namespace
}  // namespace encke::json
