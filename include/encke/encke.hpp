#pragma once
// Everything an application needs to embed Encke: encke::server, its options and the hook events.
#include "encke/events.hpp"
#include "encke/server.hpp"
#include "encke/version.hpp"
