// Parsing Bayeux batches: raw forwarding of data/ext/id/unknown fields, decoded control fields,
// and the error for every malformed input.
#include "json/batch.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace encke::json {

// Readable failure messages for parse_error (found by argument-dependent lookup).
static void PrintTo(parse_error e, std::ostream* os) {
    *os << to_string(e);
}

namespace {

class BatchParserTest : public ::testing::Test {
  protected:
    parse_error parse(std::string_view text) { return parser.parse(text, out); }

    // Parses text that must be a valid one-message batch and returns the message.
    const message& one(std::string_view text) {
        auto e = parse(text);
        EXPECT_EQ(e, parse_error::none) << text;
        EXPECT_EQ(out.size(), 1u) << text;
        if (out.empty()) out.emplace_back();
        return out.front();
    }

    static std::string nested(std::size_t depth) {
        // A batch whose total nesting is `depth`: [ {"data": [[...]]} ]
        std::string s = R"([{"channel":"/a","data":)";
        std::size_t arrays = depth - 2;
        s.append(arrays, '[');
        s.append(arrays, ']');
        s += "}]";
        return s;
    }

    batch_parser parser{64};
    std::vector<message> out;
};

TEST_F(BatchParserTest, ParsesSingleObject) {
    auto& m = one(R"({"channel":"/meta/handshake","id":"1"})");
    EXPECT_TRUE(m.has_channel);
    EXPECT_TRUE(m.channel_ok);
    EXPECT_EQ(m.channel, "/meta/handshake");
    EXPECT_EQ(m.id, R"("1")");
}

TEST_F(BatchParserTest, ParsesArrayBatchInOrder) {
    ASSERT_EQ(parse(R"([{"channel":"/a","id":"1"},{"channel":"/b","id":"2"},{"channel":"/c"}])"),
              parse_error::none);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].channel, "/a");
    EXPECT_EQ(out[1].channel, "/b");
    EXPECT_EQ(out[2].channel, "/c");
    EXPECT_EQ(out[1].id, R"("2")");
    EXPECT_TRUE(out[2].id.empty());
}

TEST_F(BatchParserTest, AcceptsSurroundingWhitespace) {
    ASSERT_EQ(parse(" \n\t[ {\"channel\" : \"/a\"} ] \r\n"), parse_error::none);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].channel, "/a");
}

TEST_F(BatchParserTest, KeepsDataBytesExactly) {
    const std::string data =
        "{ \"b\" :  [1, 2.50, -0, 1.0e+2, 1E-7 ],\n\t\"a\":{\"z\":null,\"y\":true} }";
    auto& m = one(R"({"channel":"/a","data":)" + data + R"(,"id":"1"})");
    EXPECT_EQ(m.data, data);
}

TEST_F(BatchParserTest, KeepsDataAtTheEndOfTheObject) {
    auto& m = one(R"({"channel":"/a","data":{"k":"v"}})");
    EXPECT_EQ(m.data, R"({"k":"v"})");
}

TEST_F(BatchParserTest, KeepsDataWhitespaceBeforeTheNextFieldOut) {
    auto& m = one("{\"data\" : {\"k\":1}   ,\n \"channel\":\"/a\"}");
    EXPECT_EQ(m.data, R"({"k":1})");
}

TEST_F(BatchParserTest, KeepsScalarDataExactly) {
    EXPECT_EQ(one(R"({"channel":"/a","data":1.0e+2})").data, "1.0e+2");
    EXPECT_EQ(one(R"({"channel":"/a","data":-12.500})").data, "-12.500");
    EXPECT_EQ(one(R"({"channel":"/a","data":"text" })").data, R"("text")");
    EXPECT_EQ(one(R"({"channel":"/a","data":null})").data, "null");
    EXPECT_EQ(one(R"({"channel":"/a","data":false , "id":"1"})").data, "false");
    EXPECT_EQ(one(R"({"channel":"/a","data":[]})").data, "[]");
}

TEST_F(BatchParserTest, RefusesNumbersBeyondTheMachineRange) {
    // Encke decision (docs/protocol.md): the validating pass refuses numbers that fit neither a
    // 64-bit integer nor a double, as RFC 8259 §6 allows; the whole batch gets 400::invalid_json.
    for (auto n : {"123456789012345678901234567890", "-123456789012345678901234567890",
                   "18446744073709551616", "1e400", "-1e400"}) {
        std::vector<message> msgs;
        auto text = std::string(R"([{"channel":"/a","data":)") + n + "}]";
        EXPECT_EQ(parser.parse(text, msgs), parse_error::invalid_json) << n;
    }
    std::vector<message> msgs;
    EXPECT_EQ(parser.parse(R"([{"channel":"/a","data":9223372036854775807}])", msgs), parse_error::none);
    EXPECT_EQ(parser.parse(R"([{"channel":"/a","data":1.7976931348623157e308}])", msgs), parse_error::none);
}

TEST_F(BatchParserTest, KeepsUnicodeEscapesAndRawUtf8Exactly) {
    // "\u00e9" stays an escape, a raw é stays two bytes, a non-BMP emoji stays as written in
    // both its surrogate-pair escape form and its raw 4-byte form.
    const std::string data =
        R"({"e":"caf\u00e9","raw":"café","pair":"\ud83d\ude00","emoji":"😀","q":"a\"b\\c\/d\n"})";
    auto& m = one(R"([{"channel":"/a","data":)" + data + "}]");
    EXPECT_EQ(m.data, data);
}

TEST_F(BatchParserTest, KeepsExtBytesExactly) {
    const std::string ext = R"({ "binary" : {}, "ack":1, "z":"\u00e9" })";
    auto& m = one(R"({"channel":"/a","ext":)" + ext + R"(,"data":0})");
    EXPECT_EQ(m.ext, ext);
}

TEST_F(BatchParserTest, AcceptsEmptyExtObject) {
    auto& m = one(R"({"channel":"/a","data":1,"ext":{}})");
    EXPECT_EQ(m.ext, "{}");
    EXPECT_FALSE(m.ext_ack_flag);
    EXPECT_FALSE(m.ext_ack_batch);
    EXPECT_FALSE(m.has_timesync);
}

TEST_F(BatchParserTest, IdKeepsItsJsonType) {
    EXPECT_EQ(one(R"({"channel":"/a","id":"12"})").id, R"("12")");
    EXPECT_EQ(one(R"({"channel":"/a","id":12})").id, "12");
    EXPECT_EQ(one(R"({"channel":"/a","id":12 , "data":1})").id, "12");
    EXPECT_EQ(one(R"({"channel":"/a","id":"a\u0062"})").id, R"("a\u0062")");
    EXPECT_EQ(one(R"({"id":1.5e1,"channel":"/a"})").id, "1.5e1");
}

TEST_F(BatchParserTest, AbsentFieldsAreEmpty) {
    auto& m = one(R"({"channel":"/a"})");
    EXPECT_TRUE(m.id.empty());
    EXPECT_TRUE(m.data.empty());
    EXPECT_TRUE(m.ext.empty());
    EXPECT_TRUE(m.client_id.empty());
    EXPECT_FALSE(m.has_subscription);
    EXPECT_FALSE(m.has_supported_types);
    EXPECT_FALSE(m.advice_timeout);
    EXPECT_FALSE(m.advice_interval);
    EXPECT_TRUE(m.others.empty());
}

TEST_F(BatchParserTest, UnknownFieldsAreKeptRawInOrder) {
    auto& m = one(
        R"({"channel":"/a","x-b":{ "n" : 1.0e+2 },"data":1,"a\u0041":"\u00e9","timestamp":"Tue, 1"})");
    ASSERT_EQ(m.others.size(), 3u);
    EXPECT_EQ(m.others[0].key, "x-b");
    EXPECT_EQ(m.others[0].raw, R"({ "n" : 1.0e+2 })");
    EXPECT_EQ(m.others[1].key, "aA");  // keys are unescaped
    EXPECT_EQ(m.others[1].raw, R"("\u00e9")");
    EXPECT_EQ(m.others[2].key, "timestamp");
    EXPECT_EQ(m.others[2].raw, R"("Tue, 1")");
}

TEST_F(BatchParserTest, DecodesChannelAndClientIdEscapes) {
    auto& m = one(R"({"channel":"\/chat\/room","clientId":"ab\u0063"})");
    EXPECT_EQ(m.channel, "/chat/room");
    EXPECT_EQ(m.client_id, "abc");
}

TEST_F(BatchParserTest, NonStringChannelIsFlagged) {
    auto& m = one(R"({"channel":5,"data":1})");
    EXPECT_TRUE(m.has_channel);
    EXPECT_FALSE(m.channel_ok);
    EXPECT_EQ(m.data, "1");
}

TEST_F(BatchParserTest, MissingChannelIsFlagged) {
    auto& m = one(R"({"data":1})");
    EXPECT_FALSE(m.has_channel);
    EXPECT_FALSE(m.channel_ok);
}

TEST_F(BatchParserTest, NonStringClientIdIsEmpty) {
    EXPECT_TRUE(one(R"({"channel":"/a","clientId":42})").client_id.empty());
}

TEST_F(BatchParserTest, DecodesSupportedConnectionTypes) {
    auto& m = one(
        R"({"channel":"/meta/handshake","supportedConnectionTypes":["websocket","long-polling",3]})");
    EXPECT_TRUE(m.has_supported_types);
    ASSERT_EQ(m.supported_types.size(), 2u);
    EXPECT_EQ(m.supported_types[0], "websocket");
    EXPECT_EQ(m.supported_types[1], "long-polling");
}

TEST_F(BatchParserTest, DecodesConnectionType) {
    EXPECT_EQ(one(R"({"channel":"/meta/connect","connectionType":"long-polling"})").connection_type,
              "long-polling");
    EXPECT_TRUE(one(R"({"channel":"/meta/connect","connectionType":1})").connection_type.empty());
}

TEST_F(BatchParserTest, SubscriptionAsString) {
    auto& m = one(R"({"channel":"/meta/subscribe","subscription":"\/a\/*" ,"id":"3"})");
    EXPECT_TRUE(m.has_subscription);
    EXPECT_TRUE(m.subscription_ok);
    ASSERT_EQ(m.subscriptions.size(), 1u);
    EXPECT_EQ(m.subscriptions[0], "/a/*");
    EXPECT_EQ(m.subscription_raw, R"("\/a\/*")");  // echoed as sent
}

TEST_F(BatchParserTest, SubscriptionAsArray) {
    auto& m = one(R"({"channel":"/meta/subscribe","subscription":[ "/a", "\/b\/**" ],"id":"3"})");
    EXPECT_TRUE(m.subscription_ok);
    ASSERT_EQ(m.subscriptions.size(), 2u);
    EXPECT_EQ(m.subscriptions[0], "/a");
    EXPECT_EQ(m.subscriptions[1], "/b/**");
    EXPECT_EQ(m.subscription_raw, R"([ "/a", "\/b\/**" ])");
}

TEST_F(BatchParserTest, SubscriptionArraysOfSeveralMessagesStayApart) {
    ASSERT_EQ(parse(R"([{"channel":"/meta/subscribe","subscription":["/a","/b"]},
                        {"channel":"/meta/subscribe","subscription":["/c"]}])"),
              parse_error::none);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].subscriptions, (std::vector<std::string_view>{"/a", "/b"}));
    EXPECT_EQ(out[1].subscriptions, (std::vector<std::string_view>{"/c"}));
}

TEST_F(BatchParserTest, EmptySubscriptionArrayIsInvalid) {
    auto& m = one(R"({"channel":"/meta/subscribe","subscription":[]})");
    EXPECT_TRUE(m.has_subscription);
    EXPECT_FALSE(m.subscription_ok);
}

TEST_F(BatchParserTest, SubscriptionArrayWithNonStringIsInvalid) {
    auto& m = one(R"({"channel":"/meta/subscribe","subscription":["/a",1]})");
    EXPECT_TRUE(m.has_subscription);
    EXPECT_FALSE(m.subscription_ok);
}

TEST_F(BatchParserTest, NonStringSubscriptionIsInvalid) {
    for (auto v : {"1", "null", "{}", "true"}) {
        auto& m = one(std::string(R"({"channel":"/meta/subscribe","subscription":)") + v + "}");
        EXPECT_TRUE(m.has_subscription) << v;
        EXPECT_FALSE(m.subscription_ok) << v;
    }
}

TEST_F(BatchParserTest, DecodesAdviceTimeoutAndInterval) {
    auto& m = one(R"({"channel":"/meta/connect","advice":{"timeout":0,"interval":250,"x":1}})");
    EXPECT_EQ(m.advice_timeout, 0);
    EXPECT_EQ(m.advice_interval, 250);
}

TEST_F(BatchParserTest, AdviceWithOnlyTimeout) {
    auto& m = one(R"({"channel":"/meta/connect","advice":{"timeout":60000}})");
    EXPECT_EQ(m.advice_timeout, 60000);
    EXPECT_FALSE(m.advice_interval);
}

TEST_F(BatchParserTest, AdviceFloatIsTruncated) {
    EXPECT_EQ(one(R"({"channel":"/meta/connect","advice":{"timeout":1.5e3}})").advice_timeout,
              1500);
}

TEST_F(BatchParserTest, AdviceNonNumbersAreIgnored) {
    auto& m = one(R"({"channel":"/meta/connect","advice":{"timeout":"10","interval":null}})");
    EXPECT_FALSE(m.advice_timeout);
    EXPECT_FALSE(m.advice_interval);
}

TEST_F(BatchParserTest, HugeIntegerAdviceTimeoutSaturates) {
    auto& u = one(R"({"channel":"/meta/connect","advice":{"timeout":18446744073709551615}})");
    ASSERT_TRUE(u.advice_timeout);
    EXPECT_EQ(*u.advice_timeout, INT64_MAX);
}

TEST_F(BatchParserTest, HugeFloatAdviceTimeoutIsNotConvertedToANegativeValue) {
    // Converting an out-of-range double to an integer is undefined behaviour; on x86 it yields
    // INT64_MIN. Saturating or ignoring the value are both fine.
    auto& f = one(R"({"channel":"/meta/connect","advice":{"timeout":1e300}})");
    if (f.advice_timeout) {
        EXPECT_GT(*f.advice_timeout, 0);
    }
}

TEST_F(BatchParserTest, DecodesExtAckFlag) {
    EXPECT_EQ(one(R"({"channel":"/meta/handshake","ext":{"ack":true}})").ext_ack_flag, true);
    auto& off = one(R"({"channel":"/meta/handshake","ext":{"ack":false}})");
    EXPECT_EQ(off.ext_ack_flag, false);
    EXPECT_FALSE(off.ext_ack_batch);
}

TEST_F(BatchParserTest, DecodesExtAckBatchNumber) {
    auto& m = one(R"({"channel":"/meta/connect","ext":{"other":{"ack":99},"ack":7}})");
    EXPECT_EQ(m.ext_ack_batch, 7);
    EXPECT_FALSE(m.ext_ack_flag);
    EXPECT_EQ(one(R"({"channel":"/meta/connect","ext":{"ack":0}})").ext_ack_batch, 0);
}

TEST_F(BatchParserTest, DecodesTimesync) {
    auto& m =
        one(R"({"channel":"/meta/connect","ext":{"timesync":{"tc":1700000000000,"l":12,"o":-3}}})");
    EXPECT_TRUE(m.has_timesync);
    EXPECT_EQ(m.timesync_tc, 1700000000000);
    EXPECT_EQ(m.timesync_l, 12);
    EXPECT_EQ(m.timesync_o, -3);
    EXPECT_TRUE(m.timesync_has_l);
}

TEST_F(BatchParserTest, TimesyncWithoutLag) {
    auto& m = one(R"({"channel":"/meta/connect","ext":{"timesync":{"tc":5}}})");
    EXPECT_TRUE(m.has_timesync);
    EXPECT_EQ(m.timesync_tc, 5);
    EXPECT_FALSE(m.timesync_has_l);
}

TEST_F(BatchParserTest, ExtWithAckAndTimesyncTogether) {
    auto& m = one(R"({"channel":"/meta/connect","ext":{"timesync":{"tc":1,"l":2,"o":3},"ack":4}})");
    EXPECT_TRUE(m.has_timesync);
    EXPECT_EQ(m.ext_ack_batch, 4);
    EXPECT_EQ(m.timesync_o, 3);
}

class WithoutKeysTest : public ::testing::Test {};

TEST_F(WithoutKeysTest, RemovesNamedMembersAndKeepsTheOthersText) {
    EXPECT_EQ(
        without_keys(R"({"token":"s3cret","keep":{ "a" : [1, 2.0e+1] },"n":1.50})", {"token"}),
        R"({"keep":{ "a" : [1, 2.0e+1] },"n":1.50})");
    EXPECT_EQ(without_keys(R"({"a":1,"token":2,"b":"\u00e9","password":3})", {"token", "password"}),
              R"({"a":1,"b":"\u00e9"})");
}

TEST_F(WithoutKeysTest, RemovingEveryMemberLeavesAnEmptyObject) {
    EXPECT_EQ(without_keys(R"({"token":1})", {"token"}), "{}");
}

TEST_F(WithoutKeysTest, MatchesEscapedKeyNames) {
    EXPECT_EQ(without_keys(R"({"tok\u0065n":1,"a":2})", {"token"}), R"({"a":2})");
}

TEST_F(WithoutKeysTest, OnlyTopLevelMembersAreRemoved) {
    EXPECT_EQ(without_keys(R"({"nested":{"token":1}})", {"token"}), R"({"nested":{"token":1}})");
}

TEST_F(WithoutKeysTest, UnchangedWhenNothingMatchesOrNotAnObject) {
    const std::string ext = R"({ "binary" : {} , "ack":1 })";
    EXPECT_EQ(without_keys(ext, {"token"}), ext);
    EXPECT_EQ(without_keys("[1,2]", {"token"}), "[1,2]");
    EXPECT_EQ(without_keys(R"("token")", {"token"}), R"("token")");
    EXPECT_EQ(without_keys("{}", {"token"}), "{}");
}

TEST_F(BatchParserTest, ParserIsReusable) {
    ASSERT_EQ(parse(R"([{"channel":"/first","subscription":["/x"],"data":{"a":1}}])"),
              parse_error::none);
    ASSERT_EQ(parse(R"({"channel":"/second","data":2})"), parse_error::none);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].channel, "/second");
    EXPECT_EQ(out[0].data, "2");
    EXPECT_FALSE(out[0].has_subscription);
}

TEST_F(BatchParserTest, LargeBatchAfterSmallOne) {
    ASSERT_EQ(parse(R"({"channel":"/a"})"), parse_error::none);
    std::string big = "[";
    for (int i = 0; i < 500; ++i) {
        if (i) big += ',';
        big += R"({"channel":"/c)" + std::to_string(i) + R"(","data":")" + std::string(50, 'x') +
               "\"}";
    }
    big += "]";
    ASSERT_EQ(parse(big), parse_error::none);
    ASSERT_EQ(out.size(), 500u);
    EXPECT_EQ(out[499].channel, "/c499");
}

TEST_F(BatchParserTest, InvalidJsonIsRejected) {
    for (auto bad : {"", "   ", "[", "[{]", R"([{"channel":"/a",}])", R"({"channel":"/a"} x)",
                     R"([{"channel":'/a'}])", R"([{"channel":"/a"}]])", "nul", R"({"a":01})"})
        EXPECT_EQ(parse(bad), parse_error::invalid_json) << bad;
}

TEST_F(BatchParserTest, InvalidUtf8IsRejected) {
    EXPECT_EQ(parse("[{\"channel\":\"/a\",\"data\":\"\xff\"}]"), parse_error::invalid_utf8);
    EXPECT_EQ(parse("[{\"channel\":\"/a\",\"data\":\"\xc3\"}]"), parse_error::invalid_utf8);
    // An encoded surrogate (U+D800) is not valid UTF-8.
    EXPECT_EQ(parse("[{\"channel\":\"/a\",\"data\":\"\xed\xa0\x80\"}]"), parse_error::invalid_utf8);
}

TEST_F(BatchParserTest, NestingUpToMaxDepthIsAccepted) {
    batch_parser p(8);
    EXPECT_EQ(p.parse(nested(8), out), parse_error::none);
}

TEST_F(BatchParserTest, NestingBeyondMaxDepthIsTooDeep) {
    batch_parser p(8);
    EXPECT_EQ(p.parse(nested(9), out), parse_error::too_deep);
    EXPECT_EQ(parse(nested(500)), parse_error::too_deep);
}

TEST_F(BatchParserTest, EmptyArrayIsEmpty) {
    EXPECT_EQ(parse("[]"), parse_error::empty);
    EXPECT_EQ(parse(" [ ] "), parse_error::empty);
}

TEST_F(BatchParserTest, NonObjectElementsAreNotMessages) {
    EXPECT_EQ(parse("[1]"), parse_error::not_messages);
    EXPECT_EQ(parse(R"([{"channel":"/a"},"x"])"), parse_error::not_messages);
    EXPECT_EQ(parse(R"([[{"channel":"/a"}]])"), parse_error::not_messages);
    EXPECT_EQ(parse("[null]"), parse_error::not_messages);
}

TEST_F(BatchParserTest, ScalarDocumentIsNotMessages) {
    EXPECT_EQ(parse(R"("text")"), parse_error::not_messages);
    EXPECT_EQ(parse("42"), parse_error::not_messages);
    EXPECT_EQ(parse("null"), parse_error::not_messages);
}

TEST_F(BatchParserTest, ErrorsHaveShortReasons) {
    EXPECT_EQ(to_string(parse_error::none), "none");
    EXPECT_EQ(to_string(parse_error::invalid_json), "invalid_json");
    EXPECT_EQ(to_string(parse_error::invalid_utf8), "invalid_utf8");
    EXPECT_EQ(to_string(parse_error::too_deep), "json_too_deep");
    EXPECT_EQ(to_string(parse_error::not_messages), "not_messages");
    EXPECT_EQ(to_string(parse_error::empty), "empty_batch");
}

}  // namespace
}  // namespace encke::json
