// Asio and Beast are built in this one translation unit (BOOST_*_SEPARATE_COMPILATION), so the
// rest of the project includes only their declarations: a clean build stays fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
