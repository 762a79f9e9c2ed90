#include "source/filters/cache/store.h"

#include <algorithm>
#include <chrono>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/common/json.h"
#include "source/filters/cache/key.h"
#include "source/filters/worker_context.h"

namespace gw::filters::cache {
namespace {

constexpr size_t kDefaultCapacity = 64u << 20;
constexpr size_t kMaxRules = 1024;
constexpr int64_t kRuleLifetimeMs = 7 * 24 * 3600 * 1000LL;

std::function<int64_t()>& clockOverride() {
  static std::function<int64_t()> c;
  return c;
}

} // namespace

int64_t nowMs() {
  if (clockOverride()) {
    return clockOverride()();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void setClockForTest(std::function<int64_t()> clock) { clockOverride() = std::move(clock); }

MemoryStore::MemoryStore(size_t capacity_bytes, size_t shards) : capacity_(capacity_bytes) {
  for (size_t i = 0; i < std::max<size_t>(1, shards); i++) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

MemoryStore::~MemoryStore() = default;

MemoryStore& MemoryStore::global() {
  static MemoryStore* s = new MemoryStore(kDefaultCapacity);  // never destroyed: workers may outlive main's statics
  return *s;
}

void MemoryStore::raiseCapacity(size_t bytes) {
  size_t cur = capacity_.load();
  while (bytes > cur && !capacity_.compare_exchange_weak(cur, bytes)) {
  }
}

size_t MemoryStore::bytes() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->mu);
    n += s->bytes;
  }
  return n;
}

size_t MemoryStore::entries() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->mu);
    n += s->index.size();
  }
  return n;
}

MemoryStore::Shard& MemoryStore::shardOf(const std::string& base) {
  return *shards_[absl::HashOf(base) % shards_.size()];
}

CacheEntryConstPtr MemoryStore::lookup(const std::string& base, const HeaderMap& req) {
  Shard& s = shardOf(base);
  std::lock_guard<std::mutex> lock(s.mu);
  auto v = s.vary.find(base);
  auto it = v == s.vary.end() ? s.index.find(base) : s.index.find(varyKey(base, v->second, req));
  if (it == s.index.end()) {
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->entry;
}

void MemoryStore::removeLocked(Shard& s, std::list<Node>::iterator it, bool eviction) {
  s.bytes -= it->bytes;
  if (it->stats) {
    it->stats->bytes.fetch_sub(static_cast<int64_t>(it->bytes), std::memory_order_relaxed);
    it->stats->entries.fetch_sub(1, std::memory_order_relaxed);
    if (eviction) {
      it->stats->evictions.fetch_add(1, std::memory_order_relaxed);
    }
  }
  s.index.erase(it->key);
  s.lru.erase(it);
}

void MemoryStore::insert(const std::string& base, std::shared_ptr<CacheEntry> e,
                         const std::shared_ptr<RouteCacheStats>& stats) {
  Shard& s = shardOf(base);
  const size_t cap = std::max<size_t>(1, capacity() / shards_.size());
  std::lock_guard<std::mutex> lock(s.mu);
  // Vary is computed against the request that fetched it: the caller sets e->key to the variant
  // key when the response varies (or base when it does not).
  if (e->vary.empty()) {
    s.vary.erase(base);
    e->key = base;
  } else {
    s.vary[base] = e->vary;
  }
  const size_t b = e->bytes() + sizeof(Node) + base.size();
  if (b > cap) {
    return;  // larger than a shard's budget: never stored
  }
  if (auto old = s.index.find(e->key); old != s.index.end()) {
    removeLocked(s, old->second, false);
  }
  s.lru.push_front(Node{e->key, base, std::move(e), stats, b});
  s.index[s.lru.front().key] = s.lru.begin();
  s.bytes += b;
  if (stats) {
    stats->bytes.fetch_add(static_cast<int64_t>(b), std::memory_order_relaxed);
    stats->entries.fetch_add(1, std::memory_order_relaxed);
    stats->stores.fetch_add(1, std::memory_order_relaxed);
  }
  while (s.bytes > cap && s.lru.size() > 1) {
    removeLocked(s, std::prev(s.lru.end()), true);
  }
}

void MemoryStore::erase(const std::string& key) {
  for (auto& sp : shards_) {
    Shard& s = *sp;
    std::lock_guard<std::mutex> lock(s.mu);
    if (auto it = s.index.find(key); it != s.index.end()) {
      removeLocked(s, it->second, false);
      return;
    }
  }
}

bool MemoryStore::matches(PurgeKind kind, const std::string& value, const CacheEntry& e) {
  switch (kind) {
  case PurgeKind::Key:
    return e.resource == value;
  case PurgeKind::Prefix:
    return absl::StartsWith(e.path, value);
  case PurgeKind::Tag:
    return std::find(e.tags.begin(), e.tags.end(), value) != e.tags.end();
  case PurgeKind::All:
    return true;
  }
  return false;
}

size_t MemoryStore::purge(PurgeKind kind, const std::string& value) {
  const int64_t now = nowMs();
  {
    std::lock_guard<std::mutex> lock(rules_mu_);
    rules_.erase(std::remove_if(rules_.begin(), rules_.end(),
                                [now](const Rule& r) { return r.at_ms + kRuleLifetimeMs < now; }),
                 rules_.end());
    if (rules_.size() >= kMaxRules) {
      rules_.erase(rules_.begin());
    }
    rules_.push_back({kind, value, now});
  }
  size_t removed = 0;
  for (auto& sp : shards_) {
    Shard& s = *sp;
    std::lock_guard<std::mutex> lock(s.mu);
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto next = std::next(it);
      if (matches(kind, value, *it->entry)) {
        if (it->stats) {
          it->stats->purged.fetch_add(1, std::memory_order_relaxed);
        }
        removeLocked(s, it, false);
        removed++;
      }
      it = next;
    }
    if (kind == PurgeKind::All) {
      s.vary.clear();
    }
  }
  return removed;
}

bool MemoryStore::purgedSince(const CacheEntry& e) const {
  std::lock_guard<std::mutex> lock(rules_mu_);
  for (const Rule& r : rules_) {
    if (r.at_ms >= e.response_time_ms && matches(r.kind, r.value, e)) {
      return true;
    }
  }
  return false;
}

std::shared_ptr<RouteCacheStats> MemoryStore::routeStats(const std::string& route) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  auto& p = stats_[route];
  if (p == nullptr) {
    p = std::make_shared<RouteCacheStats>(route);
  }
  return p;
}

std::vector<std::shared_ptr<RouteCacheStats>> MemoryStore::allRouteStats() const {
  std::vector<std::shared_ptr<RouteCacheStats>> out;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    for (const auto& [name, p] : stats_) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->route < b->route; });
  return out;
}

std::string MemoryStore::renderMetrics() const {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP gateway_cache_memory_bytes Bytes held by the response cache's memory store.\n"
                  "# TYPE gateway_cache_memory_bytes gauge\n"
                  "gateway_cache_memory_bytes ", bytes(), "\n",
                  "# HELP gateway_cache_memory_max_bytes The memory store's budget.\n"
                  "# TYPE gateway_cache_memory_max_bytes gauge\n"
                  "gateway_cache_memory_max_bytes ", capacity(), "\n",
                  "# HELP gateway_cache_entries Entries in the memory store.\n"
                  "# TYPE gateway_cache_entries gauge\n"
                  "gateway_cache_entries ", entries(), "\n");
  const auto all = allRouteStats();
  if (all.empty()) {
    return out;
  }
  out += "# HELP gateway_cache_requests_total Cache-enabled requests by X-Cache result.\n"
         "# TYPE gateway_cache_requests_total counter\n";
  for (const auto& r : all) {
    const std::pair<const char*, uint64_t> results[] = {
        {"hit", r->hits.load()},       {"miss", r->misses.load()},
        {"stale", r->stale.load()},    {"refresh", r->refresh.load()},
        {"expired", r->expired.load()}, {"bypass", r->bypass.load()}};
    for (const auto& [name, v] : results) {
      absl::StrAppend(&out, "gateway_cache_requests_total{route=\"", r->route, "\",result=\"",
                      name, "\"} ", v, "\n");
    }
  }
  auto counter = [&](const char* name, const char* help, auto get) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n");
    for (const auto& r : all) {
      absl::StrAppend(&out, name, "{route=\"", r->route, "\"} ", get(*r), "\n");
    }
  };
  auto gauge = [&](const char* name, const char* help, auto get) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n");
    for (const auto& r : all) {
      absl::StrAppend(&out, name, "{route=\"", r->route, "\"} ", get(*r), "\n");
    }
  };
  counter("gateway_cache_evictions_total", "Entries evicted by the memory budget (LRU).",
          [](const RouteCacheStats& r) { return r.evictions.load(); });
  counter("gateway_cache_stores_total", "Responses stored in memory.",
          [](const RouteCacheStats& r) { return r.stores.load(); });
  counter("gateway_cache_purged_total", "Entries removed by purge.",
          [](const RouteCacheStats& r) { return r.purged.load(); });
  counter("gateway_cache_not_modified_total", "304s answered from fresh entries.",
          [](const RouteCacheStats& r) { return r.not_modified.load(); });
  counter("gateway_cache_coalesced_total", "Requests that waited for another request's fetch.",
          [](const RouteCacheStats& r) { return r.coalesced.load(); });
  counter("gateway_cache_redis_hits_total", "Entries found in the Redis tier.",
          [](const RouteCacheStats& r) { return r.redis_hits.load(); });
  counter("gateway_cache_redis_errors_total",
          "Redis tier commands that failed (Redis down, timeout): the cache went on from memory.",
          [](const RouteCacheStats& r) { return r.redis_errors.load(); });
  gauge("gateway_cache_route_bytes", "Bytes the route's entries hold in memory.",
        [](const RouteCacheStats& r) { return r.bytes.load(); });
  gauge("gateway_cache_route_entries", "The route's entries in memory.",
        [](const RouteCacheStats& r) { return r.entries.load(); });
  return out;
}

std::string MemoryStore::statsJson() const {
  std::string out = absl::StrCat("{\"memory_bytes\":", bytes(), ",\"memory_max_bytes\":",
                                 capacity(), ",\"entries\":", entries(), ",\"routes\":[");
  bool first = true;
  for (const auto& r : allRouteStats()) {
    const uint64_t hits = r->hits.load() + r->stale.load() + r->refresh.load();
    const uint64_t lookups = hits + r->misses.load() + r->expired.load();
    absl::StrAppend(&out, first ? "" : ",", "{\"route\":");
    appendJsonString(r->route, out);
    absl::StrAppend(&out, ",\"hits\":", r->hits.load(), ",\"misses\":", r->misses.load(),
                    ",\"stale\":", r->stale.load(), ",\"refresh\":", r->refresh.load(),
                    ",\"expired\":", r->expired.load(), ",\"bypass\":", r->bypass.load(),
                    ",\"bytes\":", r->bytes.load(), ",\"entries\":", r->entries.load(),
                    ",\"evictions\":", r->evictions.load(), ",\"purged\":", r->purged.load(),
                    ",\"redis_hits\":", r->redis_hits.load(),
                    ",\"redis_errors\":", r->redis_errors.load(),
                    ",\"coalesced\":", r->coalesced.load(), ",\"hit_ratio\":",
                    lookups == 0 ? 0.0 : static_cast<double>(hits) / lookups, "}");
    first = false;
  }
  out += "]}";
  return out;
}

Coalescer& Coalescer::global() {
  static Coalescer* c = new Coalescer();
  return *c;
}

Coalescer::Shard& Coalescer::shardOf(const std::string& key) {
  return shards_[absl::HashOf(key) % 16];
}

Coalescer::Joined Coalescer::join(const std::string& key, uint64_t max_bytes) {
  Shard& s = shardOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto [it, added] = s.flights.try_emplace(key);
  if (added) {
    it->second = std::make_shared<Flight>(max_bytes);
  }
  return {added, it->second};
}

void Coalescer::end(const std::string& key, const Flight* flight) {
  Shard& s = shardOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.flights.find(key);
  if (it != s.flights.end() && it->second.get() == flight) {
    s.flights.erase(it);
  }
}

bool Coalescer::beginRefresh(const std::string& key) {
  Shard& s = shardOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.refreshing.insert(key).second;
}

void Coalescer::endRefresh(const std::string& key) {
  Shard& s = shardOf(key);
  std::lock_guard<std::mutex> lock(s.mu);
  s.refreshing.erase(key);
}

size_t Coalescer::inFlight() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.flights.size();
  }
  return n;
}

} // namespace gw::filters::cache
