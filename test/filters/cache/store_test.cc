// The memory store (LRU by bytes, Vary variants, purge) and coalescing, on a private store.
#include <catch2/catch.hpp>

#include "source/filters/cache/key.h"
#include "source/filters/cache/store.h"
#include "test/filters/fake_request_context.h"

namespace gw::filters::cache {
namespace {

std::shared_ptr<CacheEntry> entry(const std::string& path, size_t body, int64_t t = 1000) {
  auto e = std::make_shared<CacheEntry>();
  e->body.assign(body, 'x');
  e->path = path;
  e->resource = path;
  e->response_time_ms = t;
  e->fresh_lifetime_s = 60;
  return e;
}

TEST_CASE("store: insert and lookup; LRU eviction by bytes counts evictions per route") {
  const size_t one = entry("/a", 1000)->bytes() + 200;  // with the store's own overhead
  MemoryStore s(3 * one + 100, 1);
  auto st = s.routeStats("r");
  HeaderMap none;
  s.insert("a", entry("/a", 1000), st);
  s.insert("b", entry("/b", 1000), st);
  s.insert("c", entry("/c", 1000), st);
  CHECK(s.entries() == 3);
  REQUIRE(s.lookup("a", none) != nullptr);  // a is now the most recently used
  s.insert("d", entry("/d", 1000), st);
  CHECK(s.lookup("b", none) == nullptr);  // the least recently used went
  CHECK(s.lookup("a", none) != nullptr);
  CHECK(st->evictions.load() == 1);
  CHECK(st->entries.load() == 3);
  CHECK(st->bytes.load() == static_cast<int64_t>(s.bytes()));
  CHECK(s.bytes() <= s.capacity());
  // An entry over the budget is never stored.
  s.insert("huge", entry("/h", 10000), st);
  CHECK(s.lookup("huge", none) == nullptr);
}

TEST_CASE("store: Vary variants live apart under one base key") {
  MemoryStore s(1 << 20);
  auto st = s.routeStats("r");
  HeaderMap en, de;
  en.add("accept-language", "en");
  de.add("accept-language", "de");
  auto e1 = entry("/p", 10);
  e1->vary = {"accept-language"};
  e1->key = varyKey("base", e1->vary, en);
  e1->body = "english";
  s.insert("base", e1, st);
  CHECK(s.lookup("base", de) == nullptr);
  auto e2 = entry("/p", 10);
  e2->vary = {"accept-language"};
  e2->key = varyKey("base", e2->vary, de);
  e2->body = "deutsch";
  s.insert("base", e2, st);
  CHECK(s.lookup("base", en)->body == "english");
  CHECK(s.lookup("base", de)->body == "deutsch");
  CHECK(s.entries() == 2);
}

TEST_CASE("store: purge by key, prefix, tag, all; purge rules for entries found elsewhere") {
  MemoryStore s(1 << 20);
  auto st = s.routeStats("r");
  HeaderMap none;
  auto a = entry("/api/products/7", 1);
  auto b = entry("/api/products/8", 1);
  b->tags = {"product-8", "products"};
  auto c = entry("/api/users/1", 1);
  c->resource = "/api/users/1?a=1";
  s.insert("a", a, st);
  s.insert("b", b, st);
  s.insert("c", c, st);
  CHECK(s.purge(PurgeKind::Key, "/api/users/1") == 0);
  CHECK(s.purge(PurgeKind::Key, "/api/users/1?a=1") == 1);
  CHECK(s.purge(PurgeKind::Tag, "products") == 1);
  CHECK(s.lookup("b", none) == nullptr);
  CHECK(s.purge(PurgeKind::Prefix, "/api/products/") == 1);
  CHECK(s.entries() == 0);
  CHECK(st->purged.load() == 3);
  // An entry fetched before the purge (as a Redis copy would be) is purged; a later one is not.
  auto old_copy = entry("/api/products/9", 1, 0);
  CHECK(s.purgedSince(*old_copy));
  auto new_copy = entry("/api/products/9", 1, nowMs() + 1000);
  CHECK_FALSE(s.purgedSince(*new_copy));
  auto other = entry("/api/orders/1", 1, 0);
  CHECK_FALSE(s.purgedSince(*other));
  s.insert("d", entry("/x", 1), st);
  CHECK(s.purge(PurgeKind::All, "") == 1);
}

TEST_CASE("coalescing: one leader per key; waiters on other workers get the entry on their loop") {
  Coalescer c;
  test::FakeWorkerContext w1, w2;
  std::vector<CacheEntryConstPtr> got;
  auto cb = [&got](CacheEntryConstPtr e) { got.push_back(std::move(e)); };
  CHECK(c.join("k", w1, cb));        // leader
  CHECK_FALSE(c.join("k", w1, cb));  // waiter on the same worker
  CHECK_FALSE(c.join("k", w2, cb));  // waiter on another worker
  CHECK(c.join("other", w2, cb));    // another key leads on its own
  CHECK(c.inFlight() == 2);
  auto e = entry("/k", 1);
  c.complete("k", e);
  CHECK(got.empty());  // nothing runs on the completing thread
  REQUIRE(w1.posted.size() == 1);
  REQUIRE(w2.posted.size() == 1);
  w1.posted[0]();
  w2.posted[0]();
  REQUIRE(got.size() == 2);
  CHECK(got[0] == e);
  CHECK(got[1] == e);
  CHECK(c.join("k", w1, cb));  // done: the next miss leads again
  c.complete("k", nullptr);
  c.complete("other", nullptr);
  CHECK(c.inFlight() == 0);
  CHECK(c.beginRefresh("k"));
  CHECK_FALSE(c.beginRefresh("k"));
  c.endRefresh("k");
  CHECK(c.beginRefresh("k"));
}

TEST_CASE("store stats render per route in /metrics and JSON") {
  MemoryStore s(1 << 20);
  auto st = s.routeStats("products");
  st->hits += 3;
  st->misses += 1;
  s.insert("a", entry("/a", 5), st);
  const std::string m = s.renderMetrics();
  CHECK(m.find("gateway_cache_requests_total{route=\"products\",result=\"hit\"} 3") !=
        std::string::npos);
  CHECK(m.find("gateway_cache_route_entries{route=\"products\"} 1") != std::string::npos);
  CHECK(m.find("gateway_cache_memory_bytes ") != std::string::npos);
  const std::string j = s.statsJson();
  CHECK(j.find("\"route\":\"products\"") != std::string::npos);
  CHECK(j.find("\"hit_ratio\":0.75") != std::string::npos);
}

} // namespace
} // namespace gw::filters::cache
