#include <catch2/catch.hpp>

#include "source/tls/alpn.h"
#include "source/tls/sni_map.h"

namespace gw::tls {
namespace {

TEST_CASE("SniMap: exact beats wildcard beats default; case and trailing dot ignored") {
  SniMap m(7);
  REQUIRE(m.add("api.example.com", 1));
  REQUIRE(m.add("*.example.com", 2));
  REQUIRE(m.add("*.a.example.com", 3));
  CHECK_FALSE(m.add("API.example.com", 9));  // duplicate: the first stays
  CHECK_FALSE(m.add("*.*.example.com", 9));
  CHECK_FALSE(m.add("a*.example.com", 9));
  CHECK_FALSE(m.add("", 9));
  CHECK_FALSE(m.add("bad name", 9));
  CHECK(m.select("api.example.com") == 1);
  CHECK(m.select("Api.Example.COM.") == 1);
  CHECK(m.select("www.example.com") == 2);
  CHECK(m.select("x.a.example.com") == 3);
  CHECK(m.select("x.y.example.com") == 7);  // one label only
  CHECK(m.select("example.com") == 7);
  CHECK(m.select(".example.com") == 7);
  CHECK(m.select("") == 7);
  CHECK(m.select(std::string(300, 'a')) == 7);
  CHECK(m.defaultIndex() == 7);
}

TEST_CASE("validServerNamePattern") {
  CHECK(validServerNamePattern("a.example"));
  CHECK(validServerNamePattern("*.example"));
  CHECK(validServerNamePattern("localhost"));
  CHECK_FALSE(validServerNamePattern("*"));
  CHECK_FALSE(validServerNamePattern("*."));
  CHECK_FALSE(validServerNamePattern("a..b"));
  CHECK_FALSE(validServerNamePattern("a.b."));
  CHECK_FALSE(validServerNamePattern("a:443"));
}

TEST_CASE("ALPN: wire form and the server's preference") {
  CHECK(encodeAlpn({"h2", "http/1.1"}) == std::string("\x02h2\x08http/1.1"));
  const std::string client = encodeAlpn({"http/1.1", "h2"});
  CHECK(selectAlpn({"h2", "http/1.1"}, client) == "h2");
  CHECK(selectAlpn({"http/1.1"}, client) == "http/1.1");
  CHECK(selectAlpn({"h3"}, client).empty());
  CHECK(selectAlpn({"h2"}, std::string("\x02h2\x09http/1.1", 11)).empty());  // truncated
  CHECK(selectAlpn({"h2"}, std::string("\x00\x02h2", 4)).empty());           // empty name
  CHECK(selectAlpn({"h2"}, "").empty());
  CHECK(selectAlpn({"h2"}, "\x03h2x").empty());  // no prefix matches
  CHECK_FALSE(validAlpnName(""));
  CHECK_FALSE(validAlpnName(std::string(256, 'a')));
}

} // namespace
} // namespace gw::tls
