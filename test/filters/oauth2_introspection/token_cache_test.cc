#include "source/filters/oauth2_introspection/token_cache.h"

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gw::filters::oauth2 {
namespace {

IntrospectionResult active(const std::string& sub) {
  IntrospectionResult r;
  r.active = true;
  r.sub = sub;
  return r;
}

TEST_CASE("the key is the SHA-256 of the token, not the token") {
  const std::string k = TokenCache::keyOf("abc");
  CHECK(absl::BytesToHexString(k) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(k.find("abc") == std::string::npos);
}

TEST_CASE("an entry is found until its deadline, then dropped") {
  TokenCache c(10);
  const std::string k = TokenCache::keyOf("t1");
  c.put(k, active("alice"), /*expires_ms=*/2000, /*now_ms=*/1000);
  const IntrospectionResult* r = c.find(k, 1999);
  REQUIRE(r != nullptr);
  CHECK(r->sub == "alice");
  CHECK(c.find(k, 2000) == nullptr);
  CHECK(c.size() == 0);
  CHECK(c.find(TokenCache::keyOf("other"), 1000) == nullptr);
}

TEST_CASE("a negative result has its own (short) deadline") {
  TokenCache c(10);
  IntrospectionResult inactive;
  const std::string k = TokenCache::keyOf("bad");
  c.put(k, inactive, /*expires_ms=*/1000 + 5000, /*now_ms=*/1000);
  const IntrospectionResult* r = c.find(k, 5999);
  REQUIRE(r != nullptr);
  CHECK_FALSE(r->active);
  CHECK(c.find(k, 6000) == nullptr);
}

TEST_CASE("nothing is stored already expired or with max_entries 0") {
  TokenCache c(10);
  c.put(TokenCache::keyOf("a"), active("a"), 1000, 1000);
  CHECK(c.size() == 0);
  TokenCache off(0);
  off.put(TokenCache::keyOf("a"), active("a"), 5000, 1000);
  CHECK(off.size() == 0);
  CHECK(off.find(TokenCache::keyOf("a"), 1000) == nullptr);
}

TEST_CASE("the cache is bounded and evicts the least recently used") {
  TokenCache c(3);
  for (int i = 0; i < 3; i++) {
    c.put(TokenCache::keyOf(absl::StrCat("t", i)), active(absl::StrCat("u", i)), 10000, 0);
  }
  REQUIRE(c.find(TokenCache::keyOf("t0"), 1) != nullptr);  // t0 becomes most recent
  c.put(TokenCache::keyOf("t3"), active("u3"), 10000, 0);  // evicts t1
  CHECK(c.size() == 3);
  CHECK(c.evictions() == 1);
  CHECK(c.find(TokenCache::keyOf("t1"), 1) == nullptr);
  CHECK(c.find(TokenCache::keyOf("t0"), 1) != nullptr);
  CHECK(c.find(TokenCache::keyOf("t2"), 1) != nullptr);
  CHECK(c.find(TokenCache::keyOf("t3"), 1) != nullptr);
  for (int i = 0; i < 100; i++) {
    c.put(TokenCache::keyOf(absl::StrCat("many", i)), active("x"), 10000, 0);
  }
  CHECK(c.size() == 3);
}

TEST_CASE("putting a key again replaces its result and deadline") {
  TokenCache c(2);
  const std::string k = TokenCache::keyOf("t");
  c.put(k, active("old"), 1000, 0);
  c.put(k, active("new"), 9000, 0);
  CHECK(c.size() == 1);
  const IntrospectionResult* r = c.find(k, 5000);
  REQUIRE(r != nullptr);
  CHECK(r->sub == "new");
}

} // namespace
} // namespace gw::filters::oauth2
