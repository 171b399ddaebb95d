#include <gtest/gtest.h>

#include "bayeux/channel.hpp"

TEST(Smoke, ChannelValid) { EXPECT_TRUE(encke::bayeux::is_valid_channel("/a/b")); }
