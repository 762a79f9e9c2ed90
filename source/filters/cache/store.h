#pragma once

// The process's cache: one memory store shared by every worker and route (sharded LRU by bytes),
// request coalescing, per-route stats, purge and the purge rules the Redis tier checks.
//
// Why a mutex per shard and not per-worker stores: a cache is only useful when what one worker
// stored is what the next request finds, whatever worker it lands on; per-worker copies would
// multiply memory and misses by the worker count. A lookup takes one shard's mutex once per
// request (16 shards by key hash: two workers rarely meet on one), holds it for a hash lookup and
// an LRU splice, and hands out a shared_ptr to the immutable entry: the body is copied into the
// response outside the lock.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "source/common/header_map.h"
#include "source/filters/cache/entry.h"
#include "source/filters/cache/flight.h"

namespace gw::filters {
class WorkerContext;
}

namespace gw::filters::cache {

// Wall clock in epoch ms (tests replace it).
int64_t nowMs();
void setClockForTest(std::function<int64_t()> clock);  // nullptr: the real clock

// One route's counters (atomics: every worker adds to them).
struct RouteCacheStats {
  explicit RouteCacheStats(std::string r) : route(std::move(r)) {}
  const std::string route;
  std::atomic<uint64_t> hits{0}, misses{0}, stale{0}, refresh{0}, expired{0}, bypass{0},
      not_modified{0}, stores{0}, evictions{0}, purged{0}, redis_hits{0}, redis_errors{0},
      coalesced{0}, coalesce_timeouts{0}, too_large{0};
  std::atomic<int64_t> bytes{0}, entries{0};
};

enum class PurgeKind { Key, Prefix, Tag, All };

class MemoryStore {
public:
  explicit MemoryStore(size_t capacity_bytes, size_t shards = 16);
  ~MemoryStore();
  // The process-wide store (64 MiB until a config asks for more).
  static MemoryStore& global();

  // Grows the budget to at least `bytes` (never shrinks: a smaller value needs a restart).
  void raiseCapacity(size_t bytes);
  size_t capacity() const { return capacity_.load(std::memory_order_relaxed); }
  size_t bytes() const;
  size_t entries() const;

  // The entry for `base` that matches the request's Vary values, or nullptr.
  CacheEntryConstPtr lookup(const std::string& base, const HeaderMap& request_headers);
  // Stores `e` (its `key` is set here) and records the variant's Vary names for `base`; evicts
  // least recently used entries past the budget.
  void insert(const std::string& base, std::shared_ptr<CacheEntry> e,
              const std::shared_ptr<RouteCacheStats>& stats);
  // Removes the entry stored under exactly `key`.
  void erase(const std::string& key);

  // Removes every matching entry; returns how many. Key: the entry's resource (path and sorted
  // query), every host and variant. Prefix: its path starts with the value. Tag: it carries the
  // surrogate key. All: everything. Also records a purge rule (see purgedSince).
  size_t purge(PurgeKind kind, const std::string& value);
  // True when a purge made after `e` was fetched matches it: an entry found in Redis that this
  // node purged (Redis itself is not scanned) is treated as a miss and deleted there.
  bool purgedSince(const CacheEntry& e) const;

  std::shared_ptr<RouteCacheStats> routeStats(const std::string& route);
  std::vector<std::shared_ptr<RouteCacheStats>> allRouteStats() const;

  // Prometheus text: memory, entries, per-route counters.
  std::string renderMetrics() const;
  // {"memory_bytes":..,"memory_max_bytes":..,"entries":..,"routes":[{...}]}
  std::string statsJson() const;

private:
  struct Node {
    std::string key;
    std::string base;
    CacheEntryConstPtr entry;
    std::shared_ptr<RouteCacheStats> stats;
    size_t bytes = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Node> lru;  // front: most recently used
    absl::flat_hash_map<std::string, std::list<Node>::iterator> index;
    absl::flat_hash_map<std::string, std::vector<std::string>> vary;  // base -> Vary names
    size_t bytes = 0;
  };
  struct Rule {
    PurgeKind kind;
    std::string value;
    int64_t at_ms;
  };
  Shard& shardOf(const std::string& base);
  void removeLocked(Shard& s, std::list<Node>::iterator it, bool eviction);
  static bool matches(PurgeKind kind, const std::string& value, const CacheEntry& e);

  std::atomic<size_t> capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
  mutable std::mutex stats_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<RouteCacheStats>> stats_;
  mutable std::mutex rules_mu_;
  std::vector<Rule> rules_;
};

// Request coalescing: the first miss for a key leads (goes upstream) and gets a Flight; later
// misses for the same key join that Flight as waiters and stream the leader's response from it
// (flight.h). Process-wide, one mutex per shard; a Flight is shared by the leader and waiters on
// any worker.
class Coalescer {
public:
  struct Joined {
    bool leader = false;
    std::shared_ptr<Flight> flight;
  };
  static Coalescer& global();
  // The flight in progress for `key`, or a new one (max_bytes: the route's per-entry maximum)
  // that the caller leads: it must end() it.
  Joined join(const std::string& key, uint64_t max_bytes);
  // New misses for `key` no longer join `flight` (stored, failed, overflowed or the leader went
  // away): the next one leads its own. Waiters already on it keep it.
  void end(const std::string& key, const Flight* flight);
  // stale-while-revalidate: one background refresh per key at a time.
  bool beginRefresh(const std::string& key);
  void endRefresh(const std::string& key);
  size_t inFlight() const;

private:
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights;
    absl::flat_hash_set<std::string> refreshing;
  };
  Shard& shardOf(const std::string& key);
  Shard shards_[16];
};

} // namespace gw::filters::cache
