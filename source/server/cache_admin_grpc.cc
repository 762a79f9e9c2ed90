#include "source/server/cache_admin_grpc.h"

#include "source/filters/cache/store.h"

namespace gw::server {

void fillCacheStats(gateway::v1::CacheStatsResponse& out) {
  auto& store = filters::cache::MemoryStore::global();
  out.set_memory_bytes(store.bytes());
  out.set_memory_max_bytes(store.capacity());
  out.set_entries(store.entries());
  for (const auto& r : store.allRouteStats()) {
    gateway::v1::RouteCacheStats* o = out.add_routes();
    o->set_route(r->route);
    o->set_hits(r->hits.load());
    o->set_misses(r->misses.load());
    o->set_stale(r->stale.load());
    o->set_refresh(r->refresh.load());
    o->set_expired(r->expired.load());
    o->set_bypass(r->bypass.load());
    o->set_bytes(r->bytes.load());
    o->set_entries(r->entries.load());
    o->set_evictions(r->evictions.load());
    o->set_purged(r->purged.load());
    o->set_redis_hits(r->redis_hits.load());
    o->set_redis_errors(r->redis_errors.load());
    o->set_coalesced(r->coalesced.load());
    const uint64_t hits = o->hits() + o->stale() + o->refresh();
    const uint64_t lookups = hits + o->misses() + o->expired();
    o->set_hit_ratio(lookups == 0 ? 0.0 : static_cast<double>(hits) / lookups);
  }
}

} // namespace gw::server
