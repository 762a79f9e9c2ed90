#include "source/server/connection_manager.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <cstdio>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/json.h"
#include "source/router/route_table.h"
#include "source/server/error_response.h"

namespace gw::server {

namespace {

void allocBuffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  thread_local char storage[64 * 1024];
  buf->base = storage;
  buf->len = sizeof(storage);
}

// Hop-by-hop fields (RFC 9110 7.6.1), names lower-case. Dispatches on length first: this runs for
// every header of every request and response.
bool isHopByHop(absl::string_view n) {
  switch (n.size()) {
  case 2:
    return n == "te";
  case 7:
    return n == "trailer" || n == "upgrade";
  case 10:
    return n == "connection" || n == "keep-alive";
  case 17:
    return n == "transfer-encoding";
  default:
    return n.size() > 6 && n.substr(0, 6) == "proxy-";
  }
}

// The field names listed by Connection headers (as written; compared case-insensitively).
// Usually empty: most requests and responses carry no Connection header or only keep-alive/close.
using NamedFields = absl::InlinedVector<absl::string_view, 4>;
NamedFields connectionNamed(const HeaderMap& headers) {
  NamedFields named;
  for (const auto& [name, value] : headers.entries()) {
    if (name.size() == 10 && name == "connection") {
      for (absl::string_view tok : absl::StrSplit(value, ',')) {
        tok = absl::StripAsciiWhitespace(tok);
        if (!tok.empty()) {
          named.push_back(tok);
        }
      }
    }
  }
  return named;
}

bool isNamed(const NamedFields& named, absl::string_view name) {
  for (absl::string_view n : named) {
    if (absl::EqualsIgnoreCase(n, name)) {
      return true;
    }
  }
  return false;
}

// Removes hop-by-hop fields: the fixed list and every field named by Connection. One pass finds
// them and reads the Connection tokens; "keep-alive" (the usual one) names a field of the fixed
// list, so most heads need no matching against names.
void stripHopByHop(HeaderMap& headers) {
  auto& e = headers.entries();
  bool any = false;
  // Copied out: erasing moves the strings the Connection value lives in.
  absl::InlinedVector<std::string, 2> named;
  for (const auto& h : e) {
    if (!isHopByHop(h.first)) {
      continue;
    }
    any = true;
    if (h.first.size() == 10 && h.first == "connection") {
      for (absl::string_view tok : absl::StrSplit(h.second, ',')) {
        tok = absl::StripAsciiWhitespace(tok);
        if (!tok.empty() && !absl::EqualsIgnoreCase(tok, "keep-alive")) {
          named.emplace_back(tok);
        }
      }
    }
  }
  if (!any) {
    return;  // no Connection header either, so nothing is named
  }
  e.erase(std::remove_if(e.begin(), e.end(),
                         [&](const HeaderMap::Entry& h) {
                           if (isHopByHop(h.first)) {
                             return true;
                           }
                           for (const auto& n : named) {
                             if (absl::EqualsIgnoreCase(h.first, n)) {
                               return true;
                             }
                           }
                           return false;
                         }),
          e.end());
}

// One buffer per worker thread for serializing heads: written out (or copied into the write
// queue) before the next head is built.
std::string& scratchBuffer() {
  thread_local std::string buf;
  buf.clear();
  return buf;
}

bool connectionHasToken(const HeaderMap& headers, absl::string_view token) {
  for (const auto& [name, value] : headers.entries()) {
    if (name != "connection") {
      continue;
    }
    for (absl::string_view tok : absl::StrSplit(value, ',')) {
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(tok), token)) {
        return true;
      }
    }
  }
  return false;
}

bool validRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (unsigned char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) {
      return false;
    }
  }
  return true;
}


} // namespace

// One request/response exchange: runs the filter stages, drives the upstream request, and
// streams both bodies with watermark backpressure.
class Stream : public filters::RequestContext,
               public UpstreamCallbacks,
               public DeferredDeletable {
public:
  Stream(DownstreamConnection& conn, RuntimeConfigConstSharedPtr config,
         const ListenerConfig& listener, http::RequestHead&& head, const http::Http1Parser& p)
      : conn_(conn), config_(std::move(config)), listener_(listener), request_(std::move(head)),
        start_(std::chrono::steady_clock::now()), start_wall_(std::chrono::system_clock::now()) {
    request_chunked_ = p.chunked();
    request_has_cl_ = p.hasContentLength();
    request_cl_ = p.contentLength();
    expect_continue_ = p.expectContinue();
    request_complete_ = false;
    close_after_ = !p.keepAlive() || conn.draining();
    conn_.worker().stats().downstream_rq_active++;
  }

  ~Stream() override {
    conn_.worker().stats().downstream_rq_active--;
    releaseUpstream(false);
  }

  void start();
  bool wantsBody() const {
    return !request_complete_ && (discarding_ || (upstream_ready_ && !request_body_blocked_));
  }
  bool bodyBlocked() const { return request_body_blocked_; }
  void onRequestBody(absl::string_view data);
  void onRequestTrailers(HeaderMap&& trailers) { request_trailers_ = std::move(trailers); }
  void onRequestComplete();
  void onDownstreamWritable() {
    if (upstream_ != nullptr && upstream_paused_) {
      upstream_paused_ = false;
      upstream_->resumeReading();
    }
  }
  void onDownstreamClosed() {
    downstream_closed_ = true;
    releaseUpstream(false);
  }
  void onRouteTimeout();
  bool responseStarted() const { return response_started_; }
  bool requestComplete() const { return request_complete_; }

  // filters::RequestContext
  http::RequestHead& request() override { return request_; }
  http::ResponseHead& response() override { return response_; }
  const router::RouteEntry* route() const override { return route_; }
  const std::string& requestId() const override { return request_id_; }
  const std::string& clientAddress() const override { return conn_.clientIp(); }
  const std::string& upstreamHost() const override { return upstream_host_; }
  std::chrono::system_clock::time_point startTime() const override { return start_wall_; }
  int64_t elapsedMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - start_)
        .count();
  }
  void respond(int status, absl::string_view body, absl::string_view content_type) override;
  void fail(filters::ErrorInfo error) override;
  void resume() override;
  const filters::ErrorInfo* error() const override { return has_error_ ? &error_ : nullptr; }
  void runAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    if (!alive_) {
      alive_ = std::make_shared<bool>(true);
    }
    conn_.worker().runAfter(delay, [alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
      if (alive.lock()) {
        fn();
      }
    });
  }

  // UpstreamCallbacks
  void onUpstreamReady() override;
  void onUpstreamHead(http::ResponseHead&& head, bool informational) override;
  void onUpstreamBody(absl::string_view data) override;
  void onUpstreamTrailers(HeaderMap&& trailers) override { response_trailers_ = std::move(trailers); }
  void onUpstreamComplete() override;
  void onUpstreamFailure(const std::string& reason, bool connect_failure,
                         bool before_response) override;
  void onUpstreamReadBegin() override { conn_.cork(); }
  void onUpstreamReadEnd() override { conn_.uncork(); }
  void onUpstreamWritable() override {
    if (request_body_blocked_) {
      request_body_blocked_ = false;
      conn_.onRequestBodyWritable();
    }
  }

private:
  enum class Stage { Pre, Post, Error };
  void runStage(Stage stage, size_t from);
  void loadStage(const std::vector<filters::FilterConfigConstSharedPtr>& configs);
  void afterStage(Stage stage);
  void routeRequest();
  void pickAndConnect();
  void sendResponseHead();
  void sendLocalBody();
  void finish();
  void releaseUpstream(bool reusable);
  void writeBody(absl::string_view data);
  void buildUpstreamHead(std::string& out);

  DownstreamConnection& conn_;
  std::shared_ptr<bool> alive_;  // made by runAfter(); expires with the stream
  RuntimeConfigConstSharedPtr config_;  // pinned for the request's lifetime
  const ListenerConfig& listener_;
  http::RequestHead request_;
  http::ResponseHead response_;
  const router::RouteEntry* route_ = nullptr;
  const FilterChain* chain_ = nullptr;
  // The current stage's filters: shared stateless instances, or per-request ones kept in owned_.
  absl::InlinedVector<filters::Filter*, 4> stage_filters_;
  absl::InlinedVector<filters::FilterPtr, 1> owned_filters_;
  std::string request_id_;
  std::string upstream_host_;
  std::string cluster_name_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::system_clock::time_point start_wall_;
  ClusterStateSharedPtr cluster_;
  HostPool* host_pool_ = nullptr;
  UpstreamConnection* upstream_ = nullptr;
  HeaderMap request_trailers_;
  HeaderMap response_trailers_;
  filters::ErrorInfo error_;
  std::string local_body_;
  Stage current_stage_ = Stage::Pre;
  size_t paused_at_ = 0;
  uint64_t request_cl_ = 0;
  uint64_t body_received_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t max_body_ = 0;
  bool request_chunked_ = false;
  bool request_has_cl_ = false;
  bool expect_continue_ = false;
  bool request_complete_ = false;
  bool close_after_ = false;
  bool in_stage_ = false;
  bool local_pending_ = false;
  bool has_error_ = false;
  bool paused_ = false;
  bool upstream_ready_ = false;
  bool upstream_paused_ = false;
  bool request_body_blocked_ = false;
  bool response_started_ = false;
  bool response_chunked_ = false;
  bool response_no_body_ = false;
  bool response_complete_ = false;
  bool downstream_closed_ = false;
  bool discarding_ = false;
  bool finished_ = false;
  bool retried_ = false;
  bool is_local_ = false;
};

// ---------------------------------------------------------------------------------------------
// Stream

void Stream::start() {
  Worker& w = conn_.worker();
  // Request id: keep a well-formed client id, else generate one.
  if (const std::string* id = request_.headers.get("x-request-id");
      id != nullptr && validRequestId(*id) && request_.headers.count("x-request-id") == 1) {
    request_id_ = *id;
  } else {
    request_id_ = w.newRequestId();
    request_.headers.set("x-request-id", request_id_);
  }
  // Host: exactly one for HTTP/1.1 (RFC 9112 3.2).
  const size_t hosts = request_.headers.count("host");
  if (hosts > 1 || (hosts == 0 && request_.version_minor == 1)) {
    close_after_ = true;
    fail({400, "bad_request", hosts > 1 ? "more than one Host header" : "missing Host header",
          filters::ErrorSource::Downstream, false});
    return;
  }
  if (hosts == 1) {
    std::string host = *request_.headers.get("host");
    if (!host.empty() && host.front() == '[') {
      const size_t close = host.find(']');
      host = close == std::string::npos ? host : host.substr(0, close + 1);
    } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
      host.resize(colon);
    }
    absl::AsciiStrToLower(&host);
    request_.host = std::move(host);
  }
  if (request_.method == "CONNECT") {
    close_after_ = true;
    fail({405, "method_not_allowed", "CONNECT is not supported", filters::ErrorSource::Downstream,
          false});
    return;
  }
  auto normalized = http::normalizeTarget(request_.target, listener_.path_options);
  if (!normalized.ok()) {
    close_after_ = true;
    fail({400, "invalid_path", std::string(normalized.status().message()),
          filters::ErrorSource::Downstream, false});
    return;
  }
  request_.path = std::move(normalized->path);
  request_.query = std::move(normalized->query);

  router::MatchResult m = listener_.routes->match(request_);
  if (m.route == nullptr) {
    fail({404, "no_route", absl::StrCat("no route matches ", request_.method, " ", request_.host,
                                        request_.path),
          filters::ErrorSource::Downstream, false});
    return;
  }
  route_ = m.route;
  chain_ = &filterChainOf(*route_);
  max_body_ = route_->maxRequestBodyBytes() > 0 ? route_->maxRequestBodyBytes()
                                                           : listener_.max_request_body_bytes;
  if (max_body_ > 0 && request_has_cl_ && request_cl_ > max_body_) {
    close_after_ = true;
    fail({413, "payload_too_large",
          absl::StrCat("request body of ", request_cl_, " bytes exceeds the limit of ", max_body_),
          filters::ErrorSource::Downstream, false});
    return;
  }
  const auto timeout = route_->timeout();
  if (timeout.count() > 0) {
    conn_.timer_mode_ = DownstreamConnection::TimerMode::None;
    conn_.timer_.arm(static_cast<uint64_t>(timeout.count()), [](void* owner) {
      auto* c = static_cast<DownstreamConnection*>(owner);
      if (c->stream_) {
        c->stream_->onRouteTimeout();
      }
    });
  }
  loadStage(chain_->pre);
  runStage(Stage::Pre, 0);
}

void Stream::runStage(Stage stage, size_t from) {
  current_stage_ = stage;
  in_stage_ = true;
  for (size_t i = from; i < stage_filters_.size(); i++) {
    filters::Filter* f = stage_filters_[i];
    if (f == nullptr) {
      continue;
    }
    filters::FilterStatus s = stage == Stage::Pre    ? f->onRequest(*this)
                              : stage == Stage::Post ? f->onResponse(*this)
                                                     : f->onError(*this);
    if (local_pending_ || (has_error_ && stage != Stage::Error)) {
      break;
    }
    if (s == filters::FilterStatus::Pause) {
      paused_ = true;
      paused_at_ = i + 1;
      in_stage_ = false;
      return;
    }
    if (s == filters::FilterStatus::StopAndRespond) {
      break;
    }
  }
  in_stage_ = false;
  afterStage(stage);
}

void Stream::loadStage(const std::vector<filters::FilterConfigConstSharedPtr>& configs) {
  stage_filters_.clear();
  owned_filters_.clear();
  for (const auto& c : configs) {
    filters::Filter* f = c->shared();
    if (f == nullptr) {
      owned_filters_.push_back(c->create());
      f = owned_filters_.back().get();
    }
    stage_filters_.push_back(f);
  }
}

void Stream::resume() {
  if (!paused_ || finished_ || downstream_closed_) {
    return;
  }
  paused_ = false;
  runStage(current_stage_, paused_at_);
}

void Stream::afterStage(Stage stage) {
  if (has_error_ && stage != Stage::Error) {
    // fail() was called inside the stage: run the error stage now.
    if (chain_ != nullptr) {
      loadStage(chain_->error);
    } else {
      stage_filters_.clear();
      owned_filters_.clear();
    }
    runStage(Stage::Error, 0);
    return;
  }
  switch (stage) {
  case Stage::Pre:
    if (local_pending_) {
      local_pending_ = false;
      is_local_ = true;
      loadStage(chain_->post);
      runStage(Stage::Post, 0);
      return;
    }
    routeRequest();
    return;
  case Stage::Post:
  case Stage::Error:
    local_pending_ = false;
    sendResponseHead();
    if (is_local_) {
      sendLocalBody();
    }
    return;
  }
}

void Stream::routeRequest() {
  const filters::RouteAction* action = chain_->route->routeAction();
  if (action->kind == filters::RouteAction::Kind::DirectResponse) {
    respond(action->status, action->body, action->content_type);
    return;
  }
  cluster_name_ = action->cluster;
  Worker& w = conn_.worker();
  cluster_ = w.cluster(cluster_name_);
  if (w.config() != config_) {
    // The worker switched configs after this request started (a pre filter paused). If the
    // cluster changed or went away, the request still goes where its own config says, through a
    // one-off state whose connections close after use.
    const ClusterConfig* pinned = config_->cluster(cluster_name_);
    if (pinned != nullptr &&
        (cluster_ == nullptr || !cluster_->config().sameUpstreamsAs(*pinned))) {
      cluster_ = std::make_shared<ClusterState>(w, *pinned, config_);
      cluster_->retire();
    }
  }
  if (cluster_ == nullptr) {
    fail({503, "no_cluster", absl::StrCat("cluster '", cluster_name_, "' is not available"),
          filters::ErrorSource::Internal, false});
    return;
  }
  pickAndConnect();
}

void Stream::pickAndConnect() {
  upstream::LbContext ctx;
  if (cluster_->config().proto.has_hash_policy()) {
    ctx.hash = upstream::computeHash(cluster_->config().proto.hash_policy(), request_,
                                     conn_.clientIp());
  }
  upstream::Host* host = cluster_->lb().pick(ctx);
  if (host == nullptr) {
    fail({503, "no_healthy_upstream",
          absl::StrCat("cluster '", cluster_name_, "' has no healthy endpoint"),
          filters::ErrorSource::Upstream, true});
    return;
  }
  host_pool_ = cluster_->poolOf(host);
  upstream_host_ = host->address;
  UpstreamConnection* c =
      UpstreamConnection::acquire(cluster_, *host_pool_, *this, request_.method == "HEAD");
  if (c == nullptr) {
    fail({503, "upstream_overflow",
          absl::StrCat("connection limit reached for ", host->address),
          filters::ErrorSource::Upstream, true});
    return;
  }
  host->active_requests++;
  host->total_requests++;
  upstream_ = c;
  if (c->reused()) {
    onUpstreamReady();
  }
}

// Serializes the request head for the upstream straight from the downstream head, skipping what
// must not be forwarded (hop-by-hop fields, framing that is re-decided, X-Forwarded-* that are
// re-set), without copying the header list.
void Stream::buildUpstreamHead(std::string& out) {
  out.append(request_.method);
  out.push_back(' ');
  if (route_->rewrites()) {
    out.append(route_->rewritePath(request_.path));
  } else {
    out.append(request_.path);
  }
  if (!request_.query.empty()) {
    out.push_back('?');
    out.append(request_.query);
  }
  out.append(" HTTP/1.1\r\n");
  const NamedFields named = connectionNamed(request_.headers);
  // X-Forwarded-For: at the edge (no trusted hops) a client-sent XFF is replaced; behind trusted
  // proxies every XFF line (RFC 9110 5.3: several lines form one list) is kept, in order, and the
  // client address appended.
  const bool keep_xff = listener_.xff_trusted_hops > 0;
  std::string xff;
  const std::string* host = nullptr;
  for (const auto& [name, value] : request_.headers.entries()) {
    if (isHopByHop(name)) {
      continue;
    }
    switch (name.size()) {
    case 4:
      if (name == "host") {
        host = &value;
      }
      break;
    case 6:
      if (name == "expect") {
        continue;
      }
      break;
    case 14:
      if (name == "content-length") {
        continue;
      }
      break;
    case 15:
      if (name == "x-forwarded-for") {
        if (keep_xff && !value.empty()) {
          absl::StrAppend(&xff, xff.empty() ? "" : ", ", value);
        }
        continue;
      }
      break;
    case 16:
      if (name == "x-forwarded-host") {
        continue;
      }
      break;
    case 17:
      if (name == "x-forwarded-proto") {
        continue;
      }
      break;
    default:
      break;
    }
    if (!named.empty() && isNamed(named, name)) {
      continue;
    }
    http::appendHeaderLine(name, value, out);
  }
  if (xff.empty()) {
    http::appendHeaderLine("x-forwarded-for", conn_.clientIp(), out);
  } else {
    absl::StrAppend(&xff, ", ", conn_.clientIp());
    http::appendHeaderLine("x-forwarded-for", xff, out);
  }
  http::appendHeaderLine("x-forwarded-proto", "http", out);
  if (host != nullptr) {
    http::appendHeaderLine("x-forwarded-host", *host, out);
  }
  if (request_chunked_) {
    http::appendHeaderLine("transfer-encoding", "chunked", out);
  } else if (request_has_cl_) {
    const absl::AlphaNum cl(request_cl_);
    http::appendHeaderLine("content-length", cl.Piece(), out);
  }
  out.append("\r\n");
}

void Stream::onUpstreamReady() {
  if (upstream_ == nullptr) {
    return;
  }
  upstream_ready_ = true;
  std::string& head = scratchBuffer();
  buildUpstreamHead(head);
  upstream_->write(absl::string_view(head));
  if (expect_continue_ && !request_complete_ && request_.version_minor == 1) {
    conn_.write(absl::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  if (!request_has_cl_ && !request_chunked_) {
    request_complete_ = true;  // no body
  }
  conn_.processInput();  // feed any buffered body
}

void Stream::onRequestBody(absl::string_view data) {
  body_received_ += data.size();
  if (discarding_) {
    return;
  }
  if (max_body_ > 0 && body_received_ > max_body_) {
    close_after_ = true;
    if (!response_started_) {
      releaseUpstream(false);
      upstream_ready_ = false;  // the 413 goes out before the body was read: finish, then close
      fail({413, "payload_too_large",
            absl::StrCat("request body exceeds the limit of ", max_body_, " bytes"),
            filters::ErrorSource::Downstream, false});
    } else {
      conn_.close(true);
    }
    return;
  }
  if (upstream_ == nullptr) {
    return;
  }
  if (request_chunked_) {
    std::string chunk;
    chunk.reserve(data.size() + 16);
    http::appendChunk(data, chunk);
    upstream_->write(std::move(chunk));
  } else {
    upstream_->write(data);
  }
  if (upstream_ != nullptr && upstream_->writeQueueSize() > UpstreamConnection::kHighWatermark) {
    request_body_blocked_ = true;
  }
}

void Stream::onRequestComplete() {
  request_complete_ = true;
  if (discarding_) {
    if (response_complete_) {
      finish();
    }
    return;
  }
  if (upstream_ != nullptr && request_chunked_) {
    std::string last;
    http::appendLastChunk(listener_.forward_trailers ? &request_trailers_ : nullptr, last);
    upstream_->write(std::move(last));
  }
  if (response_complete_) {
    finish();
  }
}

void Stream::onUpstreamHead(http::ResponseHead&& head, bool informational) {
  if (informational) {
    // 100 Continue is ours to send; other 1xx (103 Early Hints) go to HTTP/1.1 clients.
    if (head.status != 100 && head.status != 101 && request_.version_minor == 1) {
      stripHopByHop(head.headers);
      std::string buf;
      http::serializeResponseHead(head, buf);
      conn_.write(std::move(buf));
    }
    return;
  }
  conn_.timer_.disarm();
  response_ = std::move(head);
  response_.reason.clear();
  const bool upstream_cl = response_.headers.has("content-length");
  const bool upstream_te = response_.headers.has("transfer-encoding");
  stripHopByHop(response_.headers);
  const int s = response_.status;
  response_no_body_ = request_.method == "HEAD" || s == 204 || s == 304;
  if (!response_no_body_ && !upstream_cl) {
    // Chunked or close-delimited upstream body: chunked to HTTP/1.1 clients, close-delimited to
    // HTTP/1.0 clients.
    if (request_.version_minor == 1) {
      response_chunked_ = true;
    } else {
      close_after_ = true;
    }
  }
  (void)upstream_te;
  loadStage(chain_->post);
  runStage(Stage::Post, 0);
}

void Stream::sendResponseHead() {
  if (finished_ || downstream_closed_) {
    return;
  }
  if (!request_complete_ && !upstream_ready_) {
    // Responding before the request body was read: the connection cannot be reused unless the
    // rest of the body is already here (skipped at finish); otherwise say now that it closes.
    discarding_ = true;
    if (request_chunked_ || conn_.bufferedBytes() < request_cl_ - body_received_) {
      close_after_ = true;
    }
  }
  if (conn_.draining() ||
      (listener_.max_requests_per_connection > 0 &&
       conn_.requestsServed() + 1 >= listener_.max_requests_per_connection)) {
    close_after_ = true;
  }
  if (response_chunked_) {
    response_.headers.set("transfer-encoding", "chunked");
  }
  if (!response_.headers.has("x-request-id")) {
    response_.headers.add("x-request-id", request_id_);
  }
  if (close_after_) {
    response_.headers.set("connection", "close");
  } else if (request_.version_minor == 0) {
    response_.headers.set("connection", "keep-alive");
  }
  std::string& buf = scratchBuffer();
  http::serializeResponseHead(response_, buf);
  response_started_ = true;
  conn_.write(absl::string_view(buf));
}

void Stream::sendLocalBody() {
  if (!response_no_body_ && !local_body_.empty()) {
    bytes_sent_ += local_body_.size();
    conn_.write(std::move(local_body_));
  }
  response_complete_ = true;
  if (request_complete_ || discarding_) {
    finish();
  }
}

void Stream::writeBody(absl::string_view data) {
  if (response_no_body_ || data.empty()) {
    return;
  }
  bytes_sent_ += data.size();
  if (response_chunked_) {
    std::string chunk;
    chunk.reserve(data.size() + 16);
    http::appendChunk(data, chunk);
    conn_.write(std::move(chunk));
  } else {
    conn_.write(data);
  }
  if (upstream_ != nullptr && !upstream_paused_ &&
      conn_.writeQueueSize() > DownstreamConnection::kHighWatermark) {
    upstream_paused_ = true;
    upstream_->pauseReading();
  }
}

void Stream::onUpstreamBody(absl::string_view data) {
  if (finished_ || downstream_closed_) {
    return;
  }
  if (!response_started_) {
    // Post filters paused: buffer (rare; post filters that pause hold the body).
    local_body_.append(data.data(), data.size());
    return;
  }
  writeBody(data);
}

void Stream::onUpstreamComplete() {
  if (response_chunked_ && !response_no_body_) {
    std::string last;
    http::appendLastChunk(listener_.forward_trailers ? &response_trailers_ : nullptr, last);
    conn_.write(std::move(last));
  }
  response_complete_ = true;
  releaseUpstream(request_complete_);
  if (request_complete_) {
    finish();
  } else {
    // The upstream answered before reading the whole request body: stop forwarding it.
    discarding_ = true;
    finish();
  }
}

void Stream::onUpstreamFailure(const std::string& reason, bool connect_failure,
                               bool before_response) {
  const bool reused = upstream_ != nullptr && upstream_->reused();
  upstream_ = nullptr;  // the connection has closed itself
  upstream_ready_ = false;
  if (host_pool_ != nullptr && host_pool_->host.active_requests > 0) {
    host_pool_->host.active_requests--;
  }
  if (!before_response || response_started_) {
    // Mid-response: the client cannot be told cleanly; close its connection.
    conn_.close(true);
    return;
  }
  // A reused keep-alive connection may have been closed by the upstream just as we sent: retry
  // once on a fresh connection when no request body has been forwarded.
  if (reused && !retried_ && body_received_ == 0 && !request_has_cl_ && !request_chunked_) {
    retried_ = true;
    conn_.worker().stats().upstream_rq_retry++;
    request_complete_ = false;
    pickAndConnect();
    return;
  }
  if (!request_complete_) {
    close_after_ = true;
  }
  fail({502, connect_failure ? "upstream_connect_failed" : "upstream_reset",
        reason, filters::ErrorSource::Upstream, true});
}

void Stream::onRouteTimeout() {
  if (response_started_ || finished_) {
    return;
  }
  conn_.worker().stats().upstream_rq_timeout++;
  releaseUpstream(false);
  upstream_ready_ = false;  // a body still unread is not forwarded any more (see sendResponseHead)
  if (!request_complete_) {
    close_after_ = true;
  }
  fail({504, "upstream_timeout",
        absl::StrCat("no response within the route timeout of ", route_->timeout().count(), " ms"),
        filters::ErrorSource::Upstream, true});
}

void Stream::respond(int status, absl::string_view body, absl::string_view content_type) {
  if (response_started_ || finished_) {
    return;
  }
  response_ = http::ResponseHead();
  response_.status = status;
  response_.headers.add("content-type", content_type);
  response_.headers.add("content-length", absl::StrCat(body.size()));
  response_no_body_ = request_.method == "HEAD";
  local_body_ = std::string(body);
  is_local_ = true;
  if (in_stage_) {
    local_pending_ = true;
    return;
  }
  if (current_stage_ == Stage::Pre && chain_ != nullptr) {
    loadStage(chain_->post);
    runStage(Stage::Post, 0);
    return;
  }
  sendResponseHead();
  sendLocalBody();
}

void Stream::fail(filters::ErrorInfo error) {
  if (finished_ || downstream_closed_) {
    return;
  }
  if (response_started_) {
    conn_.close(true);
    return;
  }
  const bool first = !has_error_;
  has_error_ = true;
  error_ = std::move(error);
  response_ = http::ResponseHead();
  response_.status = error_.status;
  local_body_ = errorBody(error_, request_id_);
  response_.headers.add("content-type", "application/json");
  response_.headers.add("content-length", absl::StrCat(local_body_.size()));
  for (const auto& [name, value] : error_.headers) {
    response_.headers.add(name, value);
  }
  response_no_body_ = request_.method == "HEAD";
  response_chunked_ = false;
  is_local_ = true;
  if (in_stage_ && current_stage_ != Stage::Error) {
    return;  // runStage notices has_error_ and switches to the error stage
  }
  if (!first || chain_ == nullptr || current_stage_ == Stage::Error) {
    sendResponseHead();
    sendLocalBody();
    return;
  }
  loadStage(chain_->error);
  runStage(Stage::Error, 0);
}

void Stream::releaseUpstream(bool reusable) {
  if (upstream_ == nullptr) {
    return;
  }
  if (host_pool_ != nullptr && host_pool_->host.active_requests > 0) {
    host_pool_->host.active_requests--;
  }
  UpstreamConnection* c = upstream_;
  upstream_ = nullptr;
  c->release(reusable);
}

void Stream::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  conn_.timer_.disarm();
  releaseUpstream(false);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  Worker& w = conn_.worker();
  const std::string& route_name = route_ != nullptr ? route_->name() : std::string();
  w.stats().recordRequest(route_name.empty() ? "-" : route_name,
                          cluster_name_.empty() ? "-" : cluster_name_, response_.status, ms);
  if (w.options().access_log) {
    std::string& line = w.accessLogBuffer();  // appended in place; the worker flushes it
    line += "{\"time\":\"";
    {
      const std::time_t t = std::chrono::system_clock::to_time_t(start_wall_);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[32];
      strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
      line += buf;
    }
    line += "\",\"request_id\":\"";
    appendJsonEscaped(request_id_, line);
    line += "\",\"client\":\"";
    appendJsonEscaped(conn_.clientIp(), line);
    line += "\",\"method\":\"";
    appendJsonEscaped(request_.method, line);
    line += "\",\"path\":\"";
    appendJsonEscaped(request_.path.empty() ? request_.target : request_.path, line);
    line += "\",\"status\":";
    line += absl::StrCat(response_.status);
    line += ",\"route\":\"";
    appendJsonEscaped(route_name, line);
    line += "\",\"cluster\":\"";
    appendJsonEscaped(cluster_name_, line);
    line += "\",\"upstream_host\":\"";
    appendJsonEscaped(upstream_host_, line);
    line += "\",\"bytes_received\":";
    line += absl::StrCat(body_received_);
    line += ",\"bytes_sent\":";
    line += absl::StrCat(bytes_sent_);
    line += ",\"duration_ms\":";
    line += absl::StrCat(static_cast<int64_t>(ms * 1000) / 1000.0);
    if (has_error_) {
      line += ",\"error\":\"";
      appendJsonEscaped(error_.code, line);
      line += "\"";
    }
    line += "}\n";
    w.accessLogged();
  }
  conn_.onStreamComplete(close_after_ || (!request_complete_ && !discarding_));
}

// ---------------------------------------------------------------------------------------------
// DownstreamConnection

DownstreamConnection::DownstreamConnection(Worker& worker, std::string listener_name)
    : worker_(worker), listener_name_(std::move(listener_name)),
      writer_(reinterpret_cast<uv_stream_t*>(&handle_), this,
              [](void* self, int status) {
                static_cast<DownstreamConnection*>(self)->onWriteDone(status);
              },
              worker.writeBatch()),
      parser_(http::Http1Parser::Kind::Request, *this) {
  uv_tcp_init(worker.loop(), &handle_);
  timer_.init(worker.loop(), this);
  handle_.data = this;
  handles_open_ = 2;
  worker_.stats().downstream_cx_total++;
  worker_.stats().downstream_cx_active++;
}

DownstreamConnection::~DownstreamConnection() { worker_.stats().downstream_cx_active--; }

void DownstreamConnection::start() {
  sockaddr_storage peer{};
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    std::string a = formatAddress(reinterpret_cast<sockaddr*>(&peer));
    // Strip the port (and IPv6 brackets).
    const size_t colon = a.rfind(':');
    a.resize(colon == std::string::npos ? a.size() : colon);
    if (!a.empty() && a.front() == '[') {
      a = a.substr(1, a.size() - 2);
    }
    client_ip_ = std::move(a);
  }
  uv_tcp_nodelay(&handle_, 1);
  if (!repin()) {
    close(true);
    return;
  }
  parser_.~Http1Parser();
  new (&parser_) http::Http1Parser(http::Http1Parser::Kind::Request, *this, listener_->codec_limits);
  armWaitTimer();
  updateReading();
}

bool DownstreamConnection::repin() {
  const RuntimeConfigConstSharedPtr& newest = worker_.config();
  if (newest == config_ && listener_ != nullptr) {
    return true;  // no switch since the last request (the common case)
  }
  for (const auto& l : newest->listeners) {
    if (l->name == listener_name_) {
      config_ = newest;
      listener_ = l.get();
      return true;
    }
  }
  return false;
}

void DownstreamConnection::onConfigChanged() {
  if (stream_ || closing_) {
    return;  // the current request keeps the config it started with; the next one re-pins
  }
  // Idle: hold the newest config rather than keep an old generation alive until the next request.
  if (!repin()) {
    drain();  // the listener is gone
  }
}

void DownstreamConnection::armWaitTimer() {
  if (closing_) {
    return;
  }
  const bool partial = head_started_ || in_off_ < in_.size();
  const TimerMode mode = partial ? TimerMode::Headers : TimerMode::Idle;
  if (mode == timer_mode_) {
    return;
  }
  timer_mode_ = mode;
  const auto ms = mode == TimerMode::Headers ? listener_->request_headers_timeout
                                             : listener_->idle_timeout;
  if (ms.count() <= 0) {
    timer_.disarm();
    return;
  }
  timer_.arm(static_cast<uint64_t>(ms.count()),
             [](void* owner) { static_cast<DownstreamConnection*>(owner)->onTimer(); });
}

void DownstreamConnection::onTimer() {
  if (stream_ || closing_) {
    return;
  }
  if (timer_mode_ == TimerMode::Headers) {
    rejectCodecError({408, "request_timeout", "request headers not received in time"});
    return;
  }
  close();
}

void DownstreamConnection::updateReading() {
  if (closing_ || peer_closed_) {
    return;
  }
  bool want = in_.size() - in_off_ < kMaxPipelinedBytes;
  if (stream_ && stream_->bodyBlocked()) {
    want = false;
  }
  if (want && !reading_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), allocBuffer,
                  [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                    static_cast<DownstreamConnection*>(s->data)->onRead(nread, buf);
                  });
  } else if (!want && reading_) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  }
}

bool DownstreamConnection::requestBodyBlocked() const {
  return stream_ && stream_->bodyBlocked();
}

void DownstreamConnection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (closing_) {
    if (nread < 0) {
      peer_closed_ = true;
      if (lingering_) {
        closeLingering();  // the client closed too: done
      }
    }
    return;  // closing: input is discarded
  }
  if (nread < 0) {
    peer_closed_ = true;
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    // A half-closed client may still be waiting for the response to a complete request.
    if (stream_ && stream_->requestComplete() && nread == UV_EOF) {
      return;
    }
    close(true);
    return;
  }
  if (nread == 0) {
    return;
  }
  in_.append(buf->base, nread);
  // Responses produced while this input is processed (direct responses, pipelined requests)
  // leave in one write.
  cork();
  processInput();
  uncork();
}

void DownstreamConnection::processInput() {
  if (processing_input_) {
    return;  // nested call (e.g. a stream completed while being fed): the outer loop continues
  }
  processing_input_ = true;
  processInputLoop();
  processing_input_ = false;
}

void DownstreamConnection::processInputLoop() {
  while (!closing_) {
    const size_t avail = in_.size() - in_off_;
    const auto st = parser_.state();
    if (st == http::Http1Parser::State::Head) {
      if (stream_ || avail == 0 || draining_) {
        break;
      }
      const size_t n = parser_.feed(in_.data() + in_off_, avail);
      in_off_ += n;
      if (parser_.state() == http::Http1Parser::State::Error) {
        rejectCodecError(parser_.error());
        return;
      }
      if (parser_.state() == http::Http1Parser::State::Head) {
        head_started_ = true;  // bytes of an incomplete head are inside the parser now
        break;
      }
      if (stream_ && stream_pending_start_) {
        stream_pending_start_ = false;
        stream_->start();
      }
      continue;
    }
    if (st == http::Http1Parser::State::Body) {
      if (!stream_ || !stream_->wantsBody() || avail == 0) {
        break;
      }
      const size_t n = parser_.feed(in_.data() + in_off_, avail);
      in_off_ += n;
      if (parser_.state() == http::Http1Parser::State::Error) {
        rejectCodecError(parser_.error());
        return;
      }
      if (n == 0) {
        break;
      }
      continue;
    }
    break;  // Complete: wait for the response to finish
  }
  if (closing_) {
    return;
  }
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > 0 && (in_off_ >= 16 * 1024 || in_off_ * 2 >= in_.size())) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
  if (!stream_) {
    armWaitTimer();
  }
  updateReading();
}

void DownstreamConnection::onRequestHead(http::RequestHead&& head) {
  timer_.disarm();
  timer_mode_ = TimerMode::None;
  head_started_ = false;
  // Each request runs on the newest config, pinned by its stream. If the newest config no longer
  // has this connection's listener (removed while this head was being read), the request finishes
  // on the config the connection already holds and the connection then closes.
  if (!repin()) {
    draining_ = true;
  }
  stream_ = std::make_unique<Stream>(*this, config_, *listener_, std::move(head), parser_);
  // Started by processInput once feed() has returned: the parser then knows whether the message
  // has a body and the head's bytes are consumed, so a response given at once (direct response,
  // no_route) can complete the stream and reuse the connection.
  stream_pending_start_ = true;
}

void DownstreamConnection::onBody(absl::string_view data) {
  if (stream_) {
    stream_->onRequestBody(data);
  }
}

void DownstreamConnection::onTrailers(HeaderMap&& trailers) {
  if (stream_) {
    stream_->onRequestTrailers(std::move(trailers));
  }
}

void DownstreamConnection::onMessageComplete() {
  if (stream_) {
    stream_->onRequestComplete();
  }
}

void DownstreamConnection::onRequestBodyWritable() {
  processInput();
}

void DownstreamConnection::onStreamComplete(bool close_after) {
  requests_served_++;
  std::unique_ptr<Stream> done = std::move(stream_);
  const bool discarding = done->wantsBody();
  worker_.deferDelete(std::move(done));
  if (parser_.state() == http::Http1Parser::State::Body && discarding && !close_after) {
    // The response went out before the request body was read: skip the rest of the body if it
    // is already buffered, else close.
    const size_t n = parser_.feed(in_.data() + in_off_, in_.size() - in_off_);
    in_off_ += n;
  }
  if (close_after || draining_ || peer_closed_ ||
      parser_.state() != http::Http1Parser::State::Complete) {
    close_after_write_ = true;
    if (writer_.pendingWrites() == 0) {
      close();
    }
    return;
  }
  parser_.reset();
  // Between requests hold the newest config: an old generation dies with its last request.
  repin();
  processInput();
}

void DownstreamConnection::rejectCodecError(const http::CodecError& err) {
  worker_.stats().downstream_rq_rejected++;
  if (stream_ && stream_->responseStarted()) {
    close(true);  // mid-response: no second response can be written
    return;
  }
  if (close_after_write_) {
    // The final response is already queued and the connection closes after it (e.g. a 413 with
    // the rest of the body in the buffer): nothing more to say.
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    return;
  }
  stream_.reset();
  filters::ErrorInfo e{err.status, err.code, err.message, filters::ErrorSource::Downstream, false};
  const std::string id = worker_.newRequestId();
  const std::string body = errorBody(e, id);
  http::ResponseHead head;
  head.status = err.status;
  head.headers.add("content-type", "application/json");
  head.headers.add("content-length", absl::StrCat(body.size()));
  head.headers.add("x-request-id", id);
  head.headers.add("connection", "close");
  std::string buf;
  http::serializeResponseHead(head, buf);
  buf += body;
  write(std::move(buf));
  worker_.stats().recordRequest("-", "-", err.status, 0);
  if (worker_.options().access_log) {
    std::string line = absl::StrCat("{\"request_id\":\"", id, "\",\"client\":\"", client_ip_,
                                    "\",\"status\":", err.status, ",\"error\":\"", err.code,
                                    "\"}\n");
    worker_.accessLogBuffer().append(line);
    worker_.accessLogged();
  }
  close_after_write_ = true;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  if (writer_.pendingWrites() == 0) {
    close();
  }
}

void DownstreamConnection::write(std::string&& data) {
  if (!closing_) {
    afterWrite(writer_.write(std::move(data)));
  }
}

void DownstreamConnection::write(absl::string_view data) {
  if (!closing_) {
    afterWrite(writer_.write(data));
  }
}

void DownstreamConnection::uncork() {
  if (!closing_) {
    afterWrite(writer_.uncork());
  } else if (writer_.corked()) {
    writer_.uncork();
  }
}

void DownstreamConnection::afterWrite(int rc) {
  if (rc != 0) {
    close(true);
  }
}

void DownstreamConnection::onWriteDone(int status) {
  if (closing_) {
    return;
  }
  if (status != 0) {
    close(true);
    return;
  }
  if (close_after_write_ && writer_.pendingWrites() == 0) {
    close();
    return;
  }
  if (stream_ && writeQueueSize() <= kLowWatermark) {
    stream_->onDownstreamWritable();
  }
}

void DownstreamConnection::drain() {
  draining_ = true;
  if (!stream_) {
    close();
  }
}

void DownstreamConnection::close(bool abort) {
  if (closing_) {
    return;
  }
  if (abort) {
    writer_.discard();
  } else {
    writer_.flush();  // what gathered while corked goes out before the FIN
  }
  closing_ = true;
  if (stream_) {
    stream_->onDownstreamClosed();
    worker_.deferDelete(std::move(stream_));
  }
  if (abort) {
    uv_tcp_close_reset(&handle_, [](uv_handle_t* h) {
      static_cast<DownstreamConnection*>(h->data)->finishClose();
    });
  } else {
    // Lingering close: when the client may still be sending a request we did not read (an error
    // response, a body over the limit), closing the socket with unread input makes the kernel
    // answer with a reset, which can destroy the response still in flight. Then keep reading
    // (and discarding) after our FIN until the client closes too, for at most kLingerMs.
    const auto st = parser_.state();
    linger_ = !peer_closed_ && (st == http::Http1Parser::State::Error ||
                                st == http::Http1Parser::State::Body || head_started_ ||
                                in_off_ < in_.size());
    // Send FIN after the queued response, then close.
    auto* req = new uv_shutdown_t;
    req->data = this;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_), [](uv_shutdown_t* r,
                                                                        int status) {
          auto* self = static_cast<DownstreamConnection*>(r->data);
          delete r;
          self->afterShutdown(status);
        }) != 0) {
      delete req;
      linger_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
        static_cast<DownstreamConnection*>(h->data)->finishClose();
      });
    }
  }
  timer_.stop();
  if (linger_) {
    return;  // the timer bounds the linger; closeLingering() closes both handles
  }
  uv_close(timer_.asHandle(), [](uv_handle_t* h) {
    static_cast<DownstreamConnection*>(h->data)->finishClose();
  });
}

void DownstreamConnection::afterShutdown(int status) {
  if (!linger_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
      static_cast<DownstreamConnection*>(h->data)->finishClose();
    });
    return;
  }
  if (status != 0 || peer_closed_) {
    closeLingering();
    return;
  }
  lingering_ = true;
  if (!reading_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), allocBuffer,
                  [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                    static_cast<DownstreamConnection*>(s->data)->onRead(nread, buf);
                  });
  }
  timer_.arm(kLingerMs,
             [](void* owner) { static_cast<DownstreamConnection*>(owner)->closeLingering(); });
}

void DownstreamConnection::closeLingering() {
  if (linger_closed_) {
    return;
  }
  linger_closed_ = true;
  lingering_ = false;
  timer_.stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
    static_cast<DownstreamConnection*>(h->data)->finishClose();
  });
  uv_close(timer_.asHandle(), [](uv_handle_t* h) {
    static_cast<DownstreamConnection*>(h->data)->finishClose();
  });
}

void DownstreamConnection::finishClose() {
  if (--handles_open_ == 0) {
    worker_.onConnectionClosed(this);
  }
}

} // namespace gw::server
