#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "source/event/timer.h"
#include "source/filters/chain_runner.h"
#include "source/filters/filter.h"
#include "source/filters/filter_chain.h"
#include "source/http/http1_codec.h"
#include "source/server/stream_connection.h"
#include "source/server/upstream_request.h"
#include "source/server/worker.h"

namespace gw::server {

// One request/response exchange on a downstream connection (HTTP/1.1 or one HTTP/2 stream, behind
// StreamConnection: the same routing, filters and errors for both): prepares the request (routing),
// runs the filter phases through a ChainRunner, proxies through an UpstreamRequest, and moves
// both bodies: untouched bodies stream from socket to socket with watermark backpressure; a
// direction some filter asks for is streamed through the body hooks or buffered whole.
//
// Request side:  headers -> [request body (Buffer: all of it, before routing)] -> route step
//                -> proxy (body streamed, Stream-hooked, or the buffered body at once)
// Response side: upstream or local head -> response headers hooks -> [response body hooks]
//                -> client (Untouched: as it arrives; Stream: re-framed chunked; Buffer: whole,
//                   with Content-Length)
// Errors anywhere before the response started go through the error stage to one JSON body.
class Stream final : public filters::RequestContext,
               public filters::Upstream,
               public filters::ChainRunner::Owner,
               public UpstreamRequestCallbacks,
               public DeferredDeletable {
public:
  Stream(StreamConnection& conn, RuntimeConfigConstSharedPtr config,
         const ListenerConfig& listener, http::RequestHead&& head, const StreamFraming& framing);
  ~Stream() override;

  // Called by the connection.
  void start();
  bool wantsBody() const;
  bool bodyBlocked() const { return request_body_blocked_; }
  void onRequestBody(absl::string_view data);
  void onRequestTrailers(HeaderMap&& trailers) {
    extras().request_trailers = std::move(trailers);
  }
  void onRequestComplete();
  void onDownstreamWritable();
  void onDownstreamClosed();
  void onRouteTimeout();
  bool responseStarted() const { return response_started_; }
  bool requestComplete() const { return request_complete_; }

  // filters::RequestContext
  using filters::RequestContext::respond;
  http::RequestHead& request() override { return request_; }
  http::ResponseHead& response() override { return response_; }
  const router::RouteEntry* route() const override { return route_; }
  absl::string_view requestId() const override { return request_id_; }
  const std::string& clientAddress() const override;
  const std::string& upstreamHost() const override;
  std::chrono::system_clock::time_point startTime() const override { return start_wall_; }
  int64_t elapsedMs() const override;
  filters::FilterState& filterState() override { return state_; }
  filters::WorkerContext& worker() override;
  filters::RequestHandle handle() override;
  std::string& requestBody() override { return extras().request_body; }
  void respond(http::ResponseHead head, std::string body) override;
  void respondStreaming(http::ResponseHead head, filters::ResponseBodySource* source) override;
  void respondBody(absl::string_view piece, bool end_of_stream) override;
  void abortResponse() override;
  void fail(filters::ErrorInfo error) override;
  void resume() override;
  const filters::ErrorInfo* error() const override {
    return has_error_ ? &extras_->error : nullptr;
  }
  void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) override;

  // filters::Upstream
  using filters::Upstream::proxyTo;
  void proxyTo(absl::string_view cluster, const filters::ProxyPolicy* policy) override;
  uint64_t send(absl::string_view cluster, filters::HttpRequest request,
                filters::HttpCallback cb) override;
  void cancel(uint64_t id) override;

  // filters::ChainRunner::Owner
  filters::RequestContext& context() override { return *this; }
  filters::Upstream& upstream() override { return *this; }
  bool takeInterrupt() override;
  void onPhaseDone(filters::ChainRunner::Phase phase) override;

  // UpstreamRequestCallbacks
  void onUpstreamReady() override;
  void onUpstreamHead(http::ResponseHead&& head, bool informational) override;
  void onUpstreamBody(absl::string_view data) override;
  void onUpstreamTrailers(HeaderMap&& trailers) override {
    extras().response_trailers = std::move(trailers);
  }
  void onUpstreamComplete() override;
  void onUpstreamError(filters::ErrorInfo error, bool response_started) override;
  void onUpstreamWritable() override;
  void onUpstreamReadBegin() override;
  void onUpstreamReadEnd() override;
  bool replayable() const override;

private:
  using Phase = filters::ChainRunner::Phase;
  using Mode = filters::BodyPolicy::Mode;
  enum class Interrupt : uint8_t { None, Respond, Fail, SendError };

  // What only some requests need, allocated on first use: the plain proxied request never does,
  // which keeps the Stream small enough for malloc's per-thread cache (1 KiB; a larger object
  // takes the slow path on every request).
  struct Extras {
    std::string request_body;      // Buffer: the whole request body
    std::string pending;           // response pieces waiting for their hooks (or for the head)
    std::string request_pending;   // request pieces waiting for their hooks (Stream)
    std::string request_piece;     // the request piece a Stream-mode body phase works on
    std::string response_piece;    // the response piece a Stream-mode body phase works on
    HeaderMap request_trailers;
    HeaderMap response_trailers;
    filters::ErrorInfo error;
    std::vector<event::TimerPtr> timers;       // runAfter()
    absl::InlinedVector<uint64_t, 2> sub_requests;  // send(); cancelled at teardown
    std::string client_request_id;
    // Retries and fallback (stream_retry.cc).
    const filters::ProxyPolicy* policy = nullptr;  // the router's, kept alive by config_
    std::string replay;          // Untouched: the framed body bytes sent upstream, for a retry
    event::TimerPtr retry_timer; // the per-try timeout, then the backoff before a retry
    std::string hosts_tried;     // "a:1,b:2" for the access log (when retried)
    std::shared_ptr<upstream::ClusterRuntime> retry_slot;  // holds a retry-budget slot
    uint32_t retries = 0;
    uint32_t prior_attempts = 0;  // attempts of the UpstreamRequests before the current one
    int avoid_host = -1;          // the endpoint a retry should avoid
    std::string fallback_reason;  // x-gateway-fallback of a proxied fallback's response
    filters::ResponseBodySource* body_source = nullptr;  // respondStreaming(); cleared at teardown
    // Upgrade (stream_upgrade.cc): the protocol asked for ("websocket"), and the Upgrade value
    // sent upstream (the client's), then the one the upstream's 101 names.
    std::string upgrade_protocol;
    std::string upgrade_value;
  };
  Extras& extras() {
    if (extras_ == nullptr) {
      extras_ = std::make_unique<Extras>();
    }
    return *extras_;
  }
  size_t pendingSize() const { return extras_ == nullptr ? 0 : extras_->pending.size(); }
  bool hasRequestTrailers() const {
    return extras_ != nullptr && !extras_->request_trailers.empty();
  }
  bool hasResponseTrailers() const {
    return extras_ != nullptr && !extras_->response_trailers.empty();
  }

  // What respond() and fail() lead to: at once, or (inside a hook) once the hook returns.
  void act(bool in_hook, Interrupt what);
  // One buffer per worker thread for serializing heads: written out (or copied into the write
  // queue) before the next head is built.
public:
  static std::string& scratchBuffer() {
    thread_local std::string buf;
    buf.clear();
    return buf;
  }

private:
  // Request side (stream_request.cc).
  void afterRequestHeaders();
  void routeStep();
  void startProxy();
  void runRequestPiece(bool end_of_stream);
  void afterRequestPiece();
  void writeRequestEnd();
  void failRequestTooLarge(absl::string_view why);
  void dropUpstream();
  // Writes body bytes upstream, keeping a copy for a retry while the route's policy asks for it.
  void writeBodyUpstream(std::string&& framed);
  void writeBodyUpstream(absl::string_view framed);
  void retainForReplay(absl::string_view framed);

  // Retries and fallback (stream_retry.cc).
  const filters::ProxyPolicy* policy() const {
    return extras_ == nullptr ? nullptr : extras_->policy;
  }
  bool retriesEnabled() const { return policy() != nullptr && policy()->retry != nullptr; }
  // Schedules another attempt for an attempt that ended with `result` (the current upstream is
  // dropped), when the policy, the method, the body and the budget allow. False: the caller
  // goes on with this result.
  bool maybeRetry(const upstream::AttemptResult& result);
  void retryNow();
  // One timer per stream for both waits: the per-try timeout while an attempt is out
  // (retry_wait_ false), the backoff or the hop to a fallback cluster between attempts.
  void armRetryTimer(std::chrono::milliseconds delay);
  void armPerTryTimeout();
  void onPerTryTimeout();
  void releaseRetrySlot();
  // Answers an error with the route's fallback when it covers it: true when it did.
  bool tryFallback(filters::ErrorInfo& error);

  // Upgrade (stream_upgrade.cc). admitUpgrade: false when the request was refused.
  bool admitUpgrade();
  void onSwitchingProtocols(http::ResponseHead&& head);
  void startTunnel();

  // Response side (stream_response.cc).
  void beginResponseStage();
  void startLocalResponse();
  void startErrorStage();
  void sendErrorNow();
  void afterResponseHeaders();
  void runResponsePiece(bool end_of_stream);
  void afterResponsePiece();
  void sendWholeResponse();
  void sendResponseHead();
  void writeBody(absl::string_view data);
  void completeUpstreamResponse();
  // What feeds the response body (the upstream, or a filter's respondStreaming source): paused
  // over the high watermark, resumed under the low one.
  bool hasBodySource() const {
    return upstream_ != nullptr || (extras_ != nullptr && extras_->body_source != nullptr);
  }
  void pauseBodySource();
  void resumeBodySource();
  void responseDone();
  void setErrorResponse();
  void finish();
  // Ends everything the request holds: onDestroy on the filters, sub-requests, timers; handles
  // go dead. Idempotent.
  void teardown();

  StreamConnection& conn_;
  RuntimeConfigConstSharedPtr config_;  // pinned for the request's lifetime
  const ListenerConfig& listener_;
  http::RequestHead request_;
  http::ResponseHead response_;
  const router::RouteEntry* route_ = nullptr;
  const filters::FilterChain* chain_ = nullptr;
  std::optional<filters::ChainRunner> runner_;
  filters::FilterState state_;
  std::shared_ptr<filters::detail::HandleAnchor> anchor_;  // made by the first handle()
  // The request to the cluster, kept in place for the stream's life (no allocation per request;
  // the picked host stays readable for the access log). upstream_ points at it while it holds a
  // connection or may get one.
  std::optional<UpstreamRequest> upstream_storage_;
  UpstreamRequest* upstream_ = nullptr;
  std::unique_ptr<Extras> extras_;
  // The request id: a generated one in request_id_buf_ (no allocation), a client's kept one in
  // Extras::client_request_id.
  absl::string_view request_id_;
  char request_id_buf_[36];
  std::string cluster_name_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::system_clock::time_point start_wall_;
  std::string response_body_;  // a local/error response's body, or the buffered response body
  uint64_t request_cl_ = 0;
  uint64_t body_received_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t max_body_ = 0;
  uint32_t attempts_ = 0;  // upstream attempts (2 after a retry)
  Mode request_mode_ = Mode::Untouched;
  Mode response_mode_ = Mode::Untouched;
  Interrupt interrupt_ = Interrupt::None;
  // Flags as bit-fields: they keep the Stream within malloc's per-thread cache (stream.cc).
  bool request_chunked_ : 1 = false;
  bool request_has_cl_ : 1 = false;
  bool expect_continue_ : 1 = false;
  bool continue_sent_ : 1 = false;
  bool request_complete_ : 1 = false;
  bool buffering_request_ : 1 = false;   // Buffer: reading the request body before routing
  bool request_piece_busy_ : 1 = false;  // Stream: a request piece is in its hooks
  bool request_end_sent_ : 1 = false;    // Stream: the last piece went through the hooks
  bool close_after_ : 1 = false;
  bool has_error_ : 1 = false;
  bool error_stage_ : 1 = false;
  bool response_stage_ : 1 = false;
  bool response_headers_done_ : 1 = false;
  bool response_piece_busy_ : 1 = false;  // Stream: a response piece is in its hooks
  bool response_end_seen_ : 1 = false;    // Stream: the last piece went through the hooks
  bool upstream_done_ : 1 = false;        // the upstream response is complete
  bool upstream_ready_ : 1 = false;
  bool upstream_paused_ : 1 = false;
  bool request_body_blocked_ : 1 = false;
  bool response_started_ : 1 = false;
  bool response_chunked_ : 1 = false;
  bool response_no_body_ : 1 = false;
  bool response_complete_ : 1 = false;
  bool downstream_closed_ : 1 = false;
  bool discarding_ : 1 = false;
  bool finished_ : 1 = false;
  bool torn_down_ : 1 = false;
  bool is_local_ : 1 = false;
  bool retaining_ : 1 = false;    // copying the body into Extras::replay
  bool replay_lost_ : 1 = false;  // the body outgrew the replay buffer: no retry
  bool retry_wait_ : 1 = false;   // between attempts (backoff)
  bool in_fallback_ : 1 = false;  // proxying to the fallback cluster: no retry, no fallback
  bool h2_ : 1 = false;           // an HTTP/2 stream: no HTTP/1 framing decisions
  bool local_stream_ : 1 = false; // respondStreaming(): the body comes from a filter in pieces
  bool upgrade_ : 1 = false;         // an upgrade request the route allows (stream_upgrade.cc)
  bool tunnel_pending_ : 1 = false;  // the upstream answered 101: the response hooks run first
};

} // namespace gw::server
