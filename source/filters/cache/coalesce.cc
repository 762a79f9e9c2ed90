// The cache filter's side of request coalescing (docs/caching.md, "Request coalescing"). The
// first miss for a key leads: it publishes its response's head to the key's Flight as soon as it
// knows the response will be stored, then every body piece as it passes. Later misses join the
// Flight as waiters, paused; each is woken on its own loop and streams the response from the head
// on with respondStreaming(), from its own position, pausing with its client's backpressure.
// Waiters that have not started when the response turns out unusable (not storable, too large, a
// failure) go upstream themselves; those already streaming end as the leader's did.
#include "absl/strings/str_cat.h"
#include "source/filters/cache/cache_filter.h"

namespace gw::filters::cache {

void CacheFilter::publishHead(const CacheEntry& pending, const http::RequestHead& req) {
  if (!leader_) {
    return;
  }
  if (!pending.freshAt(nowMs())) {
    finishLeader(nullptr);  // stored for revalidation only: not for the waiters to reuse
    return;
  }
  auto head = std::make_shared<CacheEntry>(pending);  // pending_ changes on: the flight's is a copy
  head->key = head->vary.empty() ? base_ : varyKey(base_, head->vary, req.headers);
  head_published_ = true;
  flight_->setHead(std::move(head));
}

void CacheFilter::feedFlight(absl::string_view piece, bool eos) {
  if (!leader_ || !head_published_) {
    return;
  }
  flight_->append(piece);
  if (flight_->overflowed()) {
    cfg_->coalescer->end(base_, flight_.get());  // too large to store: later misses lead anew
  }
  if (eos) {
    leader_ = false;
    flight_->complete(nullptr);
    cfg_->coalescer->end(base_, flight_.get());
    flight_.reset();
  }
}

void CacheFilter::finishLeader(CacheEntryConstPtr e) {
  if (!leader_) {
    return;
  }
  leader_ = false;
  if (e != nullptr) {
    flight_->complete(std::move(e));
  } else {
    flight_->fail();
  }
  cfg_->coalescer->end(base_, flight_.get());
  flight_.reset();
}

FilterStatus CacheFilter::wait(RequestContext& ctx) {
  const CacheConfig& c = *cfg_;
  waiting_ = true;
  c.stats->coalesced.fetch_add(1, std::memory_order_relaxed);
  RequestHandle h = ctx.handle();
  sub_id_ = flight_->subscribe(ctx.worker(), [this, h]() {
    if (RequestContext* rc = h.context()) {
      onWake(*rc);
    }
  });
  ctx.runAfter(c.coalesce_timeout, [this, &ctx]() {
    if (waiting_) {  // the head has not come in time (streaming waiters have no timeout)
      leaveFlight();
      cfg_->stats->coalesce_timeouts.fetch_add(1, std::memory_order_relaxed);
      ctx.resume();
    }
  });
  return FilterStatus::Pause;
}

void CacheFilter::onWake(RequestContext& ctx) {
  if (streaming_) {
    if (!paused_) {
      Flight::Take t = flight_->take(sub_id_);
      writePieces(ctx, t);
    }
    return;
  }
  if (!waiting_) {
    return;  // timed out meanwhile
  }
  const HeaderMap& req = ctx.request().headers;
  CacheEntryConstPtr head = flight_->head();
  if (head != nullptr && !variantMatches(*head, req)) {
    leaveFlight();  // the leader fetched another variant: ours may be stored, else upstream
    if (CacheEntryConstPtr e = cfg_->store->lookup(base_, req); e != nullptr && e->freshAt(nowMs())) {
      cfg_->stats->hits.fetch_add(1, std::memory_order_relaxed);
      serve(ctx, *e, "HIT");
      return;
    }
    ctx.resume();
    return;
  }
  Flight::Take t = flight_->take(sub_id_);
  switch (t.kind) {
  case Flight::Take::Kind::Nothing:
    return;
  case Flight::Take::Kind::Whole:
    waiting_ = false;
    flight_.reset();
    if (t.entry->freshAt(nowMs())) {
      cfg_->stats->hits.fetch_add(1, std::memory_order_relaxed);
      serve(ctx, *t.entry, "HIT");
      return;
    }
    ctx.resume();
    return;
  case Flight::Take::Kind::Start:
    startStreaming(ctx, t);
    return;
  case Flight::Take::Kind::GoUpstream:
  case Flight::Take::Kind::More:
  case Flight::Take::Kind::Abort:
    break;
  }
  waiting_ = false;  // nothing usable comes: go upstream
  flight_.reset();
  ctx.resume();
}

void CacheFilter::startStreaming(RequestContext& ctx, Flight::Take& t) {
  waiting_ = false;
  streaming_ = true;
  served_ = true;
  handle_ = ctx.handle();
  cfg_->stats->hits.fetch_add(1, std::memory_order_relaxed);
  ctx.respondStreaming(cachedHead(*t.head, "HIT", false), this);
  if (handle_.alive()) {
    writePieces(ctx, t);
  }
}

void CacheFilter::writePieces(RequestContext& ctx, Flight::Take& t) {
  if (t.kind == Flight::Take::Kind::Abort) {
    streaming_ = false;
    flight_.reset();
    ctx.abortResponse();  // the leader's response failed mid-body, or we lagged too far behind
    return;
  }
  if (t.end) {
    streaming_ = false;  // take() dropped us from the flight
    flight_.reset();
  }
  // A piece may pause us (pauseBody) or end the request: the pieces already taken still go out
  // (they are bounded by max_entry_bytes); the next take waits for resumeBody.
  for (size_t i = 0; i < t.pieces.size(); ++i) {
    const bool last = t.end && i + 1 == t.pieces.size();
    ctx.respondBody(*t.pieces[i], last);
    if (!handle_.alive()) {
      return;
    }
  }
  if (t.end && t.pieces.empty()) {
    ctx.respondBody(absl::string_view(), true);
  }
}

void CacheFilter::resumeBody() {
  paused_ = false;
  if (!streaming_) {
    return;
  }
  // Called from inside the stream's write path: take the next pieces on a fresh turn of the loop.
  RequestHandle h = handle_;
  if (RequestContext* rc = h.context()) {
    rc->worker().post([this, h]() {
      RequestContext* c = h.context();
      if (c != nullptr && streaming_ && !paused_) {
        Flight::Take t = flight_->take(sub_id_);
        writePieces(*c, t);
      }
    });
  }
}

void CacheFilter::leaveFlight() {
  if ((waiting_ || streaming_) && flight_ != nullptr) {
    flight_->unsubscribe(sub_id_);
  }
  waiting_ = false;
  streaming_ = false;
  if (!leader_) {
    flight_.reset();
  }
}

} // namespace gw::filters::cache
