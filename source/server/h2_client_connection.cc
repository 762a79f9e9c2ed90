#include "source/server/h2_client_connection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "source/config/upstream_protocol_validation.h"
#include "source/server/read_buffer.h"

namespace gw::server {

namespace {

H2ClientConnection* selfOf(void* p) { return static_cast<H2ClientConnection*>(p); }

} // namespace

// ---------------------------------------------------------------------------------------------
// The pool.

H2UpstreamStream* H2ClientConnection::acquire(ClusterStateSharedPtr cluster, HostPool& pool,
                                            UpstreamCallbacks& cb) {
  // The least loaded connection with room, so streams spread once several are open.
  H2ClientConnection* best = nullptr;
  for (H2ClientConnection* c : pool.h2) {
    if (c->hasRoom() && (best == nullptr || c->activeStreams() < best->activeStreams())) {
      best = c;
    }
  }
  if (best != nullptr) {
    return best->attach(cb);
  }
  if (pool.total >= cluster->config().max_connections_per_endpoint) {
    return nullptr;
  }
  auto* c = new H2ClientConnection(std::move(cluster), pool);
  H2UpstreamStream* s = c->attach(cb);
  c->connect();
  return s;
}

void H2ClientConnection::drainPool(HostPool& pool) {
  std::vector<H2ClientConnection*> all = pool.h2;
  for (H2ClientConnection* c : all) {
    c->stopTakingStreams();
  }
}

H2ClientConnection::H2ClientConnection(ClusterStateSharedPtr cluster, HostPool& pool)
    : cluster_(std::move(cluster)), pool_(&pool),
      writer_(reinterpret_cast<uv_stream_t*>(&handle_), this,
              [](void* self, int status) { selfOf(self)->onWriteDone(status); },
              cluster_->worker().writeBatch()) {
  const auto& h2 = cluster_->config().proto.http2();
  max_streams_ = h2.has_max_concurrent_streams() ? h2.max_concurrent_streams()
                                                 : config::kDefaultH2MaxConcurrentStreams;
  uv_loop_t* loop = cluster_->worker().loop();
  uv_tcp_init(loop, &handle_);
  timer_.init(loop, this);
  handle_.data = this;
  handles_open_ = 2;
  deferred_ = cluster_->worker().createTimer([this] { runDeferred(); });
  pool_->total++;
  pool_->h2.push_back(this);
  auto& stats = cluster_->worker().stats();
  stats.upstream_cx_total++;
  stats.upstream_cx_active++;
  initSession();
}

H2ClientConnection::~H2ClientConnection() {
  if (session_ != nullptr) {
    nghttp2_session_del(session_);
  }
}

bool H2ClientConnection::hasRoom() const {
  if (state_ != State::Connecting && state_ != State::Open) {
    return false;
  }
  uint32_t cap = max_streams_;
  if (state_ == State::Open) {
    cap = std::min(cap, nghttp2_session_get_remote_settings(
                            session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  }
  return streams_.size() < cap;
}

H2UpstreamStream* H2ClientConnection::attach(UpstreamCallbacks& cb) {
  timer_.disarm();  // the idle timer
  auto s = std::make_unique<H2UpstreamStream>(*this, cb);
  s->ready_ = state_ == State::Open;  // else onConnected tells the request
  H2UpstreamStream* p = s.get();
  streams_.push_back(std::move(s));
  return p;
}

H2UpstreamStream* H2ClientConnection::streamOf(int32_t id) const {
  if (session_ == nullptr) {
    return nullptr;
  }
  return static_cast<H2UpstreamStream*>(nghttp2_session_get_stream_user_data(session_, id));
}

// ---------------------------------------------------------------------------------------------
// Transport: TCP, then TLS for clusters with `tls`.

void H2ClientConnection::connect() {
  connect_req_.data = this;
  const int rc = uv_tcp_connect(&connect_req_, &handle_,
                                reinterpret_cast<const sockaddr*>(&pool_->host.sockaddr),
                                [](uv_connect_t* req, int status) {
                                  selfOf(req->data)->onConnect(status);
                                });
  if (rc != 0) {
    timer_.arm(0, [](void* owner) {
      auto* self = selfOf(owner);
      self->cluster_->worker().stats().upstream_cx_connect_fail++;
      self->fail("connect failed", UpstreamFailure::ConnectFailed);
    });
    return;
  }
  const uint64_t ms = cluster_->config().connect_timeout.count();
  if (ms > 0) {
    timer_.arm(ms, [](void* owner) {
      auto* self = selfOf(owner);
      self->cluster_->worker().stats().upstream_cx_connect_fail++;
      self->fail(absl::StrCat("connect to ", self->pool_->host.address, " timed out"),
                 UpstreamFailure::ConnectFailed);
    });
  }
}

void H2ClientConnection::onConnect(int status) {
  if (state_ == State::Closed) {
    return;
  }
  timer_.disarm();
  if (status != 0) {
    cluster_->worker().stats().upstream_cx_connect_fail++;
    fail(absl::StrCat("connect to ", pool_->host.address, " failed: ", uv_strerror(status)),
         UpstreamFailure::ConnectFailed);
    return;
  }
  uv_tcp_nodelay(&handle_, 1);
  if (cluster_->config().tls != nullptr) {
    startTls();
    return;
  }
  startReading();
  onOpened();
}

void H2ClientConnection::startTls() {
  const auto& ctx = cluster_->config().tls;
  tls_ = std::make_unique<TlsTransport>(
      ctx->newSsl(tls::ClientContext::hostOf(pool_->host.address)), ctx, writer_);
  startReading();
  const uint64_t ms = cluster_->config().connect_timeout.count();
  if (ms > 0) {
    timer_.arm(ms, [](void* owner) {
      auto* self = selfOf(owner);
      self->cluster_->worker().stats().upstream_tls_handshake_failed++;
      self->fail(absl::StrCat("TLS handshake with ", self->pool_->host.address, " timed out"),
                 UpstreamFailure::TlsHandshake);
    });
  }
  if (const int rc = tls_->connect(); rc != 0) {
    fail(absl::StrCat("upstream write error: ", uv_strerror(rc)), UpstreamFailure::ConnectFailed);
  }
}

bool H2ClientConnection::acceptAlpn() {
  const absl::string_view chosen = tls_->session().alpn();
  if (cluster_->config().proto.protocol() == gateway::v1::Cluster::AUTO) {
    if (chosen == "h2") {
      pool_->alpn = HostPool::Alpn::H2;
      return true;
    }
    pool_->alpn = HostPool::Alpn::Http1;
    fail(absl::StrCat(pool_->host.address, " chose ", chosen.empty() ? "no protocol" : chosen,
                      " by ALPN: HTTP/1.1 from now on"),
         UpstreamFailure::AlpnHttp1);
    return false;
  }
  if (!chosen.empty() && chosen != "h2") {
    fail(absl::StrCat(pool_->host.address, " chose ", chosen,
                      " by ALPN; this cluster speaks only HTTP/2 (protocol H2; AUTO lets the "
                      "endpoint choose)"),
         UpstreamFailure::ProtocolError);
    return false;
  }
  return true;
}

void H2ClientConnection::onTlsInput(const char* data, size_t len) {
  const bool was_open = tls_->open();
  const TlsTransport::Result r = tls_->onCiphertext(data, len, &plain_);
  if (r == TlsTransport::Result::Failed) {
    plain_.clear();
    UpstreamFailure failure;
    const std::string reason = upstreamTlsFailure(*tls_, was_open, pool_->host.address,
                                                  cluster_->worker().stats(), &failure);
    fail(reason, failure);
    return;
  }
  if (r == TlsTransport::Result::Opened) {
    timer_.disarm();  // the handshake timeout
    if (!acceptAlpn()) {
      plain_.clear();
      return;
    }
    onOpened();
  }
  if (!plain_.empty() && state_ != State::Closed) {
    onInput(plain_.data(), plain_.size());
  }
  plain_.clear();
  if (r == TlsTransport::Result::PeerClosed) {
    fail("upstream closed the HTTP/2 connection (TLS close_notify)", UpstreamFailure::Reset);
  }
}

void H2ClientConnection::onOpened() {
  if (state_ == State::Closed) {
    return;
  }
  // Retired while connecting: the requests already waiting still go, then it closes.
  const bool draining = state_ == State::Draining;
  state_ = State::Open;
  opened_ = true;
  flush();  // the preface and SETTINGS
  // Every request waiting for the connection may now write; each may release or fail others.
  std::vector<H2UpstreamStream*> waiting;
  for (auto& s : streams_) {
    waiting.push_back(s.get());
  }
  for (H2UpstreamStream* s : waiting) {
    if (state_ == State::Closed) {
      break;
    }
    s->ready_ = true;
    s->onConnected();
  }
  if (draining && state_ == State::Open) {
    state_ = State::Draining;
  }
  reap();
}

void H2ClientConnection::startReading() {
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), threadReadBuffer,
                [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                  selfOf(s->data)->onRead(nread, buf);
                });
}

void H2ClientConnection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (state_ == State::Closed) {
    return;
  }
  if (nread < 0 && tls_ != nullptr && !tls_->open()) {
    cluster_->worker().stats().upstream_tls_handshake_failed++;
    fail(absl::StrCat("TLS handshake with ", pool_->host.address,
                      " failed: the upstream closed the connection"),
         UpstreamFailure::TlsHandshake);
    return;
  }
  if (nread < 0) {
    fail(nread == UV_EOF ? "upstream closed the HTTP/2 connection"
                         : absl::StrCat("upstream read error: ", uv_strerror(nread)),
         UpstreamFailure::Reset);
    return;
  }
  if (nread > 0 && tls_ != nullptr) {
    onTlsInput(buf->base, static_cast<size_t>(nread));
  } else if (nread > 0) {
    onInput(buf->base, static_cast<size_t>(nread));
  }
}

int H2ClientConnection::sendToSocket(absl::string_view bytes) { return writer_.write(bytes); }

void H2ClientConnection::onWriteDone(int status) {
  if (status == UV_ECANCELED || state_ == State::Closed) {
    return;
  }
  if (status != 0) {
    fail(absl::StrCat("upstream write error: ", uv_strerror(status)), UpstreamFailure::Reset);
    return;
  }
  flush();  // the socket drained: more frames may go
}

// ---------------------------------------------------------------------------------------------
// Session.

void H2ClientConnection::initSession() {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, onBeginHeadersCb);
  nghttp2_session_callbacks_set_on_header_callback(cbs, onHeaderCb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecvCb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunkCb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamCloseCb);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, onFrameNotSendCb);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Windows open only as far as the requests took the data (see consume()).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, max_streams_);
  const auto& h2 = cluster_->config().proto.http2();
  const uint32_t max_header_list = h2.has_max_header_list_size() ? h2.max_header_list_size()
                                                                 : config::kDefaultH2MaxHeaderList;
  nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const uint32_t stream_window = h2.has_initial_stream_window_size()
                                     ? h2.initial_stream_window_size()
                                     : config::kDefaultH2StreamWindow;
  const uint32_t conn_window = h2.has_initial_connection_window_size()
                                   ? h2.initial_connection_window_size()
                                   : config::kDefaultH2ConnectionWindow;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_header_list},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 3);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(conn_window));
}

void H2ClientConnection::onInput(const char* data, size_t len) {
  in_session_ = true;
  const ssize_t rv =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  in_session_ = false;
  if (state_ == State::Closed) {
    return;
  }
  if (rv < 0) {
    fail(absl::StrCat("HTTP/2 protocol error from upstream: ", nghttp2_strerror(static_cast<int>(rv))),
         UpstreamFailure::ProtocolError);
    return;
  }
  flush();
  reap();
}

void H2ClientConnection::flush() {
  if (in_session_ || flushing_ || !opened_ || state_ == State::Closed) {
    return;
  }
  flushing_ = true;
  while (writer_.queuedBytes() < kSocketHighWatermark) {
    const uint8_t* out = nullptr;
    in_session_ = true;
    const ssize_t n = nghttp2_session_mem_send(session_, &out);
    in_session_ = false;
    if (n < 0) {
      flushing_ = false;
      fail(absl::StrCat("HTTP/2 session error: ", nghttp2_strerror(static_cast<int>(n))),
           UpstreamFailure::ProtocolError);
      return;
    }
    if (n == 0) {
      break;
    }
    const int rc = sendToSocket(absl::string_view(reinterpret_cast<const char*>(out), n));
    if (rc != 0) {
      flushing_ = false;
      fail(absl::StrCat("upstream write error: ", uv_strerror(rc)), UpstreamFailure::Reset);
      return;
    }
  }
  flushing_ = false;
  // Requests whose send buffer drained may read more body (which flushes again).
  std::vector<H2UpstreamStream*> writable;
  writable.swap(writable_);
  for (H2UpstreamStream* s : writable) {
    if (state_ == State::Closed) {
      break;
    }
    if (s->cb_ != nullptr) {
      s->cb_->onUpstreamWritable();
    }
  }
  if (state_ != State::Closed && !nghttp2_session_want_read(session_) &&
      !nghttp2_session_want_write(session_)) {
    // GOAWAY exchanged and every stream done: nothing more will happen on it.
    fail("HTTP/2 session ended", UpstreamFailure::Reset);
  }
}

void H2ClientConnection::consume(int32_t stream_id, size_t n) {
  if (session_ != nullptr && n > 0 && state_ != State::Closed) {
    nghttp2_session_consume(session_, stream_id, n);
  }
}

void H2ClientConnection::onGoaway(int32_t last_stream_id, uint32_t error_code) {
  goaway_ = true;
  (void)last_stream_id;  // nghttp2 closes the streams above it with REFUSED_STREAM
  (void)error_code;
  stopTakingStreams();
}

void H2ClientConnection::stopTakingStreams() {
  if (state_ == State::Closed) {
    return;
  }
  auto& list = pool_->h2;
  list.erase(std::remove(list.begin(), list.end(), this), list.end());
  state_ = State::Draining;  // when still connecting, onConnect lets the waiting requests go
  scheduleDeferred();
}

void H2ClientConnection::scheduleDeferred() {
  if (state_ != State::Closed && deferred_ != nullptr && !deferred_->enabled()) {
    deferred_->enable(std::chrono::milliseconds(0));
  }
}

void H2ClientConnection::runDeferred() {
  // Streams refused before they were submitted learn it here, off the request's own stack.
  std::vector<H2UpstreamStream*> refused;
  for (auto& s : streams_) {
    if (s->pending_fail_ && !s->released_) {
      refused.push_back(s.get());
    }
  }
  for (H2UpstreamStream* s : refused) {
    s->fail(s->fail_reason_, UpstreamFailure::Reset);
  }
  if (state_ != State::Closed) {
    flush();
    reap();
  }
}

void H2ClientConnection::reap() {
  if (in_session_ || state_ == State::Closed) {
    return;
  }
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                [](const std::unique_ptr<H2UpstreamStream>& s) {
                                  return s->deletable();
                                }),
                 streams_.end());
  if (!streams_.empty()) {
    return;
  }
  if (state_ == State::Draining) {
    close();
    return;
  }
  if (state_ == State::Open) {
    if (cluster_->retired()) {
      stopTakingStreams();
      return;
    }
    const uint64_t ms = cluster_->config().idle_timeout.count();
    if (ms > 0 && !timer_.armed()) {
      timer_.arm(ms, [](void* owner) { selfOf(owner)->close(); });
    }
  }
}

void H2ClientConnection::fail(const std::string& reason, UpstreamFailure failure) {
  if (state_ == State::Closed) {
    return;
  }
  std::vector<H2UpstreamStream*> all;
  for (auto& s : streams_) {
    all.push_back(s.get());
  }
  close();
  for (H2UpstreamStream* s : all) {
    s->h2_closed_ = true;
    // A stream the upstream never saw was refused, not lost.
    if (s->id_ < 0 && failure != UpstreamFailure::ConnectFailed) {
      s->refused_ = true;
    }
    if (!s->response_complete_) {
      s->fail(reason, failure);
    }
  }
}

void H2ClientConnection::close() {
  if (state_ == State::Closed) {
    return;
  }
  auto& list = pool_->h2;
  list.erase(std::remove(list.begin(), list.end(), this), list.end());
  state_ = State::Closed;
  pool_->total--;
  cluster_->worker().stats().upstream_cx_active--;
  for (auto& s : streams_) {
    s->h2_closed_ = true;
  }
  deferred_.reset();
  auto on_close = [](uv_handle_t* h) {
    auto* self = selfOf(h->data);
    if (--self->handles_open_ == 0) {
      self->maybeDelete();
    }
  };
  writer_.discard();
  timer_.stop();
  uv_close(timer_.asHandle(), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
}

void H2ClientConnection::maybeDelete() {
  if (state_ != State::Closed || handles_open_ > 0 || deleting_) {
    return;
  }
  for (auto& s : streams_) {
    if (!s->released_) {
      return;  // a request still holds it (a response held while paused): freed at its release
    }
  }
  deleting_ = true;
  // At the end of the loop iteration: the release that got here may still be on the stack.
  cluster_->worker().deferDelete(std::unique_ptr<DeferredDeletable>(this));
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks (inside mem_recv / mem_send: no flush, no freeing).

int H2ClientConnection::onBeginHeadersCb(nghttp2_session*, const nghttp2_frame* f, void* self) {
  if (H2UpstreamStream* s = selfOf(self)->streamOf(f->hd.stream_id)) {
    s->onBeginHeaders();
  }
  return 0;
}

int H2ClientConnection::onHeaderCb(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name,
                                   size_t namelen, const uint8_t* value, size_t valuelen,
                                   uint8_t, void* self) {
  H2UpstreamStream* s = selfOf(self)->streamOf(f->hd.stream_id);
  if (s == nullptr) {
    return 0;
  }
  if (!s->onHeader(absl::string_view(reinterpret_cast<const char*>(name), namelen),
                   absl::string_view(reinterpret_cast<const char*>(value), valuelen))) {
    s->protocol_error_ = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM; onStreamCloseCb follows
  }
  return 0;
}

int H2ClientConnection::onFrameRecvCb(nghttp2_session*, const nghttp2_frame* f, void* self) {
  H2ClientConnection* c = selfOf(self);
  switch (f->hd.type) {
  case NGHTTP2_HEADERS:
    if (H2UpstreamStream* s = c->streamOf(f->hd.stream_id)) {
      s->onHeadersEnd((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
    }
    break;
  case NGHTTP2_DATA:
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      if (H2UpstreamStream* s = c->streamOf(f->hd.stream_id)) {
        s->onEndStream();
      }
    }
    break;
  case NGHTTP2_GOAWAY:
    c->onGoaway(f->goaway.last_stream_id, f->goaway.error_code);
    break;
  default:
    break;
  }
  return 0;
}

int H2ClientConnection::onDataChunkCb(nghttp2_session*, uint8_t, int32_t stream_id,
                                      const uint8_t* data, size_t len, void* self) {
  H2ClientConnection* c = selfOf(self);
  if (H2UpstreamStream* s = c->streamOf(stream_id)) {
    s->onData(data, len);
  } else {
    c->consume(stream_id, len);
  }
  return 0;
}

int H2ClientConnection::onStreamCloseCb(nghttp2_session*, int32_t stream_id,
                                        uint32_t error_code, void* self) {
  if (H2UpstreamStream* s = selfOf(self)->streamOf(stream_id)) {
    if (error_code == NGHTTP2_PROTOCOL_ERROR) {
      s->protocol_error_ = true;
    }
    s->onClosed(error_code);
  }
  return 0;
}

int H2ClientConnection::onFrameNotSendCb(nghttp2_session*, const nghttp2_frame* f, int,
                                         void* self) {
  if (f->hd.type == NGHTTP2_HEADERS) {
    if (H2UpstreamStream* s = selfOf(self)->streamOf(f->hd.stream_id)) {
      s->refused_ = true;  // never reached the upstream (GOAWAY received meanwhile)
    }
  }
  return 0;
}

} // namespace gw::server
