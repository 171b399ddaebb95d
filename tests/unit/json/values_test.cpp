// Reading one value, one member, and the body of POST /api/publish.
#include <gtest/gtest.h>

#include "json/values.hpp"

namespace encke::json {
namespace {

TEST(JsonValues, ValidValue) {
    EXPECT_TRUE(is_valid_value(R"({"a":[1,2,{"b":null}]})"));
    EXPECT_TRUE(is_valid_value("\"text\""));
    EXPECT_TRUE(is_valid_value("12"));
    EXPECT_FALSE(is_valid_value(""));
    EXPECT_FALSE(is_valid_value("{"));
    EXPECT_FALSE(is_valid_value("1 2"));
    EXPECT_FALSE(is_valid_value("\"\xff\""));
    EXPECT_FALSE(is_valid_value("[[[[1]]]]", 3));
}

TEST(JsonValues, StringMember) {
    EXPECT_EQ(string_member(R"({"token":"abc","n":1})", "token"), std::optional<std::string>("abc"));
    EXPECT_EQ(string_member(R"({"t\u006fken":"a\"b"})", "token"), std::optional<std::string>("a\"b"));
    EXPECT_EQ(string_member(R"({"n":1})", "n"), std::nullopt);
    EXPECT_EQ(string_member(R"({"n":1})", "token"), std::nullopt);
    EXPECT_EQ(string_member(R"(["token"])", "token"), std::nullopt);
    EXPECT_EQ(string_member("", "token"), std::nullopt);
    EXPECT_EQ(string_member("{bad", "token"), std::nullopt);
}

TEST(JsonValues, ApiPublishOneAndMany) {
    auto one = parse_api_publish(R"({"channel":"/a","data":{"x":[1, 2]}})", 10, 64);
    ASSERT_TRUE(one.error.empty()) << one.message;
    ASSERT_EQ(one.items.size(), 1u);
    EXPECT_EQ(one.items[0].channel, "/a");
    EXPECT_EQ(one.items[0].data, R"({"x":[1,2]})");
    EXPECT_FALSE(one.items[0].user);
    auto many = parse_api_publish(R"([{"channel":"/a","data":1},{"user":"bob","channel":"/b","data":"s"}])", 10, 64);
    ASSERT_TRUE(many.error.empty()) << many.message;
    ASSERT_EQ(many.items.size(), 2u);
    EXPECT_EQ(many.items[1].user, std::optional<std::string>("bob"));
    EXPECT_EQ(many.items[1].data, "\"s\"");
}

TEST(JsonValues, ApiPublishMistakes) {
    auto code = [](std::string_view body) { return parse_api_publish(body, 2, 8).error; };
    EXPECT_EQ(code("nope"), "invalid_json");
    EXPECT_EQ(code("[]"), "empty_batch");
    EXPECT_EQ(code("[1]"), "not_an_object");
    EXPECT_EQ(code(R"({"data":1})"), "channel_missing");
    EXPECT_EQ(code(R"({"channel":"/a"})"), "data_missing");
    EXPECT_EQ(code(R"({"channel":5,"data":1})"), "channel_invalid");
    EXPECT_EQ(code(R"({"channel":"/a","data":1,"user":3})"), "user_invalid");
    EXPECT_EQ(code(R"({"channel":"/a","data":1,"extra":3})"), "unknown_field");
    EXPECT_EQ(code(R"([{"channel":"/a","data":1},{"channel":"/a","data":1},{"channel":"/a","data":1}])"),
              "too_many_messages");
    EXPECT_EQ(code(R"({"channel":"/a","data":[[[[[[[[[1]]]]]]]]]})"), "invalid_json") << "too deep";
    auto second = parse_api_publish(R"([{"channel":"/a","data":1},{"channel":"/a"}])", 10, 64);
    EXPECT_NE(second.message.find("message 1"), std::string::npos) << second.message;
    EXPECT_TRUE(second.items.empty()) << "all or nothing";
}

}  // namespace
}  // namespace encke::json
