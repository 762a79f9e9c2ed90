// RFC 9111 rules with explicit times (no clock): Cache-Control, storability, freshness
// precedence, Age arithmetic, conditionals, 304 refresh, keys.
#include <catch2/catch.hpp>

#include "source/filters/cache/key.h"
#include "source/filters/cache/redis_tier.h"
#include "source/filters/cache/rules.h"

namespace gw::filters::cache {
namespace {

constexpr int64_t kT0 = 1717243200000;  // 2024-06-01T12:00:00Z in ms

HeaderMap hm(std::initializer_list<std::pair<const char*, const char*>> l) {
  HeaderMap h;
  for (const auto& [k, v] : l) h.add(k, v);
  return h;
}

std::string storable(const HeaderMap& resp, int status = 200, const char* method = "GET",
                     bool auth = false, RoutePolicy p = {}) {
  return whyNotStorable(p, method, auth, CacheControl(), status, resp, parseCacheControl(resp));
}

TEST_CASE("Cache-Control directives parse, case-insensitively, across fields") {
  auto cc = parseCacheControl(hm({{"cache-control", "Max-Age=60, s-maxage=\"30\""},
                                  {"cache-control", "no-cache, PRIVATE, stale-while-revalidate=5"},
                                  {"cache-control", "stale-if-error=9, must-revalidate"}}));
  CHECK(*cc.max_age == 60);
  CHECK(*cc.s_maxage == 30);
  CHECK(cc.no_cache);
  CHECK(cc.priv);
  CHECK(*cc.stale_while_revalidate == 5);
  CHECK(*cc.stale_if_error == 9);
  CHECK(cc.must_revalidate);
  // An invalid max-age makes the response stale (RFC 9111 4.2.1).
  CHECK(*parseCacheControl(hm({{"cache-control", "max-age=abc"}})).max_age == 0);
  // An overflowing one is "very large".
  CHECK(*parseCacheControl(hm({{"cache-control", "max-age=99999999999999999999"}})).max_age > 1e9);
}

TEST_CASE("storable: GET only, default statuses, no-store, private, Set-Cookie, Vary *") {
  const HeaderMap ok = hm({{"cache-control", "max-age=60"}});
  CHECK(storable(ok) == "");
  CHECK(storable(ok, 200, "HEAD") == "method");
  CHECK(storable(ok, 200, "POST") == "method");
  for (int s : {200, 203, 204, 300, 301, 404, 410}) CHECK(storable(ok, s) == "");
  for (int s : {201, 302, 304, 400, 500, 503}) CHECK(storable(ok, s) != "");
  CHECK(storable(hm({{"cache-control", "no-store, max-age=60"}})) == "no-store");
  CHECK(storable(hm({{"cache-control", "private, max-age=60"}})) == "private");
  CHECK(storable(hm({{"set-cookie", "a=1"}, {"cache-control", "max-age=60"}})) == "set-cookie");
  RoutePolicy cookies;
  cookies.cache_set_cookie = true;
  CHECK(storable(hm({{"set-cookie", "a=1"}}), 200, "GET", false, cookies) == "");
  CHECK(storable(hm({{"vary", "Accept, *"}})) == "vary *");
  RoutePolicy statuses;
  statuses.cacheable_statuses = {200, 302};
  CHECK(storable(ok, 302, "GET", false, statuses) == "");
  CHECK(storable(ok, 404, "GET", false, statuses) == "status 404");
  CacheControl req_no_store;
  req_no_store.no_store = true;
  CHECK(whyNotStorable({}, "GET", false, req_no_store, 200, ok, parseCacheControl(ok)) ==
        "request no-store");
}

TEST_CASE("Authorization: not stored unless public, s-maxage, must-revalidate or the route says") {
  CHECK(storable(hm({{"cache-control", "max-age=60"}}), 200, "GET", true) == "authorization");
  CHECK(storable(hm({{"cache-control", "public, max-age=60"}}), 200, "GET", true) == "");
  CHECK(storable(hm({{"cache-control", "s-maxage=60"}}), 200, "GET", true) == "");
  CHECK(storable(hm({{"cache-control", "must-revalidate"}}), 200, "GET", true) == "");
  RoutePolicy p;
  p.cache_authorized = true;
  CHECK(storable(hm({{"cache-control", "max-age=60"}}), 200, "GET", true, p) == "");
  // and not served from a shared entry
  CHECK(whyNotServable({}, "GET", hm({{"authorization", "Bearer x"}}), {}) == "authorization");
  CHECK(whyNotServable(p, "GET", hm({{"authorization", "Bearer x"}}), {}) == "");
}

TEST_CASE("servable: GET and HEAD; request no-cache, no-store, max-age=0, Pragma") {
  const HeaderMap none;
  CHECK(whyNotServable({}, "GET", none, {}) == "");
  CHECK(whyNotServable({}, "HEAD", none, {}) == "");
  CHECK(whyNotServable({}, "POST", none, {}) == "method");
  auto cc = [](const char* v) { return hm({{"cache-control", v}}); };
  CHECK(whyNotServable({}, "GET", cc("no-cache"), parseCacheControl(cc("no-cache"))) ==
        "request no-cache");
  CHECK(whyNotServable({}, "GET", cc("max-age=0"), parseCacheControl(cc("max-age=0"))) ==
        "request no-cache");
  CHECK(whyNotServable({}, "GET", cc("no-store"), parseCacheControl(cc("no-store"))) ==
        "request no-store");
  CHECK(whyNotServable({}, "GET", hm({{"pragma", "no-cache"}}), {}) == "request no-cache");
}

TEST_CASE("freshness: s-maxage over max-age over Expires over the route default; cap and force") {
  RoutePolicy p;
  p.default_ttl_s = 30;
  auto life = [&](const HeaderMap& h) {
    return freshnessLifetime(p, h, parseCacheControl(h), kT0);
  };
  CHECK(life(hm({})) == 30);
  CHECK(life(hm({{"cache-control", "max-age=60, s-maxage=10"}})) == 10);
  CHECK(life(hm({{"cache-control", "max-age=60"}, {"expires", formatHttpDate(kT0 / 1000 + 500).c_str()}})) == 60);
  CHECK(life(hm({{"date", formatHttpDate(kT0 / 1000).c_str()},
                 {"expires", formatHttpDate(kT0 / 1000 + 500).c_str()}})) == 500);
  // Expires without Date: against the response time; an invalid Expires is already expired.
  CHECK(life(hm({{"expires", formatHttpDate(kT0 / 1000 + 100).c_str()}})) == 100);
  CHECK(life(hm({{"expires", "0"}})) == 0);
  CHECK(life(hm({{"cache-control", "no-cache, max-age=60"}})) == 0);
  p.max_ttl_s = 20;
  CHECK(life(hm({{"cache-control", "max-age=60"}})) == 20);
  CHECK(life(hm({{"cache-control", "max-age=5"}})) == 5);
  p.force_ttl_s = 99;
  CHECK(life(hm({{"cache-control", "max-age=5"}})) == 99);
  CHECK(life(hm({{"cache-control", "no-cache"}})) == 99);
}

TEST_CASE("Age arithmetic (RFC 9111 4.2.3)") {
  // Date 10 s before the response arrived: apparent age 10.
  HeaderMap h = hm({{"date", formatHttpDate(kT0 / 1000 - 10).c_str()}});
  CHECK(correctedInitialAge(h, kT0 - 2000, kT0) == 10);
  // Age 5 from upstream + 2 s response delay = 7 > apparent 0.
  HeaderMap a = hm({{"date", formatHttpDate(kT0 / 1000).c_str()}, {"age", "5"}});
  CHECK(correctedInitialAge(a, kT0 - 2000, kT0) == 7);
  // A Date in the future: apparent age 0.
  CHECK(correctedInitialAge(hm({{"date", formatHttpDate(kT0 / 1000 + 60).c_str()}}), kT0, kT0) == 0);
  CacheEntry e;
  fillEntry(e, RoutePolicy{}, 200, hm({{"cache-control", "max-age=30"}, {"age", "4"}}), kT0, kT0);
  CHECK(e.ageAt(kT0) == 4);
  CHECK(e.ageAt(kT0 + 10'500) == 14);  // resident time adds, whole seconds
  CHECK(e.freshAt(kT0 + 25'000));
  CHECK_FALSE(e.freshAt(kT0 + 26'000));  // 4 + 26 = 30: no longer fresh
  CHECK(e.stalenessAt(kT0 + 36'000) == 10);
}

TEST_CASE("stale windows from the response, else the route's defaults") {
  RoutePolicy p;
  p.default_swr_s = 7;
  p.default_sie_s = 8;
  CacheEntry e;
  fillEntry(e, p, 200, hm({{"cache-control", "max-age=1, stale-while-revalidate=3"}}), kT0, kT0);
  CHECK(e.stale_while_revalidate_s == 3);
  CHECK(e.stale_if_error_s == 8);
  fillEntry(e, p, 200, hm({{"cache-control", "max-age=1, must-revalidate"}}), kT0, kT0);
  CHECK(e.must_revalidate);
}

TEST_CASE("conditional requests: If-None-Match (weak), If-Modified-Since") {
  CacheEntry e;
  fillEntry(e, RoutePolicy{}, 200,
            hm({{"etag", "W/\"v1\""}, {"last-modified", formatHttpDate(kT0 / 1000 - 100).c_str()}}),
            kT0, kT0);
  CHECK(conditionalMatches(hm({{"if-none-match", "\"v1\""}}), e));
  CHECK(conditionalMatches(hm({{"if-none-match", "\"x\", W/\"v1\""}}), e));
  CHECK(conditionalMatches(hm({{"if-none-match", "*"}}), e));
  CHECK_FALSE(conditionalMatches(hm({{"if-none-match", "\"v2\""}}), e));
  // If-None-Match wins over If-Modified-Since
  CHECK_FALSE(conditionalMatches(hm({{"if-none-match", "\"v2\""},
                                     {"if-modified-since", formatHttpDate(kT0 / 1000).c_str()}}),
                                 e));
  CHECK(conditionalMatches(hm({{"if-modified-since", formatHttpDate(kT0 / 1000 - 100).c_str()}}), e));
  CHECK_FALSE(conditionalMatches(hm({{"if-modified-since", formatHttpDate(kT0 / 1000 - 101).c_str()}}), e));
  CHECK_FALSE(conditionalMatches(hm({{"if-modified-since", "garbage"}}), e));
  CHECK_FALSE(conditionalMatches(hm({}), e));
}

TEST_CASE("revalidation: an upstream 304 refreshes the stored entry's fields and times") {
  CacheEntry e;
  fillEntry(e, RoutePolicy{}, 200,
            hm({{"cache-control", "max-age=10"}, {"etag", "\"v1\""}, {"content-type", "text/plain"},
                {"x-old", "1"}}),
            kT0, kT0);
  e.body = "payload";
  const CacheEntry r = refreshedEntry(
      e, RoutePolicy{}, hm({{"cache-control", "max-age=60"}, {"x-old", "2"}, {"content-type", "bad"}}),
      kT0 + 100'000, kT0 + 100'000);
  CHECK(r.body == "payload");
  CHECK(r.status == 200);
  CHECK(r.fresh_lifetime_s == 60);
  CHECK(r.ageAt(kT0 + 100'000) == 0);
  CHECK(r.etag == "\"v1\"");
  bool x_old_2 = false, ct_ok = false;
  for (const auto& [k, v] : r.headers) {
    if (k == "x-old") x_old_2 = v == "2";
    if (k == "content-type") ct_ok = v == "text/plain";
  }
  CHECK(x_old_2);
  CHECK(ct_ok);
}

TEST_CASE("HTTP dates: the three formats") {
  CHECK(*parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(*parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
  CHECK(*parseHttpDate("Sun Nov  6 08:49:37 1994") == 784111777);
  CHECK_FALSE(parseHttpDate("yesterday").has_value());
  CHECK(formatHttpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("Vary names: lower-cased, deduplicated, across fields") {
  auto v = varyNames(hm({{"vary", "Accept-Language, accept-encoding"}, {"vary", "ACCEPT-LANGUAGE"}}));
  REQUIRE(v.size() == 2);
  CHECK(v[0] == "accept-language");
  CHECK(v[1] == "accept-encoding");
}

TEST_CASE("keys: sorted query, configured headers and cookies, versioned by the rules") {
  CHECK(sortedQuery("b=2&a=1&a=0&c") == "a=1&a=0&b=2&c");
  CHECK(resourceOf("/p", "") == "/p");
  CHECK(resourceOf("/p", "z=1&y=2") == "/p?y=2&z=1");
  KeyRules rules;
  rules.headers = {"accept-language"};
  rules.cookies = {"tier"};
  const std::string v = rules.version();
  CHECK(v.size() == 9);
  KeyRules other = rules;
  other.headers.push_back("api-version");
  CHECK(other.version() != v);
  HeaderMap en = hm({{"accept-language", "en"}, {"cookie", "a=1; tier=gold"}});
  HeaderMap de = hm({{"accept-language", "de"}, {"cookie", "tier=gold"}});
  HeaderMap en2 = hm({{"accept-language", "EN"}, {"cookie", "tier=gold"}});
  const std::string k1 = baseKey(rules, v, "http", "h", "/p", en, nullptr);
  CHECK(k1 != baseKey(rules, v, "http", "h", "/p", de, nullptr));
  CHECK(k1 == baseKey(rules, v, "http", "h", "/p", en2, nullptr));
  CHECK(k1 != baseKey(rules, v, "http", "other", "/p", en, nullptr));
  CHECK(varyKey("b", {"accept"}, hm({{"accept", "a/b"}})) !=
        varyKey("b", {"accept"}, hm({{"accept", "c/d"}})));
  CHECK(cookieValue(en, "tier") == "gold");
  CHECK(cookieValue(en, "none") == "");
}

TEST_CASE("Redis encoding round-trips; garbage and other versions are refused") {
  CacheEntry e;
  fillEntry(e, RoutePolicy{}, 203, hm({{"cache-control", "max-age=10"}, {"vary", "accept"}}), kT0,
            kT0 + 1000);
  e.body = std::string("bin\0ary", 7);
  e.route = "r";
  e.path = "/p";
  e.resource = "/p?a=1";
  e.tags = {"t1", "t2"};
  auto d = decodeEntry(encodeEntry(e));
  REQUIRE(d != nullptr);
  CHECK(d->status == 203);
  CHECK(d->body == e.body);
  CHECK(d->vary == e.vary);
  CHECK(d->tags == e.tags);
  CHECK(d->fresh_lifetime_s == 10);
  CHECK(d->response_time_ms == kT0 + 1000);
  CHECK(decodeEntry("GWC2xxxx") == nullptr);
  CHECK(decodeEntry(encodeEntry(e).substr(0, 40)) == nullptr);
  CHECK(*decodeVary(encodeVary({"a", "b"})) == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(decodeVary("GWC1").has_value());
  CHECK(redisTtlMs(e, kT0 + 1000) == 9'000);  // 1 s of response delay is age
}

} // namespace
} // namespace gw::filters::cache
