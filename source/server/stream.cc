// The stream's lifecycle: start (request preparation), the RequestContext the filters see, the
// phase dispatch (what follows each filter phase), interrupts from respond/fail/proxyTo, and the
// end of the request (stats, access log, teardown). The request side is in stream_request.cc,
// the response side in stream_response.cc.
#include "source/server/stream.h"

#include "absl/strings/str_cat.h"
#include "source/server/access_log.h"
#include "source/server/client_cert_headers.h"
#include "source/server/downstream_connection.h"
#include "source/server/header_policy.h"
#include "source/server/request_preparation.h"
#include "source/server/grpc_request.h"

namespace gw::server {

// glibc's per-thread malloc cache takes requests up to 1032 bytes; a larger Stream would take
// malloc's slow path on every request (about 300 instructions, measured with callgrind). What
// only some requests need lives in Stream::Extras.
static_assert(sizeof(Stream) <= 1032, "Stream outgrew malloc's per-thread cache");

using filters::ErrorInfo;
using filters::ErrorKind;

Stream::Stream(StreamConnection& conn, RuntimeConfigConstSharedPtr config,
               const ListenerConfig& listener, http::RequestHead&& head, const StreamFraming& f)
    : conn_(conn), config_(std::move(config)), listener_(listener), request_(std::move(head)),
      start_(std::chrono::steady_clock::now()), start_wall_(std::chrono::system_clock::now()) {
  request_chunked_ = f.chunked;
  request_has_cl_ = f.has_content_length;
  request_cl_ = f.content_length;
  expect_continue_ = f.expect_continue;
  h2_ = f.http2;
  close_after_ = !f.keep_alive || conn.draining();
  conn_.worker().stats().downstream_rq_active++;
}

Stream::~Stream() {
  teardown();
  conn_.worker().stats().downstream_rq_active--;
  dropUpstream();
}

const std::string& Stream::clientAddress() const { return conn_.clientIp(); }

const std::string& Stream::upstreamHost() const {
  static const std::string kNone;
  return upstream_storage_.has_value() ? upstream_storage_->hostAddress() : kNone;
}

int64_t Stream::elapsedMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start_)
      .count();
}

filters::WorkerContext& Stream::worker() { return conn_.worker(); }

filters::RequestHandle Stream::handle() {
  if (anchor_ == nullptr) {
    anchor_ = std::make_shared<filters::detail::HandleAnchor>();
    anchor_->ctx = torn_down_ ? nullptr : this;
  }
  return filters::RequestHandle(anchor_);
}

void Stream::runAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  if (torn_down_) {
    return;
  }
  auto t = conn_.worker().createTimer([h = handle(), fn = std::move(fn)] {
    if (h.alive()) {
      fn();
    }
  });
  t->enable(delay);
  extras().timers.push_back(std::move(t));
}

void Stream::start() {
  Worker& w = conn_.worker();
  // Request id: keep a well-formed client id, else generate one.
  if (const std::string* id = request_.headers.get("x-request-id");
      id != nullptr && validRequestId(*id) && request_.headers.count("x-request-id") == 1) {
    extras().client_request_id = *id;
    request_id_ = extras_->client_request_id;
  } else {
    w.newRequestId(request_id_buf_);
    request_id_ = absl::string_view(request_id_buf_, sizeof(request_id_buf_));
    if (request_.headers.has("x-request-id")) {
      request_.headers.set("x-request-id", request_id_);
    } else {
      request_.headers.add("x-request-id", request_id_);
    }
  }
  applyClientCertHeaders(listener_, conn_.peerCert(), request_.headers);
  PreparedRequest p = prepareRequest(listener_, request_, {request_has_cl_, request_cl_}, nullptr,
                                     &conn_.hostMemo());
  route_ = p.route;
  if (route_ != nullptr) {
    chain_ = &filterChainOf(*route_);
    runner_.emplace(*chain_, *this);
    request_mode_ = chain_->request_body.mode;
    response_mode_ = chain_->response_body.mode;
  }
  if (!p.ok) {
    close_after_ = close_after_ || p.close_connection;
    fail(std::move(*p.error));
    return;
  }
  if (!admitUpgrade()) {
    return;
  }
  max_body_ = p.max_body;
  const auto timeout = requestDeadline(route_->timeout(), request_.headers);  // grpc-timeout
  if (timeout.count() > 0) {
    conn_.armRequestTimer(static_cast<uint64_t>(timeout.count()));
  }
  runner_->run(Phase::RequestHeaders);
}

void Stream::resume() {
  if (finished_ || downstream_closed_ || !runner_) {
    return;
  }
  runner_->resume();
}

void Stream::act(bool in_hook, Interrupt what) {
  interrupt_ = what;
  if (in_hook) {
    return;  // takeInterrupt() does it once the hook returns
  }
  if (runner_) {
    takeInterrupt();
    return;
  }
  interrupt_ = Interrupt::None;  // refused before routing: no filters
  if (what == Interrupt::Respond) {
    startLocalResponse();
  } else if (what == Interrupt::Fail) {
    startErrorStage();
  } else {
    sendErrorNow();
  }
}

bool Stream::takeInterrupt() {
  const Interrupt i = interrupt_;
  if (i == Interrupt::None) {
    return false;
  }
  interrupt_ = Interrupt::None;
  runner_->abandon();
  switch (i) {
  case Interrupt::Respond:
    startLocalResponse();
    break;
  case Interrupt::Fail:
    startErrorStage();
    break;
  case Interrupt::SendError:
    sendErrorNow();
    break;
  case Interrupt::None:
    break;
  }
  return true;
}

void Stream::onPhaseDone(Phase phase) {
  if (finished_ || downstream_closed_) {
    return;
  }
  switch (phase) {
  case Phase::RequestHeaders:
    afterRequestHeaders();
    return;
  case Phase::RequestBody:
    afterRequestPiece();
    return;
  case Phase::RequestTrailers:
    if (request_mode_ == Mode::Buffer) {
      routeStep();
    } else {
      writeRequestEnd();
    }
    return;
  case Phase::Route:
    if (upstream_storage_.has_value() || response_stage_ || error_stage_) {
      return;  // the route filter proxied (or answered) from inside its hook
    }
    // The route filter continued without answering: nothing will.
    fail(ErrorInfo::make(ErrorKind::Internal,
                         absl::StrCat("route filter '", chain_->route_name,
                                      "' did not answer the request")));
    return;
  case Phase::ResponseHeaders:
    afterResponseHeaders();
    return;
  case Phase::ResponseBody:
    afterResponsePiece();
    return;
  case Phase::ResponseTrailers:
    if (response_mode_ == Mode::Stream && !is_local_) {
      completeUpstreamResponse();
    } else {
      sendWholeResponse();
    }
    return;
  case Phase::Error:
    sendErrorNow();
    return;
  case Phase::None:
    return;
  }
}

void Stream::respond(http::ResponseHead head, std::string body) {
  if (response_started_ || finished_ || downstream_closed_) {
    return;
  }
  const bool in_hook = runner_ && runner_->inHook();
  if (runner_) {
    runner_->noteAnswer();
  }
  response_ = std::move(head);
  response_.reason.clear();
  response_body_ = std::move(body);
  response_no_body_ = request_.method == "HEAD" || response_.status == 204 ||
                      response_.status == 304;
  response_chunked_ = false;
  is_local_ = true;
  if (error_stage_) {
    act(in_hook, Interrupt::SendError);  // an error filter answered instead: sent as it is
    return;
  }
  if (response_stage_) {
    // A response filter replaced the response: the stage goes on with the filters after it.
    dropUpstream();
    upstream_done_ = true;
    if (extras_ != nullptr) {
      extras_->pending.clear();
    }
    if (!in_hook && runner_->paused()) {
      runner_->resume();
    }
    return;
  }
  dropUpstream();
  act(in_hook, Interrupt::Respond);
}

void Stream::fail(ErrorInfo error) {
  if (finished_ || downstream_closed_) {
    return;
  }
  if (response_started_) {
    conn_.close(true);  // mid-response: the client cannot be told cleanly
    return;
  }
  const bool in_hook = runner_ && runner_->inHook();
  if (runner_) {
    runner_->noteAnswer();
  }
  extras().error = std::move(error);
  has_error_ = true;
  setErrorResponse();
  dropUpstream();
  upstream_ready_ = false;  // a body still unread is not forwarded any more
  buffering_request_ = false;
  // A second error (an error filter failed) is sent as it is.
  act(in_hook, error_stage_ ? Interrupt::SendError : Interrupt::Fail);
}

void Stream::dropUpstream() {
  if (upstream_ == nullptr) {
    return;
  }
  // Safe inside one of its callbacks: the object stays; only the connection goes.
  upstream_->release(false);
  upstream_ = nullptr;
}

uint64_t Stream::send(absl::string_view cluster, filters::HttpRequest request,
                      filters::HttpCallback cb) {
  const uint64_t id = conn_.worker().httpClient().send(cluster, std::move(request), std::move(cb));
  if (torn_down_) {
    conn_.worker().httpClient().cancel(id);
    return id;
  }
  extras().sub_requests.push_back(id);
  return id;
}

void Stream::cancel(uint64_t id) { conn_.worker().httpClient().cancel(id); }

void Stream::teardown() {
  if (torn_down_) {
    return;
  }
  torn_down_ = true;
  if (runner_) {
    runner_->destroy();
  }
  if (extras_ != nullptr) {
    for (uint64_t id : extras_->sub_requests) {
      conn_.worker().httpClient().cancel(id);
    }
    extras_->sub_requests.clear();
    extras_->timers.clear();
    extras_->retry_timer.reset();
    extras_->body_source = nullptr;
    releaseRetrySlot();
  }
  if (anchor_ != nullptr) {
    anchor_->ctx = nullptr;
  }
}

void Stream::onDownstreamClosed() {
  downstream_closed_ = true;
  dropUpstream();
  teardown();
}

void Stream::onRouteTimeout() {
  if (response_started_ || finished_) {
    return;
  }
  if (!request_complete_) {
    close_after_ = true;
  }
  if (buffering_request_) {
    fail(ErrorInfo::make(ErrorKind::RequestTimeout,
                         absl::StrCat("request body not received within the route timeout of ",
                                      route_->timeout().count(), " ms")));
    return;
  }
  conn_.worker().stats().upstream_rq_timeout++;
  fail(ErrorInfo::make(ErrorKind::UpstreamTimeout,
                       absl::StrCat("no response within the request deadline of ",
                                    requestDeadline(route_->timeout(), request_.headers).count(),
                                    " ms")));
}

void Stream::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  conn_.disarmRequestTimer();
  dropUpstream();
  teardown();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  Worker& w = conn_.worker();
  const std::string& route_name = route_ != nullptr ? route_->name() : std::string();
  w.stats().recordRequest(route_name.empty() ? "-" : route_name,
                          cluster_name_.empty() ? "-" : cluster_name_, response_.status, ms);
  if (w.options().access_log) {
    AccessLogRecord r;
    r.start = start_wall_;
    r.request_id = request_id_;
    r.client = conn_.clientIp();
    r.method = request_.method;
    r.path = request_.path.empty() ? request_.target : request_.path;
    r.status = response_.status;
    r.route = route_name;
    r.cluster = cluster_name_;
    r.upstream_host = upstreamHost();
    r.bytes_received = body_received_;
    r.bytes_sent = bytes_sent_;
    r.duration_ms = ms;
    r.upstream_attempts = attempts_;
    std::string hosts;
    if (extras_ != nullptr && !extras_->hosts_tried.empty()) {
      hosts = extras_->hosts_tried;  // the hosts of the attempts before the last, then the last
      if (upstream_storage_.has_value() && !upstream_storage_->hostAddress().empty()) {
        absl::StrAppend(&hosts, ",", upstream_storage_->hostAddress());
      }
      r.upstream_hosts = hosts;
    }
    r.error = has_error_ ? &extras_->error : nullptr;
    r.filter_state = &state_;
    appendAccessLogLine(r, w.accessLogBuffer());  // the worker flushes it
    w.accessLogged();
  }
  conn_.onStreamComplete(close_after_ || (!request_complete_ && !discarding_));
}

} // namespace gw::server
