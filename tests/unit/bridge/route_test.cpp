// Routes: which channel a broker destination arrives on, which destination a publish goes to,
// and which routes are refused.
#include "bridge/route.hpp"

#include <gtest/gtest.h>

namespace encke::bridge {
namespace {

route inbound(std::string from, std::string to) {
    route r;
    r.dir = direction::inbound;
    r.from = std::move(from);
    r.to = std::move(to);
    EXPECT_EQ(check_route(r), "");
    return r;
}

route outbound(std::string from, std::string to) {
    route r;
    r.dir = direction::outbound;
    r.from = std::move(from);
    r.to = std::move(to);
    EXPECT_EQ(check_route(r), "");
    return r;
}

std::optional<std::string> arrive(const route& r, std::string_view destination) {
    destination_pattern p;
    EXPECT_EQ(parse_destination(r.from, true, p), "");
    return channel_for(r, p, destination);
}

TEST(Route, ActiveMqRestWildcardMapsSegmentsToChannelSegments) {
    auto r = inbound("/topic/prices.>", "/prices");
    EXPECT_FALSE(r.fixed);
    EXPECT_EQ(arrive(r, "/topic/prices.EURUSD"), "/prices/EURUSD");
    EXPECT_EQ(arrive(r, "/topic/prices.fx.EURUSD"), "/prices/fx/EURUSD");
    EXPECT_EQ(arrive(r, "/topic/prices"), std::nullopt) << "'>' needs at least one segment";
    EXPECT_EQ(arrive(r, "/topic/news.x"), std::nullopt);
    EXPECT_EQ(arrive(r, "/queue/prices.x"), std::nullopt);
}

TEST(Route, SingleSegmentWildcardsAnywhere) {
    auto r = inbound("/topic/a.*.b.*", "/x");
    EXPECT_EQ(arrive(r, "/topic/a.1.b.2"), "/x/1/2");
    EXPECT_EQ(arrive(r, "/topic/a.1.b"), std::nullopt);
    EXPECT_EQ(arrive(r, "/topic/a.1.b.2.3"), std::nullopt);
    EXPECT_EQ(arrive(r, "/topic/a.1.c.2"), std::nullopt);
}

TEST(Route, RabbitHashMatchesZeroOrMore) {
    auto r = inbound("/topic/prices.#", "/prices");
    EXPECT_EQ(arrive(r, "/topic/prices.EURUSD"), "/prices/EURUSD");
    EXPECT_EQ(arrive(r, "/topic/prices"), "/prices");
}

TEST(Route, WithoutWildcardOrWhenFixedTheChannelIsTo) {
    auto r = inbound("/topic/news", "/news/all");
    EXPECT_TRUE(r.fixed);
    EXPECT_EQ(arrive(r, "/topic/news"), "/news/all");
    route f;
    f.from = "/topic/prices.>";
    f.to = "/prices/all";
    f.fixed = true;
    ASSERT_EQ(check_route(f), "");
    EXPECT_EQ(arrive(f, "/topic/prices.EURUSD"), "/prices/all");
}

TEST(Route, SegmentsThatAreNotChannelCharactersAreNotMapped) {
    auto r = inbound("/topic/prices.>", "/prices");
    EXPECT_EQ(arrive(r, "/topic/prices.a/b"), std::nullopt);
    EXPECT_EQ(arrive(r, "/topic/prices.a,b"), std::nullopt);
    EXPECT_EQ(arrive(r, "/topic/prices.*"), std::nullopt) << "never a wildcard channel";
    EXPECT_EQ(arrive(r, "/topic/prices..x"), std::nullopt) << "empty segment";
}

TEST(Route, OutboundAppendsTheWildcardSegmentsWithDots) {
    auto r = outbound("/orders/**", "/queue/orders");
    EXPECT_EQ(destination_for(r, "/orders/eu/new"), "/queue/orders.eu.new");
    EXPECT_EQ(destination_for(r, "/orders/x"), "/queue/orders.x");
    EXPECT_EQ(destination_for(r, "/orders"), std::nullopt);
    EXPECT_EQ(destination_for(r, "/other/x"), std::nullopt);
    auto one = outbound("/chat/*", "/topic/chat");
    EXPECT_EQ(destination_for(one, "/chat/room1"), "/topic/chat.room1");
    EXPECT_EQ(destination_for(one, "/chat/room1/x"), std::nullopt);
}

TEST(Route, OutboundFixedAndExactRoutes) {
    auto exact = outbound("/orders/new", "/queue/orders");
    EXPECT_TRUE(exact.fixed);
    EXPECT_EQ(destination_for(exact, "/orders/new"), "/queue/orders");
    EXPECT_EQ(destination_for(exact, "/orders/old"), std::nullopt);
    route f;
    f.dir = direction::outbound;
    f.from = "/orders/**";
    f.to = "/queue/orders";
    f.fixed = true;
    ASSERT_EQ(check_route(f), "");
    EXPECT_EQ(destination_for(f, "/orders/eu/new"), "/queue/orders");
}

TEST(Route, InvalidRoutesSayWhy) {
    auto error = [](direction d, std::string from, std::string to) {
        route r;
        r.dir = d;
        r.from = std::move(from);
        r.to = std::move(to);
        return check_route(r);
    };
    EXPECT_NE(error(direction::inbound, "/topic/a.>.b", "/x").find("before its last segment"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/a*", "/x").find("inside a segment"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/a..b", "/x").find("empty segment"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/", "/x").find("no name"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/a", "/x/*").find("not a valid channel"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/a", "x").find("not a valid channel"), std::string::npos);
    EXPECT_NE(error(direction::inbound, "/topic/a", "/meta/x").find("/meta or /service"), std::string::npos);
    EXPECT_NE(error(direction::outbound, "/orders/**", "/queue/o.*").find("wildcard"), std::string::npos);
    EXPECT_NE(error(direction::outbound, "/meta/**", "/queue/o").find("/meta or /service"), std::string::npos);
    EXPECT_NE(error(direction::outbound, "orders", "/queue/o").find("not a valid channel"), std::string::npos);
}

TEST(Route, DestinationsAreToldFromChannels) {
    EXPECT_TRUE(looks_like_destination("/topic/prices.>"));
    EXPECT_TRUE(looks_like_destination("/queue/orders"));
    EXPECT_TRUE(looks_like_destination("topic://prices"));
    EXPECT_TRUE(looks_like_destination("/exchange/amq.topic/x"));
    EXPECT_FALSE(looks_like_destination("/prices"));
    EXPECT_FALSE(looks_like_destination("/orders/**"));
}

}  // namespace
}  // namespace encke::bridge
