#include "source/server/upstream_request.h"

#include "absl/strings/str_cat.h"
#include "source/server/h2_client_connection.h"
#include "source/upstream/load_balancer.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;

UpstreamRequest::UpstreamRequest(Worker& worker, const RuntimeConfigConstSharedPtr* pinned,
                                 UpstreamRequestCallbacks& cb)
    : worker_(worker), pinned_(pinned), cb_(cb) {}

const std::string& UpstreamRequest::hostAddress() const {
  static const std::string kNone;
  return host_pool_ == nullptr ? kNone : host_pool_->host.address;
}

UpstreamRequest::~UpstreamRequest() {
  release(false);
  if (!recorded_) {
    releaseAdmissions();  // ended without a result (the client left, a timeout): free a probe
  }
  if (budget_counted_) {
    cluster_->runtime().retryBudget().requestEnded();
  }
}

void UpstreamRequest::start(absl::string_view cluster, const http::RequestHead& head,
                            absl::string_view client_ip, const filters::ProxyPolicy* policy,
                            int avoid) {
  head_request_ = head.method == "HEAD";
  policy_ = policy;
  avoid_ = avoid;
  cluster_ = worker_.cluster(cluster);
  if (pinned_ != nullptr && *pinned_ != nullptr && worker_.config() != *pinned_) {
    // The worker switched configs after this request started (a filter paused). If the cluster
    // changed or went away, the request still goes where its own config says.
    const ClusterConfig* own = (*pinned_)->cluster(cluster);
    if (own != nullptr && (cluster_ == nullptr || !cluster_->config().sameUpstreamsAs(*own))) {
      cluster_ = std::make_shared<ClusterState>(worker_, *own, *pinned_);
      cluster_->retire();
    }
  }
  if (cluster_ == nullptr) {
    cb_.onUpstreamError(ErrorInfo::make(ErrorKind::NoCluster, absl::StrCat("cluster '", cluster,
                                                                          "' is not available")),
                        false);
    return;
  }
  upstream::ClusterRuntime& rt = cluster_->runtime();
  // The breakers: the cluster's, then the route's own. Open: the request never goes upstream.
  upstream::CircuitBreaker* route_breaker = policy_ != nullptr ? policy_->breaker.get() : nullptr;
  if (rt.breaker() != nullptr || route_breaker != nullptr) {
    const int64_t now = upstream::monotonicNowNs();
    upstream::CircuitBreaker::Decision d{upstream::CircuitBreaker::Admission::Normal};
    const upstream::CircuitBreaker* refused = nullptr;
    if (rt.breaker() != nullptr) {
      d = rt.breaker()->admit(now);
      cluster_admission_ = d.admission;
      refused = d.admission == upstream::CircuitBreaker::Admission::Rejected ? rt.breaker() : nullptr;
    }
    if (refused == nullptr && route_breaker != nullptr) {
      d = route_breaker->admit(now);
      route_admission_ = d.admission;
      refused = d.admission == upstream::CircuitBreaker::Admission::Rejected ? route_breaker : nullptr;
    }
    if (refused != nullptr) {
      releaseAdmissions();
      worker_.stats().upstream_rq_circuit_open++;
      ErrorInfo e = ErrorInfo::make(
          ErrorKind::CircuitOpen,
          absl::StrCat("circuit breaker '", refused->name(), "' is open"));
      const int64_t secs = std::max<int64_t>(1, (d.retry_after_ns + 999999999) / 1000000000);
      e.headers.emplace_back("retry-after", absl::StrCat(secs));
      recorded_ = true;  // nothing to record: the request never left
      cb_.onUpstreamError(std::move(e), false);
      return;
    }
  }
  if (rt.retryBudget().counting()) {
    rt.retryBudget().requestStarted();
    budget_counted_ = true;
  }
  if (cluster_->config().proto.has_hash_policy()) {
    const std::optional<uint64_t> h =
        upstream::computeHash(cluster_->config().proto.hash_policy(), head, client_ip);
    has_hash_ = h.has_value();
    hash_ = h.value_or(0);
  }
  pickAndConnect();
}

void UpstreamRequest::pickAndConnect() {
  attempts_++;
  upstream::LbContext ctx;
  if (has_hash_) {
    ctx.hash = hash_;
  }
  ctx.all_hosts = cluster_->runtime().panic();
  upstream::Host* host = cluster_->lb().pick(ctx);
  // A retry goes to another endpoint where there is one (a hash policy may insist on the same).
  for (int again = 0; again < 2 && host != nullptr && avoid_ >= 0 &&
                      static_cast<int>(host->index) == avoid_ && cluster_->pools().size() > 1;
       again++) {
    host = cluster_->lb().pick(ctx);
  }
  if (host == nullptr) {
    releaseAdmissions();
    recorded_ = true;
    cb_.onUpstreamError(ErrorInfo::make(ErrorKind::NoHealthyUpstream,
                                        absl::StrCat("cluster '", cluster_->config().name,
                                                     "' has no healthy endpoint")),
                        false);
    return;
  }
  connectTo(host);
}

void UpstreamRequest::connectTo(upstream::Host* host) {
  using gateway::v1::Cluster;
  host_pool_ = cluster_->poolOf(host);
  UpstreamHandle* c = nullptr;
  bool ready = false;
  const Cluster::UpstreamProtocol protocol = cluster_->config().proto.protocol();
  if (protocol == Cluster::H2C || protocol == Cluster::H2 ||
      (protocol == Cluster::AUTO && host_pool_->alpn != HostPool::Alpn::Http1)) {
    H2UpstreamStream* s = H2ClientConnection::acquire(cluster_, *host_pool_, *this);
    ready = s != nullptr && s->ready();
    c = s;
  } else {
    UpstreamConnection* h1 =
        UpstreamConnection::acquire(cluster_, *host_pool_, *this, head_request_);
    ready = h1 != nullptr && h1->reused();
    c = h1;
  }
  if (c == nullptr) {
    releaseAdmissions();
    recorded_ = true;
    cb_.onUpstreamError(ErrorInfo::make(ErrorKind::UpstreamOverflow,
                                        absl::StrCat("connection limit reached for ",
                                                     host->address)),
                        false);
    return;
  }
  host->active_requests++;
  host->total_requests++;
  counted_ = true;
  conn_ = c;
  if (ready) {
    cb_.onUpstreamReady();
  }
}

void UpstreamRequest::recordAttempt(const upstream::AttemptResult& result) {
  if (recorded_ || cluster_ == nullptr) {
    return;
  }
  recorded_ = true;
  upstream::ClusterRuntime& rt = cluster_->runtime();
  upstream::CircuitBreaker* route_breaker = policy_ != nullptr ? policy_->breaker.get() : nullptr;
  const bool breakers = rt.breaker() != nullptr || route_breaker != nullptr;
  if (!breakers && !rt.observesAttempts()) {
    return;  // the plain path: no clock read
  }
  const int64_t now = upstream::monotonicNowNs();
  if (host_pool_ != nullptr) {
    rt.onAttempt(host_pool_->host.index, result, now);
  }
  if (rt.breaker() != nullptr) {
    rt.breaker()->record(cluster_admission_,
                         rt.breaker()->settings().failures.isFailure(result), now);
    cluster_admission_ = upstream::CircuitBreaker::Admission::Rejected;
  }
  if (route_breaker != nullptr) {
    route_breaker->record(route_admission_, route_breaker->settings().failures.isFailure(result),
                          now);
    route_admission_ = upstream::CircuitBreaker::Admission::Rejected;
  }
}

void UpstreamRequest::releaseAdmissions() {
  if (cluster_ != nullptr && cluster_->runtime().breaker() != nullptr) {
    cluster_->runtime().breaker()->release(cluster_admission_);
  }
  if (policy_ != nullptr && policy_->breaker != nullptr) {
    policy_->breaker->release(route_admission_);
  }
  cluster_admission_ = upstream::CircuitBreaker::Admission::Rejected;
  route_admission_ = upstream::CircuitBreaker::Admission::Rejected;
}

void UpstreamRequest::dropHost() {
  if (counted_ && host_pool_ != nullptr && host_pool_->host.active_requests > 0) {
    host_pool_->host.active_requests--;
  }
  counted_ = false;
}

void UpstreamRequest::write(std::string&& data) {
  if (conn_ != nullptr) {
    conn_->write(std::move(data));
  }
}

void UpstreamRequest::write(absl::string_view data) {
  if (conn_ != nullptr) {
    conn_->write(data);
  }
}

size_t UpstreamRequest::writeQueueSize() const {
  return conn_ == nullptr ? 0 : conn_->writeQueueSize();
}

void UpstreamRequest::pauseReading() {
  if (conn_ != nullptr) {
    conn_->pauseReading();
  }
}

void UpstreamRequest::resumeReading() {
  if (conn_ != nullptr) {
    conn_->resumeReading();
  }
}

UpstreamConnection* UpstreamRequest::detach() {
  UpstreamConnection* c = conn_ != nullptr ? conn_->http1Connection() : nullptr;
  if (c == nullptr) {
    return nullptr;  // no connection, or an HTTP/2 stream (no tunnel over it): released as usual
  }
  dropHost();
  conn_ = nullptr;
  return c;
}

void UpstreamRequest::release(bool reusable) {
  dropHost();
  if (conn_ == nullptr) {
    return;
  }
  UpstreamHandle* c = conn_;
  conn_ = nullptr;
  c->release(reusable);
}

void UpstreamRequest::onUpstreamReady() {
  if (conn_ != nullptr) {
    cb_.onUpstreamReady();
  }
}

void UpstreamRequest::onUpstreamHead(http::ResponseHead&& head, bool informational) {
  if (!informational || head.status == 101) {
    recordAttempt({upstream::AttemptResult::Kind::Response, head.status});
  }
  cb_.onUpstreamHead(std::move(head), informational);
}

void UpstreamRequest::onUpstreamBody(absl::string_view data) { cb_.onUpstreamBody(data); }

void UpstreamRequest::onUpstreamTrailers(HeaderMap&& trailers) {
  cb_.onUpstreamTrailers(std::move(trailers));
}

void UpstreamRequest::onUpstreamComplete() { cb_.onUpstreamComplete(); }

void UpstreamRequest::onUpstreamFailure(const std::string& reason, UpstreamFailure failure,
                                        bool before_response) {
  const bool reused = conn_ != nullptr && conn_->reused();
  conn_ = nullptr;  // the connection has closed itself
  dropHost();
  if (failure == UpstreamFailure::AlpnHttp1 && before_response && !alpn_moved_ &&
      host_pool_ != nullptr) {
    // Nothing was sent (the stream never became ready): the same endpoint, over HTTP/1.1.
    alpn_moved_ = true;
    connectTo(&host_pool_->host);
    return;
  }
  ErrorInfo e = ErrorInfo::make(failure == UpstreamFailure::ConnectFailed ? ErrorKind::UpstreamConnectFailed
                                : failure == UpstreamFailure::TlsHandshake
                                    ? ErrorKind::UpstreamTlsError
                                : failure == UpstreamFailure::ProtocolError
                                    ? ErrorKind::UpstreamProtocolError
                                    : ErrorKind::UpstreamReset,
                                reason);
  // A reused keep-alive connection may have been closed by the upstream just as we sent: one
  // more try on a fresh connection, when nothing of the request is lost.
  if (before_response && reused && attempts_ == 1 && e.retryable &&
      e.source == filters::ErrorSource::Upstream && cb_.replayable()) {
    worker_.stats().upstream_rq_retry++;
    pickAndConnect();  // a stale pooled connection says nothing about the host: not recorded
    return;
  }
  if (before_response) {
    using K = upstream::AttemptResult::Kind;
    recordAttempt({failure == UpstreamFailure::ConnectFailed ||
                           failure == UpstreamFailure::TlsHandshake
                       ? K::ConnectFailure
                   : failure == UpstreamFailure::ProtocolError ? K::ProtocolError
                                                               : K::Reset,
                   0});
  }
  cb_.onUpstreamError(std::move(e), !before_response);
}

} // namespace gw::server
