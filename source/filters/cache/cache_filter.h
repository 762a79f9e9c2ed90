#pragma once

// The `cache` filter's config (parsed and validated once per config push) and its per-request
// instance. The rules are in rules.h, the key in key.h, the process-wide store, coalescing and
// purge in store.h, the shared response of a coalesced miss in flight.h, the Redis encoding in
// redis_tier.h. The filter's coalescing side (leader and waiters) is in coalesce.cc.

#include <chrono>
#include <memory>
#include <string>

#include "source/filters/cache/entry.h"
#include "source/filters/cache/key.h"
#include "source/filters/cache/rules.h"
#include "source/filters/cache/store.h"
#include "source/filters/filter.h"

namespace gw::redis {
class RedisClient;
struct RedisReply;
} // namespace gw::redis

namespace gw::filters::cache {

class CacheConfig : public FilterConfig, public std::enable_shared_from_this<CacheConfig> {
public:
  FilterPtr create() const override;
  BodyPolicy responseBody() const override { return BodyPolicy::stream(); }
  bool seesResponse() const override { return true; }
  std::string explain(ExplainContext& ctx) const override;

  RoutePolicy policy;
  KeyRules rules;
  std::string version;  // rules.version()
  uint64_t max_entry_bytes = 1 << 20;
  uint64_t redis_max_entry_bytes = 1 << 20;
  std::string redis;  // "": memory only
  std::string surrogate_key_header;
  std::chrono::milliseconds coalesce_timeout{5000};  // 0: no coalescing
  std::string route_name;
  std::shared_ptr<RouteCacheStats> stats;
  MemoryStore* store = &MemoryStore::global();
  Coalescer* coalescer = &Coalescer::global();
};

class CacheFilter : public Filter, public ResponseBodySource {
public:
  explicit CacheFilter(std::shared_ptr<const CacheConfig> cfg) : cfg_(std::move(cfg)) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;
  FilterStatus onResponseBody(RequestContext& ctx, std::string& body, bool eos) override;
  FilterStatus onError(RequestContext& ctx) override;
  void onDestroy(RequestContext& ctx) override;
  // ResponseBodySource: a waiter streaming the leader's response to a slow client.
  void pauseBody() override { paused_ = true; }
  void resumeBody() override;

private:
  // A found entry: HIT, STALE (+ a background refresh), or revalidation upstream.
  FilterStatus useEntry(RequestContext& ctx, CacheEntryConstPtr e, bool async);
  FilterStatus miss(RequestContext& ctx);
  FilterStatus redisLookup(RequestContext& ctx, const std::string& key, bool vary_step);
  void onRedisReply(RequestContext& ctx, absl::StatusOr<redis::RedisReply> r, bool vary_step);
  // Answers from `e` (304 when the request's conditionals match a HIT).
  void serve(RequestContext& ctx, const CacheEntry& e, absl::string_view state);
  bool staleIfErrorOk(int64_t now_ms) const;
  void storeEntry(RequestContext& ctx, std::shared_ptr<CacheEntry> e);
  void writeRedis(RequestContext& ctx, const CacheEntry& e);
  void startBackgroundRefresh(RequestContext& ctx, CacheEntryConstPtr e);
  // coalesce.cc. Leader: the head goes to the flight (or, when the waiters cannot use it, the
  // flight fails), then each body piece; finishLeader ends it (`e`: the stored entry; nullptr:
  // failed, unless the head was published and the body completed, then it just completes).
  void publishHead(const CacheEntry& pending, const http::RequestHead& req);
  void feedFlight(absl::string_view piece, bool eos);
  void finishLeader(CacheEntryConstPtr e);
  // Waiter: joins the flight and pauses until it is woken (or times out).
  FilterStatus wait(RequestContext& ctx);
  void onWake(RequestContext& ctx);
  void startStreaming(RequestContext& ctx, Flight::Take& t);
  void writePieces(RequestContext& ctx, Flight::Take& t);
  void leaveFlight();
  http::ResponseHead cachedHead(const CacheEntry& e, absl::string_view state, bool not_modified);
  bool variantMatches(const CacheEntry& e, const HeaderMap& request_headers) const;

  std::shared_ptr<const CacheConfig> cfg_;
  std::string base_;
  std::string resource_;
  std::string result_ = "BYPASS";  // X-Cache when the response comes from upstream
  CacheEntryConstPtr stale_;       // a stale entry being revalidated (stale-if-error too)
  std::shared_ptr<CacheEntry> pending_;  // the response being stored
  std::string body_;
  int64_t request_time_ms_ = 0;
  std::shared_ptr<redis::RedisClient> redis_;
  uint64_t redis_id_ = 0;
  bool lookup_ = false;       // the request may be served from the cache
  bool unsafe_ = false;       // POST/PUT/PATCH/DELETE: invalidates the resource on success
  bool served_ = false;       // answered from the cache (or a refreshed entry)
  bool storing_ = false;
  bool revalidating_ = false;
  // Coalescing (coalesce.cc).
  std::shared_ptr<Flight> flight_;
  RequestHandle handle_;      // a streaming waiter's, for resumeBody
  uint64_t sub_id_ = 0;
  bool leader_ = false;       // owes flight_ an outcome
  bool head_published_ = false;
  bool waiting_ = false;      // joined flight_, not started
  bool streaming_ = false;    // writing the leader's response from flight_
  bool paused_ = false;       // streaming_, and the client's write queue is full
};

} // namespace gw::filters::cache
