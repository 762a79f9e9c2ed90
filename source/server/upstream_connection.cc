#include "source/server/upstream_connection.h"

#include <netinet/tcp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "source/server/read_buffer.h"

namespace gw::server {

UpstreamConnection::UpstreamConnection(ClusterStateSharedPtr cluster, HostPool& pool)
    : cluster_(std::move(cluster)), pool_(&pool),
      writer_(reinterpret_cast<uv_stream_t*>(&handle_), this,
              [](void* self, int status) {
                static_cast<UpstreamConnection*>(self)->onWriteDone(status);
              },
              cluster_->worker().writeBatch()),
      parser_(http::Http1Parser::Kind::Response, *this,
              http::CodecLimits{256 * 1024, 1000}) {
  uv_loop_t* loop = cluster_->worker().loop();
  uv_tcp_init(loop, &handle_);
  timer_.init(loop, this);
  handle_.data = this;
  handles_open_ = 2;
  pool_->total++;
  auto& stats = cluster_->worker().stats();
  stats.upstream_cx_total++;
  stats.upstream_cx_active++;
}

UpstreamConnection::~UpstreamConnection() = default;

UpstreamConnection* UpstreamConnection::acquire(ClusterStateSharedPtr cluster, HostPool& pool,
                                                UpstreamCallbacks& cb, bool head_request) {
  while (!pool.idle.empty()) {
    UpstreamConnection* c = pool.idle.back();
    pool.idle.pop_back();
    if (c->state_ != State::Idle) {
      continue;
    }
    c->timer_.disarm();
    c->state_ = State::Busy;
    c->cb_ = &cb;
    c->reused_ = true;
    c->response_started_ = false;
    c->response_complete_ = false;
    c->parser_.reset();
    c->parser_.setRequestMethodHead(head_request);
    c->resumeReading();
    return c;
  }
  if (pool.total >= cluster->config().max_connections_per_endpoint) {
    return nullptr;
  }
  auto* c = new UpstreamConnection(std::move(cluster), pool);
  c->cb_ = &cb;
  c->parser_.setRequestMethodHead(head_request);
  c->connect();
  return c;
}

void UpstreamConnection::connect() {
  state_ = State::Connecting;
  connect_req_.data = this;
  const int rc = uv_tcp_connect(&connect_req_, &handle_,
                                reinterpret_cast<const sockaddr*>(&pool_->host.sockaddr),
                                [](uv_connect_t* req, int status) {
                                  auto* self = static_cast<UpstreamConnection*>(req->data);
                                  if (self->state_ == State::Closed) {
                                    return;
                                  }
                                  self->timer_.disarm();
                                  if (status != 0) {
                                    self->cluster_->worker().stats().upstream_cx_connect_fail++;
                                    self->fail(absl::StrCat("connect to ", self->pool_->host.address,
                                                            " failed: ", uv_strerror(status)),
                                               UpstreamFailure::ConnectFailed);
                                    return;
                                  }
                                  uv_tcp_nodelay(&self->handle_, 1);
                                  self->onConnected();
                                });
  if (rc != 0) {
    // Report asynchronously so the caller's stack unwinds first.
    timer_.arm(0, [](void* owner) {
      auto* self = static_cast<UpstreamConnection*>(owner);
      self->cluster_->worker().stats().upstream_cx_connect_fail++;
      self->fail("connect failed", UpstreamFailure::ConnectFailed);
    });
    return;
  }
  const uint64_t ms = cluster_->config().connect_timeout.count();
  if (ms > 0) {
    timer_.arm(ms, [](void* owner) {
      auto* self = static_cast<UpstreamConnection*>(owner);
      self->cluster_->worker().stats().upstream_cx_connect_fail++;
      self->fail(absl::StrCat("connect to ", self->pool_->host.address, " timed out"),
                 UpstreamFailure::ConnectFailed);
    });
  }
}

void UpstreamConnection::onConnected() {
  const auto& tls_ctx = cluster_->config().tls;
  if (tls_ctx == nullptr) {
    state_ = State::Busy;
    startReading();
    cb_->onUpstreamReady();
    return;
  }
  // TLS: ready once the handshake completes (still Connecting, under the connect timeout).
  // An AUTO cluster sends HTTP/1.1 only to endpoints that chose it by ALPN: offer just that.
  const bool http1_only = cluster_->config().proto.protocol() == gateway::v1::Cluster::AUTO;
  tls_ = std::make_unique<TlsTransport>(
      tls_ctx->newSsl(tls::ClientContext::hostOf(pool_->host.address), http1_only), tls_ctx,
      writer_);
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), threadReadBuffer,
                [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                  static_cast<UpstreamConnection*>(s->data)->onRead(nread, buf);
                });
  const uint64_t ms = cluster_->config().connect_timeout.count();
  if (ms > 0) {
    timer_.arm(ms, [](void* owner) {
      auto* self = static_cast<UpstreamConnection*>(owner);
      self->cluster_->worker().stats().upstream_tls_handshake_failed++;
      self->fail(absl::StrCat("TLS handshake with ", self->pool_->host.address, " timed out"),
                 UpstreamFailure::TlsHandshake);
    });
  }
  if (const int rc = tls_->connect(); rc != 0) {
    fail(absl::StrCat("upstream write error: ", uv_strerror(rc)), UpstreamFailure::ConnectFailed);
  }
}

std::string upstreamTlsFailure(const TlsTransport& tls, bool was_open, const std::string& address,
                               WorkerStats& stats, UpstreamFailure* failure) {
  if (was_open) {
    *failure = UpstreamFailure::Reset;
    return absl::StrCat("upstream TLS error: ", tls.error());
  }
  stats.upstream_tls_handshake_failed++;
  *failure = UpstreamFailure::TlsHandshake;
  return absl::StrCat("TLS handshake with ", address, " failed: ", tls.error());
}

void UpstreamConnection::onTlsRead(const char* data, size_t len) {
  const bool was_open = tls_->open();
  const TlsTransport::Result r = tls_->onCiphertext(data, len, &in_);
  if (r == TlsTransport::Result::Failed) {
    UpstreamFailure failure;
    const std::string reason = upstreamTlsFailure(*tls_, was_open, pool_->host.address,
                                                  cluster_->worker().stats(), &failure);
    fail(reason, failure);
    return;
  }
  if (r == TlsTransport::Result::Opened && state_ == State::Connecting) {
    timer_.disarm();
    state_ = State::Busy;
    if (cb_ != nullptr) {
      cb_->onUpstreamReady();
    }
  }
}

void UpstreamConnection::startReading() {
  if (reading_ || state_ == State::Closed) {
    return;
  }
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), threadReadBuffer,
                [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                  static_cast<UpstreamConnection*>(s->data)->onRead(nread, buf);
                });
}

void UpstreamConnection::pauseReading() {
  read_paused_ = true;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    reading_ = false;
  }
}

void UpstreamConnection::resumeReading() {
  read_paused_ = false;
  if (state_ == State::Busy || state_ == State::Idle) {
    startReading();
    if (in_off_ < in_.size() && raw_ == nullptr) {
      processInput();
    }
  }
}

void UpstreamConnection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (raw_ != nullptr) {
    onRawRead(nread, buf);
    return;
  }
  if (state_ == State::Connecting && tls_ != nullptr) {
    // The TLS handshake.
    if (nread < 0) {
      cluster_->worker().stats().upstream_tls_handshake_failed++;
      fail(absl::StrCat("TLS handshake with ", pool_->host.address,
                        " failed: the upstream closed the connection"),
           UpstreamFailure::TlsHandshake);
    } else if (nread > 0) {
      onTlsRead(buf->base, static_cast<size_t>(nread));
    }
    return;
  }
  if (state_ == State::Idle) {
    // An idle connection that speaks or closes is of no further use.
    close();
    return;
  }
  if (state_ != State::Busy) {
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && parser_.state() == http::Http1Parser::State::Body &&
        parser_.readUntilClose()) {
      parser_.finishOnEof();
      return;
    }
    fail(nread == UV_EOF ? "upstream closed the connection"
                         : absl::StrCat("upstream read error: ", uv_strerror(nread)),
         UpstreamFailure::Reset);
    return;
  }
  if (nread == 0) {
    return;
  }
  if (tls_ != nullptr) {
    onTlsRead(buf->base, static_cast<size_t>(nread));
    if (state_ != State::Busy) {
      return;
    }
  } else {
    in_.append(buf->base, nread);
  }
  // The request (a Stream) outlives this callback even if it completes here: streams are
  // deleted at the end of the loop iteration.
  UpstreamCallbacks* cb = cb_;
  if (cb != nullptr) {
    cb->onUpstreamReadBegin();
  }
  processInput();
  if (cb != nullptr) {
    cb->onUpstreamReadEnd();
  }
}

void UpstreamConnection::processInput() {
  while (state_ == State::Busy && in_off_ < in_.size()) {
    in_callback_ = true;
    const size_t n = parser_.feed(in_.data() + in_off_, in_.size() - in_off_);
    in_callback_ = false;
    in_off_ += n;
    if (raw_ != nullptr) {
      flushRawInput();  // switched to raw inside the 101's callback: the rest is tunnel bytes
      return;
    }
    if (pending_release_ != PendingRelease::None) {
      // The request released us from inside a parser callback: finish it now that the consumed
      // bytes are accounted for.
      const bool reusable = pending_release_ == PendingRelease::Reuse;
      pending_release_ = PendingRelease::None;
      release(reusable);
      break;
    }
    if (state_ != State::Busy) {
      break;
    }
    const auto st = parser_.state();
    if (st == http::Http1Parser::State::Error) {
      fail(absl::StrCat("invalid response from upstream: ", parser_.error().message),
           UpstreamFailure::ProtocolError);
      return;
    }
    if (st == http::Http1Parser::State::Complete) {
      if (parser_.informational()) {
        if (switched_) {
          pauseReading();  // not HTTP any more: kept for startRaw() (or dropped with us)
          break;
        }
        parser_.reset();
        continue;
      }
      break;
    }
    if (n == 0) {
      break;
    }
  }
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > 64 * 1024) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
}

// The parser callbacks below may run after the request let go of this connection inside an
// earlier callback of the same feed() (the client vanished while its body was being written:
// Stream::onDownstreamClosed releases the upstream; processInput finishes the release after
// feed() returns). The rest of that input then has nobody to go to: cb_ is null.

void UpstreamConnection::onResponseHead(http::ResponseHead&& head) {
  response_started_ = true;
  if (head.status == 101) {
    switched_ = true;
  }
  if (cb_ != nullptr) {
    cb_->onUpstreamHead(std::move(head), parser_.informational());
  }
}

void UpstreamConnection::onBody(absl::string_view data) {
  if (cb_ != nullptr) {
    cb_->onUpstreamBody(data);
  }
}

void UpstreamConnection::onTrailers(HeaderMap&& trailers) {
  if (cb_ != nullptr) {
    cb_->onUpstreamTrailers(std::move(trailers));
  }
}

void UpstreamConnection::onMessageComplete() {
  if (parser_.informational()) {
    return;
  }
  response_complete_ = true;
  if (cb_ != nullptr) {
    cb_->onUpstreamComplete();
  }
}

void UpstreamConnection::write(std::string&& data) {
  if (state_ != State::Closed) {
    afterWrite(writer_.write(std::move(data)));
  }
}

void UpstreamConnection::write(absl::string_view data) {
  if (state_ != State::Closed) {
    afterWrite(writer_.write(data));
  }
}

void UpstreamConnection::afterWrite(int rc) {
  if (rc != 0) {
    fail(absl::StrCat("upstream write error: ", uv_strerror(rc)), UpstreamFailure::Reset);
  }
}

void UpstreamConnection::onWriteDone(int status) {
  if (status == UV_ECANCELED || state_ == State::Closed) {
    return;
  }
  if (status != 0) {
    fail(absl::StrCat("upstream write error: ", uv_strerror(status)), UpstreamFailure::Reset);
    return;
  }
  if (state_ == State::Busy && writeQueueSize() <= kLowWatermark) {
    if (cb_ != nullptr) {
      cb_->onUpstreamWritable();
    } else if (raw_ != nullptr) {
      raw_->onUpstreamRawWritable();
    }
  }
}

void UpstreamConnection::release(bool reusable) {
  if (state_ == State::Closed) {
    return;
  }
  cb_ = nullptr;
  if (in_callback_) {
    pending_release_ = reusable ? PendingRelease::Reuse : PendingRelease::Close;
    return;
  }
  HostPool& pool = *pool_;
  const bool can_pool = reusable && response_complete_ && !switched_ && state_ == State::Busy &&
                        in_off_ == in_.size() && !cluster_->retired() &&
                        pool.idle.size() < cluster_->config().max_idle_per_endpoint;
  if (!can_pool) {
    close();
    return;
  }
  state_ = State::Idle;
  pool.idle.push_back(this);
  resumeReading();  // notice a close by the upstream while idle
  armIdleTimer();
}

void UpstreamConnection::armIdleTimer() {
  const uint64_t ms = cluster_->config().idle_timeout.count();
  if (ms > 0) {
    timer_.arm(ms, [](void* owner) { static_cast<UpstreamConnection*>(owner)->close(); });
  }
}

void UpstreamConnection::fail(const std::string& reason, UpstreamFailure failure) {
  UpstreamCallbacks* cb = cb_;
  UpstreamRawCallbacks* raw = raw_;
  const bool before = !response_started_;
  close();
  if (cb != nullptr) {
    cb->onUpstreamFailure(reason, failure, before);
  } else if (raw != nullptr) {
    raw->onUpstreamRawClosed(reason);
  }
}

void UpstreamConnection::close() {
  if (state_ == State::Closed) {
    return;
  }
  if (state_ == State::Idle) {
    auto& idle = pool_->idle;
    idle.erase(std::remove(idle.begin(), idle.end(), this), idle.end());
  }
  state_ = State::Closed;
  cb_ = nullptr;
  raw_ = nullptr;
  pool_->total--;
  cluster_->worker().stats().upstream_cx_active--;
  auto on_close = [](uv_handle_t* h) {
    auto* self = static_cast<UpstreamConnection*>(h->data);
    if (--self->handles_open_ == 0) {
      delete self;
    }
  };
  writer_.discard();  // what was written leaves before the close, as it did unbatched
  timer_.stop();
  uv_close(timer_.asHandle(), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), on_close);
}

} // namespace gw::server
