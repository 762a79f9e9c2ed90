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

TEST_CASE("coalescing: one leader per key; the flight ends for new joiners, not for its waiters") {
  Coalescer c;
  auto lead = c.join("k", 1 << 20);
  CHECK(lead.leader);
  auto w1 = c.join("k", 1 << 20);
  CHECK_FALSE(w1.leader);
  CHECK(w1.flight == lead.flight);
  CHECK(c.join("other", 1 << 20).leader);  // another key leads on its own
  CHECK(c.inFlight() == 2);
  c.end("k", lead.flight.get());
  auto again = c.join("k", 1 << 20);  // done: the next miss leads again
  CHECK(again.leader);
  CHECK(again.flight != lead.flight);
  c.end("k", lead.flight.get());  // an old flight's end leaves the new one alone
  CHECK_FALSE(c.join("k", 1 << 20).leader);
  c.end("k", again.flight.get());
  c.end("other", c.join("other", 1).flight.get());
  CHECK(c.inFlight() == 0);
  CHECK(c.beginRefresh("k"));
  CHECK_FALSE(c.beginRefresh("k"));
  c.endRefresh("k");
  CHECK(c.beginRefresh("k"));
}

std::string joined(const Flight::Take& t) {
  std::string s;
  for (const auto& p : t.pieces) s += *p;
  return s;
}

TEST_CASE("flight: waiters on other workers are woken on their loop and read from their own position") {
  using K = Flight::Take::Kind;
  Flight f(1 << 20);
  test::FakeWorkerContext w1, w2;
  int wakes1 = 0, wakes2 = 0;
  const uint64_t a = f.subscribe(w1, [&] { ++wakes1; });
  const uint64_t b = f.subscribe(w2, [&] { ++wakes2; });
  CHECK(f.take(a).kind == K::Nothing);  // no head yet
  auto head = entry("/k", 0);
  f.setHead(head);
  f.append("one ");
  REQUIRE(w1.posted.size() == 1);  // one wake per waiter until it takes
  REQUIRE(w2.posted.size() == 1);
  w1.posted[0]();
  CHECK(wakes1 == 1);
  auto t = f.take(a);
  CHECK(t.kind == K::Start);
  CHECK(t.head == head);
  CHECK(joined(t) == "one ");
  f.append("two ");
  REQUIRE(w1.posted.size() == 2);
  CHECK(w2.posted.size() == 1);  // b has not taken its first wake yet
  t = f.take(a);
  CHECK(t.kind == K::More);
  CHECK(joined(t) == "two ");
  CHECK_FALSE(t.end);
  auto stored = entry("/k", 8);
  f.complete(stored);
  t = f.take(a);
  CHECK(t.kind == K::More);
  CHECK(t.pieces.empty());
  CHECK(t.end);
  auto tb = f.take(b);  // b starts after completion: the stored entry, whole
  CHECK(tb.kind == K::Whole);
  CHECK(tb.entry == stored);
  // A waiter that joins a complete flight is woken at once.
  test::FakeWorkerContext w3;
  const uint64_t c = f.subscribe(w3, [] {});
  CHECK(w3.posted.size() == 1);
  CHECK(f.take(c).kind == K::Whole);
}

TEST_CASE("flight: a failure sends waiters that have not started upstream and aborts the others") {
  using K = Flight::Take::Kind;
  Flight f(1 << 20);
  test::FakeWorkerContext w;
  const uint64_t a = f.subscribe(w, [] {});
  const uint64_t b = f.subscribe(w, [] {});
  f.setHead(entry("/k", 0));
  f.append("part");
  CHECK(f.take(a).kind == K::Start);
  f.fail();
  CHECK(f.head() == nullptr);
  CHECK(f.take(a).kind == K::Abort);
  CHECK(f.take(b).kind == K::GoUpstream);
  CHECK(f.retainedBytes() == 0);
  Flight g(1 << 20);  // no head at all, and no stored entry: go upstream
  const uint64_t x = g.subscribe(w, [] {});
  g.complete(nullptr);
  CHECK(g.take(x).kind == K::GoUpstream);
}

TEST_CASE("flight: over the per-entry maximum memory stays bounded; laggards are cut off") {
  using K = Flight::Take::Kind;
  Flight f(10);
  test::FakeWorkerContext w;
  const uint64_t fast = f.subscribe(w, [] {});
  const uint64_t slow = f.subscribe(w, [] {});
  const uint64_t late = f.subscribe(w, [] {});
  f.setHead(entry("/k", 0));
  f.append("12345678");
  CHECK(joined(f.take(fast)) == "12345678");
  CHECK(joined(f.take(slow)) == "12345678");
  f.append("abcdefgh");  // 16 > 10: overflowed
  CHECK(f.overflowed());
  CHECK(f.take(late).kind == K::GoUpstream);  // not started: fetch it yourself
  CHECK(f.retainedBytes() == 8);  // what both started waiters have written is gone
  CHECK(joined(f.take(fast)) == "abcdefgh");
  CHECK(f.retainedBytes() == 8);  // slow still needs it
  f.append("ABCDEFGH");  // slow would need 16 bytes kept: it is cut off
  CHECK(f.retainedBytes() <= 10);
  CHECK(f.take(slow).kind == K::Abort);
  auto t = f.take(fast);
  CHECK(joined(t) == "ABCDEFGH");
  f.complete(nullptr);
  t = f.take(fast);
  CHECK(t.end);
  CHECK(t.pieces.empty());
  CHECK(f.retainedBytes() == 0);
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
