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
  pre_.reserve(chain.pre.size());
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
    post_.reserve(chain_.post.size());
    for (const auto& c : chain_.post) {
      post_.push_back({instance(c), c.get()});
    }
  }
  for (const Slot& s : post_) {
    response_.push_back(s);
  }
}

void ChainRunner::buildList(Phase phase) {
  list_.clear();
  using M = BodyPolicy::Mode;
  switch (phase) {
  case Phase::None:
    break;
  case Phase::RequestHeaders:
    for (const Slot& s : pre_) {
      list_.push_back(s.filter);
    }
    break;
  case Phase::RequestBody:
  case Phase::RequestTrailers:
    for (const Slot& s : pre_) {
      if (s.config->requestBody().mode != M::Untouched) {
        list_.push_back(s.filter);
      }
    }
    break;
  case Phase::Route:
    if (route_.filter == nullptr) {
      route_ = {instance(chain_.route), chain_.route.get()};
    }
    route_started_ = true;
    list_.push_back(route_.filter);
    break;
  case Phase::ResponseHeaders:
    for (const Slot& s : response_) {
      list_.push_back(s.filter);
    }
    break;
  case Phase::ResponseBody:
  case Phase::ResponseTrailers:
    for (const Slot& s : response_) {
      if (s.config->responseBody().mode != M::Untouched) {
        list_.push_back(s.filter);
      }
    }
    break;
  case Phase::Error: {
    Filter* excluded = answered_by_;
    if (chain_.pre_sees_response) {
      if (route_started_ && route_.config->seesResponse() && route_.filter != excluded) {
        list_.push_back(route_.filter);
      }
      for (size_t i = pre_started_; i-- > 0;) {
        if (pre_[i].config->seesResponse() && pre_[i].filter != excluded) {
          list_.push_back(pre_[i].filter);
        }
      }
    }
    for (const auto& c : chain_.error) {
      list_.push_back(instance(c));
    }
    break;
  }
  }
}

void ChainRunner::run(Phase phase) {
  buildList(phase);
  phase_ = phase;
  index_ = 0;
  paused_ = false;
  current_ = nullptr;
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
  list_.clear();
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
  const Phase phase = phase_;
  while (index_ < list_.size()) {
    Filter* f = list_[index_++];
    current_ = f;
    if (phase == Phase::RequestHeaders && index_ > pre_started_) {
      pre_started_ = index_;
    }
    in_hook_ = true;
    resume_in_hook_ = false;
    const FilterStatus s = call(f);
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
  RequestContext& ctx = owner_.context();
  for (auto& f : owned_) {
    f->onDestroy(ctx);
  }
}

} // namespace gw::filters
