// `cache` (pre stage; sees responses): answers GET and HEAD from the process's memory store (L1)
// or a shared Redis tier (L2), stores cacheable responses, coalesces concurrent misses, serves
// stale entries (stale-while-revalidate, stale-if-error) and revalidates with the stored
// validators. Every response of the route gets X-Cache: HIT, MISS, BYPASS, STALE, REFRESH or
// EXPIRED; answers from the cache carry Age. docs/caching.md.
#include "source/filters/cache/cache_filter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/filters/cache/redis_tier.h"
#include "source/filters/filter_chain.h"
#include "source/filters/identity.h"
#include "source/redis/redis_client.h"
#include "source/router/route_table.h"

namespace gw::filters::cache {

namespace {

const FilterCounter kRedisErrors{
    "cache", "redis_errors",
    "Redis tier commands that failed (Redis down, timeout); the cache went on from memory."};
const FilterCounter kRefreshes{"cache", "background_refreshes",
                               "stale-while-revalidate refreshes started."};

void setXCache(http::ResponseHead& head, absl::string_view state) {
  head.headers.set("x-cache", state);
}

// The request as the upstream sees it for a background refresh (no client conditionals).
HttpRequest refreshRequest(const RequestContext& c, const http::RequestHead& req,
                           const router::RouteEntry* route, const CacheEntry& e) {
  HttpRequest r;
  r.method = "GET";
  r.path = route != nullptr && route->rewrites() ? route->rewritePath(req.path) : req.path;
  if (!req.query.empty()) {
    absl::StrAppend(&r.path, "?", req.query);
  }
  r.authority = req.host;
  for (const auto& [k, v] : req.headers.entries()) {
    if (k == "if-none-match" || k == "if-modified-since" || k == "host" || k == "connection" ||
        k == "content-length" || k == "transfer-encoding" || k == "te" || k == "upgrade") {
      continue;
    }
    r.headers.add(k, v);
  }
  if (!e.etag.empty()) r.headers.add("if-none-match", e.etag);
  if (!e.last_modified.empty()) r.headers.add("if-modified-since", e.last_modified);
  r.timeout = std::chrono::milliseconds(10000);
  (void)c;
  return r;
}

} // namespace

FilterPtr CacheConfig::create() const { return std::make_unique<CacheFilter>(shared_from_this()); }

std::string CacheConfig::explain(ExplainContext& ctx) const {
  const CacheControl rcc = parseCacheControl(ctx.head.headers);
  const std::string why = whyNotServable(policy, ctx.head.method, ctx.head.headers, rcc);
  if (!why.empty()) {
    return absl::StrCat("bypass the cache (", why, ")");
  }
  return absl::StrCat("look up ", resourceOf(ctx.head.path, ctx.head.query), " in memory",
                      redis.empty() ? "" : absl::StrCat(", then redis '", redis, "'"),
                      "; store cacheable responses (default ttl ", policy.default_ttl_s, "s)");
}

bool CacheFilter::variantMatches(const CacheEntry& e, const HeaderMap& h) const {
  return e.vary.empty() ? e.key == base_ : e.key == varyKey(base_, e.vary, h);
}

FilterStatus CacheFilter::onRequestHeaders(RequestContext& ctx) {
  const CacheConfig& c = *cfg_;
  http::RequestHead& req = ctx.request();
  request_time_ms_ = nowMs();
  resource_ = resourceOf(req.path, req.query);
  if (req.method != "GET" && req.method != "HEAD") {
    unsafe_ = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
              req.method == "DELETE";
    return FilterStatus::Continue;
  }
  base_ = baseKey(c.rules, c.version, "http", req.host, resource_, req.headers,
                  ctx.filterState().get(kIdentity));
  const CacheControl rcc = parseCacheControl(req.headers);
  if (!whyNotServable(c.policy, req.method, req.headers, rcc).empty()) {
    return FilterStatus::Continue;  // BYPASS; the response may still be stored
  }
  lookup_ = true;
  if (CacheEntryConstPtr e = c.store->lookup(base_, req.headers)) {
    return useEntry(ctx, std::move(e), false);
  }
  return miss(ctx);
}

FilterStatus CacheFilter::useEntry(RequestContext& ctx, CacheEntryConstPtr e, bool async) {
  const CacheConfig& c = *cfg_;
  const int64_t now = nowMs();
  auto done = [&](FilterStatus sync) {
    if (async && sync == FilterStatus::Continue) {
      ctx.resume();
    }
    return sync;
  };
  if (e->freshAt(now)) {
    c.stats->hits.fetch_add(1, std::memory_order_relaxed);
    if (leader_) finishLeader(e);
    serve(ctx, *e, "HIT");
    return FilterStatus::StopAndRespond;
  }
  const int64_t staleness = e->stalenessAt(now);
  const bool validators = !e.get()->etag.empty() || !e->last_modified.empty();
  if (!e->must_revalidate && e->stale_while_revalidate_s > 0 &&
      staleness <= e->stale_while_revalidate_s &&
      ctx.request().method == "GET") {
    const auto* chain = ctx.route() ? static_cast<const FilterChain*>(ctx.route()->attachment())
                                    : nullptr;
    const StaticRoute* sr = chain && chain->route ? chain->route->staticRoute() : nullptr;
    if (sr != nullptr && sr->kind == StaticRoute::Kind::Proxy) {
      c.stats->stale.fetch_add(1, std::memory_order_relaxed);
      if (c.coalescer->beginRefresh(e->key)) {
        startBackgroundRefresh(ctx, e);
      }
      if (leader_) finishLeader(e);
      serve(ctx, *e, "STALE");
      return FilterStatus::StopAndRespond;
    }
  }
  if (!validators && staleness > std::max(e->stale_if_error_s, e->stale_while_revalidate_s)) {
    c.store->erase(e->key);  // nothing left to use it for
    result_ = "MISS";
    if (async) {
      ctx.resume();
      return FilterStatus::Pause;
    }
    return miss(ctx);
  }
  // Revalidate upstream with the stored validators; kept for stale-if-error.
  stale_ = std::move(e);
  result_ = "EXPIRED";
  if (validators) {
    HeaderMap& h = ctx.request().headers;
    h.remove("if-none-match");
    h.remove("if-modified-since");
    if (!stale_->etag.empty()) h.add("if-none-match", stale_->etag);
    if (!stale_->last_modified.empty()) h.add("if-modified-since", stale_->last_modified);
    revalidating_ = true;
  }
  return done(FilterStatus::Continue);
}

FilterStatus CacheFilter::miss(RequestContext& ctx) {
  const CacheConfig& c = *cfg_;
  result_ = "MISS";
  const http::RequestHead& req = ctx.request();
  if (req.method == "HEAD" || hasConditionals(req.headers)) {
    return FilterStatus::Continue;  // nothing to store from these: no coalescing
  }
  if (c.coalesce_timeout.count() > 0) {
    Coalescer::Joined j = c.coalescer->join(base_, c.max_entry_bytes);
    flight_ = std::move(j.flight);
    if (!j.leader) {
      return wait(ctx);
    }
    leader_ = true;
  }
  if (!c.redis.empty()) {
    return redisLookup(ctx, redisKey(base_), false);
  }
  return FilterStatus::Continue;
}

FilterStatus CacheFilter::redisLookup(RequestContext& ctx, const std::string& key,
                                      bool vary_step) {
  const CacheConfig& c = *cfg_;
  if (redis_ == nullptr) {
    redis_ = ctx.worker().redis(c.redis);
  }
  if (redis_ == nullptr || !redis_->connected()) {
    c.stats->redis_errors.fetch_add(1, std::memory_order_relaxed);
    kRedisErrors.inc(ctx.worker());
    if (vary_step) ctx.resume();
    return FilterStatus::Continue;
  }
  RequestHandle h = ctx.handle();
  redis_id_ = redis_->command({"GET", key}, [this, h, vary_step](absl::StatusOr<redis::RedisReply> r) {
    RequestContext* rc = h.context();
    if (rc == nullptr) {
      return;
    }
    redis_id_ = 0;
    onRedisReply(*rc, std::move(r), vary_step);
  });
  return FilterStatus::Pause;
}

void CacheFilter::onRedisReply(RequestContext& ctx, absl::StatusOr<redis::RedisReply> r,
                               bool vary_step) {
  const CacheConfig& c = *cfg_;
  if (!r.ok() || r->isError()) {
    c.stats->redis_errors.fetch_add(1, std::memory_order_relaxed);
    kRedisErrors.inc(ctx.worker());
    ctx.resume();
    return;
  }
  if (r->type != redis::RedisReply::Type::String) {
    ctx.resume();  // not there
    return;
  }
  const HeaderMap& h = ctx.request().headers;
  if (!vary_step) {
    if (auto names = decodeVary(r->str)) {
      redisLookup(ctx, redisKey(varyKey(base_, *names, h)), true);
      return;
    }
  }
  std::shared_ptr<CacheEntry> e = decodeEntry(r->str);
  if (e == nullptr) {
    ctx.resume();
    return;
  }
  e->key = e->vary.empty() ? base_ : varyKey(base_, e->vary, h);
  if (c.store->purgedSince(*e)) {
    redis_->command({"DEL", redisKey(e->key)}, [](absl::StatusOr<redis::RedisReply>) {});
    ctx.resume();
    return;
  }
  c.stats->redis_hits.fetch_add(1, std::memory_order_relaxed);
  c.store->insert(base_, e, c.stats);
  useEntry(ctx, std::move(e), true);
}

void CacheFilter::serve(RequestContext& ctx, const CacheEntry& e, absl::string_view state) {
  served_ = true;
  const HeaderMap& req = ctx.request().headers;
  const bool not_modified = state == "HIT" && e.status == 200 && conditionalMatches(req, e);
  http::ResponseHead head = cachedHead(e, state, not_modified);
  if (not_modified) {
    cfg_->stats->not_modified.fetch_add(1, std::memory_order_relaxed);
    ctx.respond(std::move(head), std::string());
    return;
  }
  ctx.respond(std::move(head), e.body);
}

http::ResponseHead CacheFilter::cachedHead(const CacheEntry& e, absl::string_view state,
                                           bool not_modified) {
  http::ResponseHead head;
  head.status = not_modified ? 304 : e.status;
  for (const auto& [k, v] : e.headers) {
    if (not_modified && k != "etag" && k != "last-modified" && k != "cache-control" &&
        k != "expires" && k != "vary" && k != "date" && k != "content-location") {
      continue;
    }
    head.headers.add(k, v);
  }
  head.headers.add("age", absl::StrCat(e.ageAt(nowMs())));
  setXCache(head, state);
  return head;
}

bool CacheFilter::staleIfErrorOk(int64_t now_ms) const {
  return stale_ != nullptr && !stale_->must_revalidate && stale_->stale_if_error_s > 0 &&
         stale_->stalenessAt(now_ms) <= stale_->stale_if_error_s;
}

FilterStatus CacheFilter::onResponseHeaders(RequestContext& ctx) {
  if (served_) {
    return FilterStatus::Continue;
  }
  const CacheConfig& c = *cfg_;
  http::ResponseHead& resp = ctx.response();
  const http::RequestHead& req = ctx.request();
  const int status = resp.status;
  if (unsafe_) {
    if (status < 400) {
      c.store->purge(PurgeKind::Key, resource_);  // RFC 9111 4.4: invalidate on unsafe methods
    }
    c.stats->bypass.fetch_add(1, std::memory_order_relaxed);
    setXCache(resp, "BYPASS");
    return FilterStatus::Continue;
  }
  const int64_t now = nowMs();
  const bool failed = status >= 500 || resp.headers.has("x-gateway-fallback");
  if (stale_ != nullptr && revalidating_ && status == 304) {
    auto e = std::make_shared<CacheEntry>(
        refreshedEntry(*stale_, c.policy, resp.headers, request_time_ms_, now));
    e->key.clear();
    storeEntry(ctx, e);
    c.stats->refresh.fetch_add(1, std::memory_order_relaxed);
    serve(ctx, *e, "REFRESH");
    return FilterStatus::Continue;
  }
  if (failed && staleIfErrorOk(now)) {
    c.stats->stale.fetch_add(1, std::memory_order_relaxed);
    finishLeader(nullptr);
    serve(ctx, *stale_, "STALE");
    return FilterStatus::Continue;
  }
  const CacheControl rcc = parseCacheControl(req.headers);
  const CacheControl cc = parseCacheControl(resp.headers);
  std::string why = failed ? "fallback" : whyNotStorable(c.policy, req.method,
                                                         req.headers.has("authorization"), rcc,
                                                         status, resp.headers, cc);
  if (why.empty()) {
    auto e = std::make_shared<CacheEntry>();
    fillEntry(*e, c.policy, status, resp.headers, request_time_ms_, now);
    const bool validators = !e->etag.empty() || !e->last_modified.empty();
    if (e->fresh_lifetime_s <= 0 && !validators && e->stale_if_error_s <= 0) {
      why = "no freshness";
    } else if (const std::string* cl = resp.headers.get("content-length");
               cl != nullptr && std::strtoull(cl->c_str(), nullptr, 10) > c.max_entry_bytes) {
      why = "too large";
      c.stats->too_large.fetch_add(1, std::memory_order_relaxed);
      result_ = "BYPASS";
    } else {
      pending_ = std::move(e);
      storing_ = true;
    }
  }
  if (!storing_) {
    finishLeader(nullptr);
  } else {
    publishHead(*pending_, req);
  }
  if (result_ == "MISS") {
    c.stats->misses.fetch_add(1, std::memory_order_relaxed);
  } else if (result_ == "EXPIRED") {
    c.stats->expired.fetch_add(1, std::memory_order_relaxed);
  } else {
    c.stats->bypass.fetch_add(1, std::memory_order_relaxed);
  }
  setXCache(resp, result_);
  return FilterStatus::Continue;
}

FilterStatus CacheFilter::onResponseBody(RequestContext& ctx, std::string& body, bool eos) {
  if (served_) {
    return FilterStatus::Continue;
  }
  if (storing_) {
    if (body_.size() + body.size() > cfg_->max_entry_bytes) {
      storing_ = false;
      body_.clear();
      body_.shrink_to_fit();
      pending_.reset();
      cfg_->stats->too_large.fetch_add(1, std::memory_order_relaxed);
    } else {
      body_.append(body);
    }
  }
  feedFlight(body, eos && !storing_);  // a stored response completes its flight in storeEntry
  if (storing_ && eos) {
    storing_ = false;
    pending_->body = std::move(body_);
    storeEntry(ctx, std::move(pending_));
  }
  return FilterStatus::Continue;
}

void CacheFilter::storeEntry(RequestContext& ctx, std::shared_ptr<CacheEntry> e) {
  const CacheConfig& c = *cfg_;
  const http::RequestHead& req = ctx.request();
  e->route = c.route_name;
  e->path = req.path;
  e->resource = resource_;
  e->tags.clear();
  if (!c.surrogate_key_header.empty()) {
    for (const auto& [k, v] : e->headers) {
      if (k != c.surrogate_key_header) continue;
      for (absl::string_view t : absl::StrSplit(v, absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
        e->tags.emplace_back(t);
      }
    }
  }
  e->key = e->vary.empty() ? base_ : varyKey(base_, e->vary, req.headers);
  c.store->insert(base_, e, c.stats);
  writeRedis(ctx, *e);
  finishLeader(std::move(e));
}

void CacheFilter::writeRedis(RequestContext& ctx, const CacheEntry& e) {
  const CacheConfig& c = *cfg_;
  if (c.redis.empty()) {
    return;
  }
  std::shared_ptr<redis::RedisClient> client = redis_ ? redis_ : ctx.worker().redis(c.redis);
  std::string value = encodeEntry(e);
  if (value.size() > c.redis_max_entry_bytes) {
    return;
  }
  if (client == nullptr || !client->connected()) {
    c.stats->redis_errors.fetch_add(1, std::memory_order_relaxed);
    kRedisErrors.inc(ctx.worker());
    return;
  }
  const std::string ttl = absl::StrCat(redisTtlMs(e, nowMs()));
  auto stats = c.stats;
  WorkerContext* w = &ctx.worker();
  auto on_reply = [stats, w](absl::StatusOr<redis::RedisReply> r) {
    if (!r.ok() || r->isError()) {
      stats->redis_errors.fetch_add(1, std::memory_order_relaxed);
      kRedisErrors.inc(*w);
    }
  };
  if (!e.vary.empty()) {
    client->command({"SET", redisKey(base_), encodeVary(e.vary), "PX", ttl}, on_reply);
  }
  client->command({"SET", redisKey(e.key), std::move(value), "PX", ttl}, on_reply);
}

void CacheFilter::startBackgroundRefresh(RequestContext& ctx, CacheEntryConstPtr e) {
  const auto* chain = static_cast<const FilterChain*>(ctx.route()->attachment());
  const std::string cluster = chain->route->staticRoute()->cluster;
  kRefreshes.inc(ctx.worker());
  std::shared_ptr<const CacheConfig> cfg = cfg_;
  const int64_t sent = nowMs();
  HttpRequest r = refreshRequest(ctx, ctx.request(), ctx.route(), *e);
  r.max_response_bytes = cfg->max_entry_bytes;
  const std::string base = base_;
  // The call outlives the request: it holds the config, the stale entry and the key, not the
  // filter.
  ctx.worker().httpClient().send(cluster, std::move(r), [cfg, e, base, sent](HttpResult&& res) {
    cfg->coalescer->endRefresh(e->key);
    if (!res.ok()) {
      return;  // the stale entry stays for stale-if-error
    }
    const int64_t now = nowMs();
    std::shared_ptr<CacheEntry> fresh;
    const HeaderMap& h = res.response.head.headers;
    if (res.response.head.status == 304) {
      fresh = std::make_shared<CacheEntry>(refreshedEntry(*e, cfg->policy, h, sent, now));
    } else {
      const CacheControl cc = parseCacheControl(h);
      if (!whyNotStorable(cfg->policy, "GET", false, CacheControl(), res.response.head.status,
                          h, cc)
               .empty() ||
          !varyNames(h).empty()) {
        return;  // a variant's key needs the request's headers: left to the next miss
      }
      fresh = std::make_shared<CacheEntry>();
      fillEntry(*fresh, cfg->policy, res.response.head.status, h, sent, now);
      fresh->body = std::move(res.response.body);
      fresh->route = e->route;
      fresh->path = e->path;
      fresh->resource = e->resource;
      fresh->tags = e->tags;
    }
    fresh->key = e->key;
    if (!fresh->vary.empty()) {
      fresh->vary = e->vary;
    }
    cfg->store->insert(base, fresh, cfg->stats);
  });
}

FilterStatus CacheFilter::onError(RequestContext& ctx) {
  if (served_) {
    return FilterStatus::Continue;
  }
  if (staleIfErrorOk(nowMs())) {
    cfg_->stats->stale.fetch_add(1, std::memory_order_relaxed);
    finishLeader(nullptr);
    serve(ctx, *stale_, "STALE");  // sent as it is
    return FilterStatus::StopAndRespond;
  }
  finishLeader(nullptr);
  setXCache(ctx.response(), result_);
  return FilterStatus::Continue;
}

void CacheFilter::onDestroy(RequestContext&) {
  if (redis_id_ != 0 && redis_ != nullptr) {
    redis_->cancel(redis_id_);
    redis_id_ = 0;
  }
  leaveFlight();
  finishLeader(nullptr);  // a leader whose response did not complete: its waiters go on alone
}

} // namespace gw::filters::cache
