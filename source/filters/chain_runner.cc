#include "source/filters/chain_runner.h"

namespace gw::filters {

const char* phaseName(ChainRunner::Phase phase) {
  switch (phase) {
  case ChainRunner::Phase::None: return "none";
  case ChainRunner::Phase::RequestHeaders: return "request_headers";
  case ChainRunner::Phase::RequestBody: return "request_body";
  case ChainRunner::Phase::RequestTrailers: return "request_trailers";
  case ChainRunner::Phase::Route: return "route";
  case ChainRunner::Phase::ResponseHeaders: return "response_headers";
  case ChainRunner::Phase::ResponseBody: return "response_body";
  case ChainRunner::Phase::ResponseTrailers: return "response_trailers";
  case ChainRunner::Phase::Error: return "error";
  }
  return "none";
}

ChainRunner::ChainRunner(const FilterChain& chain, Owner& owner) : chain_(chain), owner_(owner) {
  for (const auto& c : chain.pre) {
    pre_.push_back({instance(c), c.get()});
  }
}

ChainRunner::~ChainRunner() = default;

Filter* ChainRunner::instance(const FilterConfigConstSharedPtr& config) {
  if (Filter* f = config->shared()) {
    return f;
  }
  owned_.push_back(config->create());
  return owned_.back().get();
}

void ChainRunner::beginResponse() {
  Filter* excluded = answered_by_;
  response_.clear();
  if (chain_.pre_sees_response) {
    if (route_started_ && route_.config->seesResponse() && route_.filter != excluded) {
      response_.push_back(route_);
    }
    for (size_t i = pre_started_; i-- > 0;) {
      if (pre_[i].config->seesResponse() && pre_[i].filter != excluded) {
        response_.push_back(pre_[i]);
      }
    }
  }
  if (!post_made_) {
    post_made_ = true;
    for (const auto& c : chain_.post) {
      post_.push_back({instance(c), c.get()});
    }
  }
  for (const Slot& s : post_) {
    response_.push_back(s);
  }
}

Filter* ChainRunner::next() {
  using M = BodyPolicy::Mode;
  switch (phase_) {
  case Phase::None:
    return nullptr;
  case Phase::RequestHeaders:
    return index_ < pre_.size() ? pre_[index_++].filter : nullptr;
  case Phase::RequestBody:
  case Phase::RequestTrailers:
    while (index_ < pre_.size()) {
      const Slot& s = pre_[index_++];
      if (s.config->requestBody().mode != M::Untouched) {
        return s.filter;
      }
    }
    return nullptr;
  case Phase::Route:
    return index_++ == 0 ? route_.filter : nullptr;
  case Phase::ResponseHeaders:
    return index_ < response_.size() ? response_[index_++].filter : nullptr;
  case Phase::ResponseBody:
  case Phase::ResponseTrailers:
    while (index_ < response_.size()) {
      const Slot& s = response_[index_++];
      if (s.config->responseBody().mode != M::Untouched) {
        return s.filter;
      }
    }
    return nullptr;
  case Phase::Error:
    return index_ < error_list_.size() ? error_list_[index_++] : nullptr;
  }
  return nullptr;
}

void ChainRunner::run(Phase phase) {
  if (phase == Phase::Route && route_.filter == nullptr) {
    route_ = {instance(chain_.route), chain_.route.get()};
  }
  if (phase == Phase::Route) {
    route_started_ = true;
  }
  if (phase == Phase::Error) {
    // The response path's pre/route part (those that saw the request), then the error filters;
    // not the filter that failed the request.
    error_list_.clear();
    if (chain_.pre_sees_response) {
      if (route_started_ && route_.config->seesResponse() && route_.filter != answered_by_) {
        error_list_.push_back(route_.filter);
      }
      for (size_t i = pre_started_; i-- > 0;) {
        if (pre_[i].config->seesResponse() && pre_[i].filter != answered_by_) {
          error_list_.push_back(pre_[i].filter);
        }
      }
    }
    for (const auto& c : chain_.error) {
      error_list_.push_back(instance(c));
    }
  }
  phase_ = phase;
  index_ = 0;
  paused_ = false;
  current_ = nullptr;
  if ((phase == Phase::RequestHeaders && pre_.empty()) ||
      (phase == Phase::ResponseHeaders && response_.empty())) {
    phase_ = Phase::None;  // nothing to run (the plain proxied route): straight on
    owner_.onPhaseDone(phase);
    return;
  }
  iterate();
}

void ChainRunner::resume() {
  if (in_hook_) {
    resume_in_hook_ = true;
    return;
  }
  if (!paused_) {
    return;
  }
  paused_ = false;
  iterate();
}

void ChainRunner::abandon() {
  paused_ = false;
  phase_ = Phase::None;
  current_ = nullptr;
  index_ = 0;
}

FilterStatus ChainRunner::call(Filter* f) {
  RequestContext& ctx = owner_.context();
  switch (phase_) {
  case Phase::RequestHeaders: return f->onRequestHeaders(ctx);
  case Phase::RequestBody: return f->onRequestBody(ctx, *body_, end_of_stream_);
  case Phase::RequestTrailers: return f->onRequestTrailers(ctx, *trailers_);
  case Phase::Route: return f->onRoute(ctx, owner_.upstream());
  case Phase::ResponseHeaders: return f->onResponseHeaders(ctx);
  case Phase::ResponseBody: return f->onResponseBody(ctx, *body_, end_of_stream_);
  case Phase::ResponseTrailers: return f->onResponseTrailers(ctx, *trailers_);
  case Phase::Error: return f->onError(ctx);
  case Phase::None: break;
  }
  return FilterStatus::Continue;
}

void ChainRunner::iterate() {
  // The request and response header phases (every request runs them) get a loop of their own:
  // no per-filter dispatch on the phase.
  RequestContext& ctx = owner_.context();
  switch (phase_) {
  case Phase::RequestHeaders:
    loop(
        [this]() -> Filter* { return index_ < pre_.size() ? pre_[index_++].filter : nullptr; },
        [&ctx](Filter* f) { return f->onRequestHeaders(ctx); });
    return;
  case Phase::ResponseHeaders:
    loop([this]() -> Filter* {
           return index_ < response_.size() ? response_[index_++].filter : nullptr;
         },
         [&ctx](Filter* f) { return f->onResponseHeaders(ctx); });
    return;
  default:
    loop([this] { return next(); }, [this](Filter* f) { return call(f); });
    return;
  }
}

template <class Next, class Hook> void ChainRunner::loop(Next next_filter, Hook hook) {
  const Phase phase = phase_;
  while (Filter* f = next_filter()) {
    current_ = f;
    if (phase == Phase::RequestHeaders && index_ > pre_started_) {
      pre_started_ = index_;
    }
    in_hook_ = true;
    resume_in_hook_ = false;
    const FilterStatus s = hook(f);
    in_hook_ = false;
    if (owner_.takeInterrupt()) {
      return;  // the owner moved on; this phase is over
    }
    if (phase_ != phase) {
      return;  // the hook ended the phase another way (e.g. the request was torn down)
    }
    if (s == FilterStatus::Pause && !resume_in_hook_) {
      paused_ = true;
      return;
    }
    if (s == FilterStatus::StopAndRespond) {
      // The filter said it answered but did not call respond() or fail().
      phase_ = Phase::None;
      owner_.context().fail(ErrorInfo::make(
          ErrorKind::Internal, "a filter stopped the request without answering it"));
      return;
    }
  }
  current_ = nullptr;
  phase_ = Phase::None;
  owner_.onPhaseDone(phase);
}

void ChainRunner::destroy() {
  if (destroyed_) {
    return;
  }
  destroyed_ = true;
  paused_ = false;
  phase_ = Phase::None;
  if (owned_.empty()) {
    return;  // only shared instances: nothing to tell
  }
  RequestContext& ctx = owner_.context();
  for (auto& f : owned_) {
    f->onDestroy(ctx);
  }
}

} // namespace gw::filters
