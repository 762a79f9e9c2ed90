#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "source/filters/error.h"
#include "source/http/message.h"
#include "source/server/upstream_connection.h"
#include "source/server/worker.h"
#include "source/upstream/attempt.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::server {

class UpstreamRequest;

// What an UpstreamRequest reports to its user: the stream (proxying, bodies streamed) or the
// worker's HTTP client (sub-requests, bodies collected).
class UpstreamRequestCallbacks {
public:
  virtual ~UpstreamRequestCallbacks() = default;
  // A connection is ready: write the request now. Called again after a retry on a fresh
  // connection (only when replayable()).
  virtual void onUpstreamReady() = 0;
  virtual void onUpstreamHead(http::ResponseHead&& head, bool informational) = 0;
  virtual void onUpstreamBody(absl::string_view data) = 0;
  virtual void onUpstreamTrailers(HeaderMap&& trailers) = 0;
  virtual void onUpstreamComplete() = 0;
  // The request failed and is over: no host (NoCluster, NoHealthyUpstream, UpstreamOverflow),
  // connect failure, reset or malformed response. `response_started`: some of the response had
  // arrived (and may have been passed on). May run inside UpstreamRequest::start().
  virtual void onUpstreamError(filters::ErrorInfo error, bool response_started) = 0;
  // The write queue fell below the low watermark.
  virtual void onUpstreamWritable() {}
  // Bracket one read from the upstream (so downstream writes it causes can leave together).
  virtual void onUpstreamReadBegin() {}
  virtual void onUpstreamReadEnd() {}
  // Whether the whole request could be written again: nothing of its body has been forwarded
  // that is not held to be sent again.
  virtual bool replayable() const = 0;
};

// One request to one cluster on one worker: picks a host with the cluster's balancer, takes a
// pooled connection (or opens one), keeps the host's active-request count, and retries once on
// a fresh connection when a reused keep-alive connection turns out closed before any response
// byte (the upstream closed it as we sent: the error is retryable, from the upstream, and the
// request replayable; on an HTTP/2 cluster: when the upstream refused the stream unprocessed).
// The cluster's protocol picks the handle: a pooled HTTP/1.1 UpstreamConnection or a stream of a
// multiplexed H2ClientConnection (H2C, H2; AUTO until the endpoint chose HTTP/1.1 by ALPN, and
// then the request goes again, once, to the same endpoint over HTTP/1.1). A request pinned to an
// older config than the worker's goes to the cluster its own config names, through a one-off
// state whose connections close after use.
class UpstreamRequest : public UpstreamCallbacks {
public:
  // `pinned`: the config the request runs on (nullptr: the worker's), held by the caller for as
  // long as this object lives.
  UpstreamRequest(Worker& worker, const RuntimeConfigConstSharedPtr* pinned,
                  UpstreamRequestCallbacks& cb);
  ~UpstreamRequest() override;
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  // Asks the cluster's breaker and the route's (policy->breaker) to let the request through
  // (CircuitOpen otherwise), picks a host of `cluster` (hashing `head` and `client_ip` for hash
  // balancers; another than endpoint `avoid` when the cluster has one, for a retry) and acquires
  // a connection; onUpstreamReady follows (at once for a reused connection).
  void start(absl::string_view cluster, const http::RequestHead& head,
             absl::string_view client_ip, const filters::ProxyPolicy* policy = nullptr,
             int avoid = -1);
  // How this attempt ended, for the breakers and outlier detection: at most once per attempt
  // (the response head and connection failures are recorded here; the stream records per-try
  // timeouts). Later calls do nothing.
  void recordAttempt(const upstream::AttemptResult& result);
  // The endpoint index of the picked host (-1 before a pick).
  int hostIndex() const { return host_pool_ == nullptr ? -1 : static_cast<int>(host_pool_->host.index); }
  // The cluster's process-wide state (null before start() found the cluster).
  upstream::ClusterRuntime* runtime() const { return cluster_ ? &cluster_->runtime() : nullptr; }
  std::shared_ptr<upstream::ClusterRuntime> runtimeShared() const {
    return cluster_ ? cluster_->runtimeShared() : nullptr;
  }
  void write(std::string&& data);
  void write(absl::string_view data);
  size_t writeQueueSize() const;
  void pauseReading();
  void resumeReading();
  // Done with the connection: a reusable one goes back to the pool, otherwise it closes.
  void release(bool reusable);
  // Takes the connection away (a tunnel after 101 Switching Protocols): the request no longer
  // counts on its host; the caller owns what happens to the connection (nullptr if none).
  UpstreamConnection* detach();
  bool connected() const { return conn_ != nullptr; }
  // The picked endpoint ("" before the first pick); valid while this object lives.
  const std::string& hostAddress() const;
  uint32_t attempts() const { return attempts_; }

  // UpstreamCallbacks (from the connection)
  void onUpstreamReady() override;
  void onUpstreamHead(http::ResponseHead&& head, bool informational) override;
  void onUpstreamBody(absl::string_view data) override;
  void onUpstreamTrailers(HeaderMap&& trailers) override;
  void onUpstreamComplete() override;
  void onUpstreamFailure(const std::string& reason, UpstreamFailure failure,
                         bool before_response) override;
  void onUpstreamWritable() override { cb_.onUpstreamWritable(); }
  void onUpstreamReadBegin() override { cb_.onUpstreamReadBegin(); }
  void onUpstreamReadEnd() override { cb_.onUpstreamReadEnd(); }

private:
  void pickAndConnect();
  // Takes a connection (or stream) to `host` for the request.
  void connectTo(upstream::Host* host);
  void dropHost();
  // A breaker admission that will not get a result (the request ends without one).
  void releaseAdmissions();

  Worker& worker_;
  const RuntimeConfigConstSharedPtr* pinned_;
  UpstreamRequestCallbacks& cb_;
  ClusterStateSharedPtr cluster_;
  HostPool* host_pool_ = nullptr;
  UpstreamHandle* conn_ = nullptr;  // an HTTP/1.1 connection or an HTTP/2 stream
  const filters::ProxyPolicy* policy_ = nullptr;
  uint64_t hash_ = 0;
  uint32_t attempts_ = 0;
  int avoid_ = -1;
  upstream::CircuitBreaker::Admission cluster_admission_ = upstream::CircuitBreaker::Admission::Rejected;
  upstream::CircuitBreaker::Admission route_admission_ = upstream::CircuitBreaker::Admission::Rejected;
  bool recorded_ = false;         // recordAttempt ran for the current attempt
  bool budget_counted_ = false;   // counted in the cluster's retry budget's active requests
  bool has_hash_ = false;
  bool head_request_ = false;
  bool counted_ = false;  // host_pool_->host.active_requests holds this request
  bool alpn_moved_ = false;  // went again over HTTP/1.1 after an AUTO endpoint chose it
};

} // namespace gw::server
