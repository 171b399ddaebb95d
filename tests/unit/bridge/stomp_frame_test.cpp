// STOMP 1.2 framing: escapes, content-length and NUL bodies, heart-beats, frames split anywhere.
#include "bridge/stomp_frame.hpp"

#include <gtest/gtest.h>

namespace encke::bridge::stomp {
namespace {

TEST(StompFrame, EncodeEscapesHeadersButNotInConnect) {
    frame f;
    f.command = "SEND";
    f.headers = {{"destination", "/queue/a"}, {"k:1", "v\nx\\y\r"}};
    f.body = "{\"a\":1}";
    std::string out;
    encode(f, false, out);
    EXPECT_EQ(out, std::string("SEND\ndestination:/queue/a\nk\\c1:v\\nx\\\\y\\r\n\n{\"a\":1}") + '\0');
    frame c;
    c.command = "CONNECT";
    c.headers = {{"passcode", "a:b"}};
    out.clear();
    encode(c, false, out);
    EXPECT_EQ(out, std::string("CONNECT\npasscode:a:b\n\n") + '\0');
}

TEST(StompFrame, ContentLengthWhenAsked) {
    frame f;
    f.command = "SEND";
    f.body = std::string("a\0b", 3);
    std::string out;
    encode(f, true, out);
    static constexpr char want[] = "SEND\ncontent-length:3\n\na\0b";  // + the array's own NUL
    EXPECT_EQ(out, std::string(want, sizeof want));
}

TEST(StompFrame, ParsesFramesSplitAtEveryByte) {
    std::string wire = std::string("\n\nMESSAGE\ndestination:/topic/p.x\nmessage-id:ID\\cabc\nsubscription:0\n\n{\"p\":1}") + '\0' +
                       "\r\nMESSAGE\r\ncontent-length:5\r\n\r\n" + std::string("ab\0cd", 5) + '\0' + "\n";
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        parser p(1 << 20);
        std::vector<frame> got;
        frame f;
        for (auto part : {wire.substr(0, cut), wire.substr(cut)}) {
            p.feed(part);
            parser::result r;
            while ((r = p.next(f)) == parser::result::frame) got.push_back(f);
            ASSERT_NE(r, parser::result::error) << p.error();
        }
        ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
        EXPECT_EQ(got[0].command, "MESSAGE");
        EXPECT_EQ(*got[0].get("message-id"), "ID:abc");
        EXPECT_EQ(got[0].body, "{\"p\":1}");
        EXPECT_EQ(got[1].body, std::string("ab\0cd", 5));
        EXPECT_EQ(p.heartbeats, 4u);
    }
}

TEST(StompFrame, FirstOfRepeatedHeadersWins) {
    parser p(1024);
    p.feed(std::string("MESSAGE\na:1\na:2\n\n") + '\0');
    frame f;
    ASSERT_EQ(p.next(f), parser::result::frame);
    EXPECT_EQ(*f.get("a"), "1");
}

TEST(StompFrame, ConnectedHeadersAreNotUnescaped) {
    parser p(1024);
    p.feed(std::string("CONNECTED\nsession:ID:vm-1\\c2\nheart-beat:0,0\n\n") + '\0');
    frame f;
    ASSERT_EQ(p.next(f), parser::result::frame);
    EXPECT_EQ(*f.get("session"), "ID:vm-1\\c2");
}

TEST(StompFrame, ErrorsAreReported) {
    auto error_of = [](std::string wire, std::size_t max = 1024) {
        parser p(max);
        p.feed(wire);
        frame f;
        auto r = p.next(f);
        return r == parser::result::error ? p.error() : std::string();
    };
    EXPECT_NE(error_of(std::string("MESSAGE\nbad\\x:1\n\n") + '\0').find("escape"), std::string::npos);
    EXPECT_NE(error_of(std::string("MESSAGE\nnocolon\n\n") + '\0').find("without ':'"), std::string::npos);
    EXPECT_NE(error_of(std::string("MESSAGE\ncontent-length:x\n\n") + '\0').find("content-length"), std::string::npos);
    EXPECT_NE(error_of(std::string("MESSAGE\ncontent-length:2\n\nabc") + '\0').find("NUL"), std::string::npos);
    EXPECT_NE(error_of(std::string(200, 'a'), 100).find("over"), std::string::npos) << "headers too large";
}

TEST(StompFrame, OversizedBodiesAreSkippedAndTheFrameKept) {
    for (bool with_length : {true, false}) {
        std::string big(1000, 'x');
        std::string wire = "MESSAGE\nmessage-id:big\n" + (with_length ? std::string("content-length:1000\n") : "") +
                           "\n" + big + '\0' + "MESSAGE\nmessage-id:small\n\nok" + '\0';
        for (std::size_t step : {1u, 7u, 100u, 5000u}) {
            parser p(100);
            std::vector<frame> got;
            for (std::size_t i = 0; i < wire.size(); i += step) {
                p.feed(std::string_view(wire).substr(i, step));
                frame f;
                parser::result r;
                while ((r = p.next(f)) == parser::result::frame) got.push_back(f);
                ASSERT_NE(r, parser::result::error) << p.error();
            }
            ASSERT_EQ(got.size(), 2u) << "step " << step << " length " << with_length;
            EXPECT_TRUE(got[0].oversized);
            EXPECT_EQ(*got[0].get("message-id"), "big");
            EXPECT_EQ(got[0].body, "");
            EXPECT_EQ(got[0].body_bytes, 1000u);
            EXPECT_FALSE(got[1].oversized);
            EXPECT_EQ(got[1].body, "ok");
        }
    }
}

TEST(StompFrame, IncompleteFramesWait) {
    parser p(1024);
    frame f;
    p.feed("MESSAGE\ncontent-length:4\n\nab");
    EXPECT_EQ(p.next(f), parser::result::need_more);
    p.feed(std::string("cd") + '\0');
    ASSERT_EQ(p.next(f), parser::result::frame);
    EXPECT_EQ(f.body, "abcd");
    EXPECT_EQ(p.next(f), parser::result::need_more);
}

}  // namespace
}  // namespace encke::bridge::stomp
