// URL and form decoding, cookies, dates, content types, JSONP names, origins, form batches.
#include "transport/http_util.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace encke::transport {
namespace {

class HttpUtilTest : public ::testing::Test {};

TEST_F(HttpUtilTest, UrlDecodeDecodesPercentEscapes) {
    EXPECT_EQ(url_decode("%5B%7B%22a%22%3A1%7D%5D", false), R"([{"a":1}])");
    EXPECT_EQ(url_decode("%e2%80%a8", false), "\xe2\x80\xa8");
    EXPECT_EQ(url_decode("plain", false), "plain");
    EXPECT_EQ(url_decode("", false), "");
    EXPECT_EQ(url_decode("%41", false), "A");
    EXPECT_EQ(url_decode("a%00b", false), std::string("a\0b", 3));
}

TEST_F(HttpUtilTest, UrlDecodePlusIsSpaceOnlyForForms) {
    EXPECT_EQ(url_decode("a+b", true), "a b");
    EXPECT_EQ(url_decode("a+b", false), "a+b");
    EXPECT_EQ(url_decode("a%2Bb", true), "a+b");
}

TEST_F(HttpUtilTest, UrlDecodeRejectsBadEscapes) {
    for (auto bad : {"%", "%4", "a%", "a%4", "%zz", "%4g", "%g4", "%%41", "100%"})
        EXPECT_FALSE(url_decode(bad, true)) << bad;
}

TEST_F(HttpUtilTest, FormValuesReturnsEveryDecodedValue) {
    auto q = "message=%5B%5D&jsonp=cb&message=x+y&other=1";
    EXPECT_EQ(form_values(q, "message"), (std::vector<std::string>{"[]", "x y"}));
    EXPECT_EQ(form_values(q, "jsonp"), (std::vector<std::string>{"cb"}));
    EXPECT_TRUE(form_values(q, "missing").empty());
    EXPECT_TRUE(form_values("", "message").empty());
}

TEST_F(HttpUtilTest, FormValuesMatchesWholeDecodedNames) {
    EXPECT_TRUE(form_values("messages=1&xmessage=2", "message").empty());
    EXPECT_EQ(form_values("mess%61ge=1", "message"), std::vector<std::string>{"1"});
}

TEST_F(HttpUtilTest, FormValuesWithoutEqualsIsEmptyValue) {
    EXPECT_EQ(form_values("message&a=1", "message"), std::vector<std::string>{""});
    EXPECT_EQ(form_values("message=", "message"), std::vector<std::string>{""});
}

TEST_F(HttpUtilTest, FormValuesSkipsMalformedValues) {
    EXPECT_EQ(form_values("message=%zz&message=ok", "message"), std::vector<std::string>{"ok"});
}

TEST_F(HttpUtilTest, CookieValueFindsTheNamedCookie) {
    auto h = "a=1; BAYEUX_BROWSER=abc123; b=2";
    EXPECT_EQ(cookie_value(h, "BAYEUX_BROWSER"), "abc123");
    EXPECT_EQ(cookie_value(h, "a"), "1");
    EXPECT_EQ(cookie_value(h, "b"), "2");
    EXPECT_EQ(cookie_value("BAYEUX_BROWSER=x", "BAYEUX_BROWSER"), "x");
    EXPECT_EQ(cookie_value("a=1;b=2", "b"), "2");
}

TEST_F(HttpUtilTest, CookieValueDoesNotMatchPrefixesOrSuffixes) {
    EXPECT_EQ(cookie_value("XBAYEUX_BROWSER=1; BAYEUX_BROWSERX=2", "BAYEUX_BROWSER"), "");
    EXPECT_EQ(cookie_value("", "a"), "");
    EXPECT_EQ(cookie_value("a", "a"), "");
}

TEST_F(HttpUtilTest, CookieValueTakesTheFirstOccurrenceAndTrims) {
    EXPECT_EQ(cookie_value("a=first ; a=second", "a"), "first");
    EXPECT_EQ(cookie_value("a=", "a"), "");
}

TEST_F(HttpUtilTest, HttpDateIsImfFixdate) {
    EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST_F(HttpUtilTest, HttpDateRoundTrips) {
    for (std::time_t t : {std::time_t{0}, std::time_t{784111777}, std::time_t{951782400},
                          std::time_t{1700000000}, std::time_t{4102444799}})
        EXPECT_EQ(parse_http_date(http_date(t)), t) << http_date(t);
}

TEST_F(HttpUtilTest, ParseHttpDateRejectsOtherFormats) {
    for (auto bad : {"", "Sun, 06 Nov 1994 08:49:37", "Sunday, 06-Nov-94 08:49:37 GMT",
                     "Sun Nov  6 08:49:37 1994", "Sun, 06 Foo 1994 08:49:37 GMT",
                     "Sun, xx Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC"})
        EXPECT_FALSE(parse_http_date(bad)) << bad;
}

TEST_F(HttpUtilTest, ContentTypeFollowsTheExtension) {
    EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(content_type_for("/js/app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("a.mjs"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("style.css"), "text/css; charset=utf-8");
    EXPECT_EQ(content_type_for("data.json"), "application/json");
    EXPECT_EQ(content_type_for("logo.svg"), "image/svg+xml");
    EXPECT_EQ(content_type_for("x.png"), "image/png");
    EXPECT_EQ(content_type_for("x.jpeg"), "image/jpeg");
    EXPECT_EQ(content_type_for("favicon.ico"), "image/x-icon");
    EXPECT_EQ(content_type_for("f.woff2"), "font/woff2");
    EXPECT_EQ(content_type_for("m.wasm"), "application/wasm");
    EXPECT_EQ(content_type_for("readme.txt"), "text/plain; charset=utf-8");
}

TEST_F(HttpUtilTest, UnknownContentTypeIsOctetStream) {
    EXPECT_EQ(content_type_for("Makefile"), "application/octet-stream");
    EXPECT_EQ(content_type_for("archive.tar.gz"), "application/octet-stream");
    EXPECT_EQ(content_type_for("x.html.bak"), "application/octet-stream");
    EXPECT_EQ(content_type_for("trailingdot."), "application/octet-stream");
}

TEST_F(HttpUtilTest, JsonpCallbackAcceptsClientNames) {
    for (auto ok :
         {"_cometd_jsonp_3", "__jsonp1__", "jQuery123_456", "jsonpcallback", "a.b.c", "$", "x-y"})
        EXPECT_TRUE(valid_jsonp_callback(ok)) << ok;
    EXPECT_TRUE(valid_jsonp_callback(std::string(64, 'a')));
}

TEST_F(HttpUtilTest, JsonpCallbackRejectsScriptAndBadLengths) {
    for (auto bad : {"alert(1)", "", "a b", "a;b", "a=b", "a'b", "a\"b", "<script>", "a/b", "a\nb"})
        EXPECT_FALSE(valid_jsonp_callback(bad)) << bad;
    EXPECT_FALSE(valid_jsonp_callback(std::string(65, 'a')));
    EXPECT_FALSE(valid_jsonp_callback("caf\xc3\xa9"));
}

TEST_F(HttpUtilTest, OriginAllowedByWildcardOrExactMatch) {
    EXPECT_TRUE(origin_allowed({"*"}, "https://app.example"));
    EXPECT_TRUE(
        origin_allowed({"https://a.example", "https://app.example"}, "https://app.example"));
    EXPECT_FALSE(origin_allowed({"https://app.example"}, "http://app.example"));
    EXPECT_FALSE(origin_allowed({"https://app.example"}, "https://app.example.evil"));
    EXPECT_FALSE(origin_allowed({"https://app.example"}, "https://app.example:8443"));
    EXPECT_FALSE(origin_allowed({}, "https://app.example"));
}

TEST_F(HttpUtilTest, JoinMessageValuesKeepsASingleValue) {
    EXPECT_EQ(join_message_values({R"([{"channel":"/a"}])"}), R"([{"channel":"/a"}])");
    EXPECT_EQ(join_message_values({R"({"channel":"/a"})"}), R"({"channel":"/a"})");
}

TEST_F(HttpUtilTest, JoinMessageValuesConcatenatesArraysAndObjects) {
    EXPECT_EQ(
        join_message_values({R"([{"channel":"/a"}])", R"( [{"channel":"/b"},{"channel":"/c"}] )",
                             R"({"channel":"/d"})"}),
        R"([{"channel":"/a"},{"channel":"/b"},{"channel":"/c"},{"channel":"/d"}])");
}

TEST_F(HttpUtilTest, JoinMessageValuesSkipsEmptyValues) {
    EXPECT_EQ(join_message_values({"[]", R"({"channel":"/a"})", "  ", "[ ]"}),
              R"([{"channel":"/a"}])");
    EXPECT_EQ(join_message_values({}), "[]");
}

}  // namespace
}  // namespace encke::transport
