// The stream's route resilience: retries under the router's retry policy (per-try timeout,
// backoff with full jitter, another host, the cluster's retry budget, body replay) and the
// route's fallback when the cluster cannot be used (breaker open, no healthy host, or the
// upstream failing once retries are spent). See docs/resilience.md.
#include "absl/strings/str_cat.h"
#include "source/server/downstream_connection.h"
#include "source/server/stream.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;
using filters::Fallback;
using upstream::AttemptResult;

bool Stream::maybeRetry(const AttemptResult& result) {
  if (!retriesEnabled() || in_fallback_ || upstream_ == nullptr || response_started_ ||
      finished_ || downstream_closed_ || has_error_) {
    return false;
  }
  const filters::RetryPolicy& rp = *policy()->retry;
  if (!rp.retriable(result)) {
    return false;
  }
  Worker& w = conn_.worker();
  if (!rp.retry_non_idempotent && !filters::RetryPolicy::idempotent(request_.method)) {
    return false;
  }
  if (!replayable()) {
    return false;  // part of the body is gone (over the replay buffer)
  }
  Extras& x = extras();
  if (x.retries >= rp.num_retries) {
    w.stats().upstream_rq_retry_exhausted++;
    return false;
  }
  std::shared_ptr<upstream::ClusterRuntime> rt = upstream_->runtimeShared();
  if (rt == nullptr) {
    return false;
  }
  releaseRetrySlot();  // the previous retry is over
  if (!rt->retryBudget().tryStartRetry()) {
    w.stats().upstream_rq_retry_budget_exceeded++;
    return false;
  }
  x.retry_slot = std::move(rt);
  x.retries++;
  if (!x.hosts_tried.empty()) {
    x.hosts_tried.push_back(',');
  }
  x.hosts_tried += upstream_->hostAddress();
  x.avoid_host = upstream_->hostIndex();
  x.prior_attempts += upstream_->attempts();
  attempts_ = x.prior_attempts;
  dropUpstream();
  upstream_ready_ = false;
  upstream_paused_ = false;
  w.stats().upstream_rq_retry++;
  retry_wait_ = true;
  armRetryTimer(rp.backoff(x.retries, w.random()));
  return true;
}

void Stream::armRetryTimer(std::chrono::milliseconds delay) {
  Extras& x = extras();
  if (x.retry_timer == nullptr) {
    x.retry_timer = conn_.worker().createTimer([this] {
      if (retry_wait_) {
        retryNow();
      } else {
        onPerTryTimeout();
      }
    });
  }
  x.retry_timer->enable(delay);
}

void Stream::retryNow() {
  retry_wait_ = false;
  if (finished_ || downstream_closed_ || has_error_ || response_started_ || torn_down_) {
    return;
  }
  startProxy();
}

void Stream::armPerTryTimeout() {
  const std::chrono::milliseconds t = policy()->retry->per_try_timeout;
  if (t.count() > 0) {
    armRetryTimer(t);
  }
}

void Stream::onPerTryTimeout() {
  if (upstream_ == nullptr || finished_ || response_stage_ || response_started_ || has_error_) {
    return;
  }
  conn_.worker().stats().upstream_rq_per_try_timeout++;
  upstream_->recordAttempt({AttemptResult::Kind::Timeout, 0});
  attempts_ = upstream_->attempts() + (extras_ != nullptr ? extras_->prior_attempts : 0);
  if (maybeRetry({AttemptResult::Kind::Timeout, 0})) {
    return;
  }
  ErrorInfo e = ErrorInfo::make(
      ErrorKind::UpstreamTimeout,
      absl::StrCat("no response within the per-try timeout of ",
                   policy()->retry->per_try_timeout.count(), " ms"));
  if (!request_complete_) {
    close_after_ = true;
  }
  if (tryFallback(e)) {
    return;
  }
  fail(std::move(e));
}

void Stream::releaseRetrySlot() {
  if (extras_ != nullptr && extras_->retry_slot != nullptr) {
    extras_->retry_slot->retryBudget().retryEnded();
    extras_->retry_slot.reset();
  }
}

bool Stream::tryFallback(ErrorInfo& error) {
  const Fallback* fb = policy() != nullptr ? &policy()->fallback : nullptr;
  if (in_fallback_) {
    // The fallback cluster failed too: its own error goes out, still marked as a fallback.
    error.headers.emplace_back("x-gateway-fallback", extras().fallback_reason);
    return false;
  }
  const char* reason = nullptr;
  switch (error.kind) {
  case ErrorKind::CircuitOpen:
    reason = "circuit_open";
    break;
  case ErrorKind::NoHealthyUpstream:
    reason = fb != nullptr && fb->on_no_healthy_upstream ? "no_healthy_upstream" : nullptr;
    break;
  case ErrorKind::UpstreamConnectFailed:
  case ErrorKind::UpstreamReset:
  case ErrorKind::UpstreamProtocolError:
  case ErrorKind::UpstreamOverflow:
  case ErrorKind::UpstreamTimeout:
    reason = fb != nullptr && fb->on_upstream_failure ? "upstream_failure" : nullptr;
    break;
  default:
    break;
  }
  if (reason == nullptr) {
    return false;
  }
  WorkerStats& st = conn_.worker().stats();
  if (error.kind == ErrorKind::CircuitOpen) {
    st.fallback_circuit_open++;
  } else if (error.kind == ErrorKind::NoHealthyUpstream) {
    st.fallback_no_healthy_upstream++;
  } else {
    st.fallback_upstream_failure++;
  }
  if (fb == nullptr || fb->kind == Fallback::Kind::Error) {
    // The error itself is the fallback: 503 circuit_open with Retry-After, marked.
    error.headers.emplace_back("x-gateway-fallback", reason);
    return false;
  }
  if (fb->kind == Fallback::Kind::DirectResponse) {
    http::ResponseHead head;
    head.status = fb->status;
    bool has_type = false;
    for (const auto& [name, value] : fb->headers) {
      head.headers.add(name, value);
      has_type = has_type || name == "content-type";
    }
    if (!has_type && !fb->body.empty()) {
      head.headers.add("content-type", "application/json");
    }
    head.headers.add("x-gateway-fallback", reason);
    dropUpstream();
    respond(std::move(head), fb->body);
    return true;
  }
  // Another cluster: proxied from the next loop turn (this may run inside the failed
  // UpstreamRequest's own start()), without retries, its response marked.
  in_fallback_ = true;
  extras().fallback_reason = reason;
  extras_->avoid_host = -1;
  dropUpstream();
  upstream_ready_ = false;
  cluster_name_ = fb->cluster;
  retry_wait_ = true;
  armRetryTimer(std::chrono::milliseconds(0));
  return true;
}

} // namespace gw::server
