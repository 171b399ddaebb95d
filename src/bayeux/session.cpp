#include "bayeux/session.hpp"
// session is a plain aggregate for now; this file keeps one translation unit per type.
