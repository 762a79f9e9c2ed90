#include "source/server/downstream_connection.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "source/server/access_log.h"
#include "source/server/error_response.h"
#include "source/server/http2_connection.h"
#include "source/server/read_buffer.h"
#include "source/server/stream.h"
#include "source/server/upgrade_tunnel.h"

namespace gw::server {

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
  if (listener_->tls != nullptr) {
    // This connection keeps this SSL (and its context) whatever pushes come later.
    tls_ = std::make_unique<TlsTransport>(listener_->tls->newSsl(), listener_->tls, writer_);
  }
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
  if (h2_ != nullptr) {
    if (!closing_ && !repin()) {
      drain();  // the listener is gone: GOAWAY, the open streams finish
    }
    return;
  }
  if (stream_ || closing_ || tunnel_) {
    return;  // the current request keeps the config it started with; the next one re-pins
  }
  // Idle: hold the newest config rather than keep an old generation alive until the next request.
  if (!repin()) {
    drain();  // the listener is gone
  }
}

void DownstreamConnection::armWaitTimer() {
  if (closing_ || h2_ != nullptr) {
    return;
  }
  const bool partial = head_started_ || in_off_ < in_.size();
  const TimerMode mode = partial ? TimerMode::Headers : TimerMode::Idle;
  if (mode == timer_mode_) {
    return;
  }
  timer_mode_ = mode;
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(
      0, (mode == TimerMode::Headers ? listener_->request_headers_timeout
                                     : listener_->idle_timeout)
             .count()));
  if (draining_ && mode == TimerMode::Idle && (ms == 0 || ms > kDrainIdleMs)) {
    ms = kDrainIdleMs;  // draining: an idle connection does not wait for its idle timeout
  }
  if (ms == 0) {
    timer_.disarm();
    return;
  }
  timer_.arm(ms, [](void* owner) { static_cast<DownstreamConnection*>(owner)->onTimer(); });
}

void DownstreamConnection::armRequestTimer(uint64_t ms) {
  timer_mode_ = TimerMode::None;
  timer_.arm(ms, [](void* owner) {
    auto* c = static_cast<DownstreamConnection*>(owner);
    if (c->stream_) {
      c->stream_->onRouteTimeout();
    }
  });
}

void DownstreamConnection::disarmRequestTimer() { timer_.disarm(); }

void DownstreamConnection::armHttp2Timer(uint64_t ms) {
  timer_mode_ = TimerMode::None;
  timer_.arm(ms, [](void* owner) {
    auto* c = static_cast<DownstreamConnection*>(owner);
    if (c->h2_ != nullptr && !c->closing_) {
      c->h2_->onTimer();
    }
  });
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
  if (h2_ != nullptr) {
    // HTTP/2 input is bounded by the flow-control windows; control frames are not, and each
    // may queue an answer: nothing is read while the client does not read what we write.
    want = writer_.queuedBytes() <= kHighWatermark && h2_->wantsRead();
  } else if (tunnel_started_) {
    want = !tunnel_read_paused_;
  }
  if (want && !reading_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), threadReadBuffer,
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
  if (tunnel_started_) {
    onTunnelRead(nread, buf);
    return;
  }
  if (nread < 0) {
    peer_closed_ = true;
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    // A half-closed client may still be waiting for the response to a complete request, when
    // the listener keeps serving such clients; by default a client that closed has gone.
    if (h2_ == nullptr && stream_ && stream_->requestComplete() && nread == UV_EOF &&
        !listener_->abort_on_client_close) {
      return;
    }
    close(true);
    return;
  }
  if (nread == 0) {
    return;
  }
  if (tls_ != nullptr) {
    onTlsRead(buf->base, static_cast<size_t>(nread));
    return;
  }
  in_.append(buf->base, nread);
  // Responses produced while this input is processed (direct responses, pipelined requests)
  // leave in one write.
  cork();
  processInput();
  uncork();
}

void DownstreamConnection::onTlsRead(const char* data, size_t len) {
  cork();
  const TlsTransport::Result r = tls_->onCiphertext(data, len, &in_);
  if (r == TlsTransport::Result::Failed) {
    uncork();
    onTlsFailed();
    return;
  }
  if (r == TlsTransport::Result::Opened) {
    onTlsOpened();
  }
  if (tls_->writeError() != 0) {
    uncork();
    close(true);
    return;
  }
  processInput();
  uncork();
  if (r == TlsTransport::Result::PeerClosed && !closing_) {
    onRead(UV_EOF, nullptr);  // close_notify: as the end of the stream
  }
}

void DownstreamConnection::onTlsOpened() {
  worker_.stats().downstream_tls_handshakes++;
  tls::PeerCertInfo info;
  if (tls::verifiedPeerCert(tls_->session().ssl(), &info)) {
    peer_cert_ = std::make_unique<tls::PeerCertInfo>(std::move(info));
  }
  if (negotiatedProtocol() == "h2") {
    startHttp2();  // ALPN chose h2 (offered only where the listener enables HTTP/2)
  }
}

void DownstreamConnection::onTlsFailed() {
  if (!tls_->open() && tls_->session().state() == tls::Session::State::Failed) {
    worker_.stats().downstream_tls_handshake_failed++;
    // At most kMaxLines lines a second per worker; the counter has them all.
    constexpr int kMaxLines = 20;
    thread_local int64_t second = 0;
    thread_local int lines = 0;
    const int64_t now = static_cast<int64_t>(uv_now(worker_.loop()) / 1000);
    if (now != second) {
      second = now;
      lines = 0;
    }
    if (lines++ < kMaxLines) {
      const absl::string_view sni = tls_->session().serverName();
      fprintf(stderr, "gatewayd: tls handshake failed: listener=%s client=%s sni=%s reason=%s\n",
              listener_name_.c_str(), client_ip_.c_str(),
              sni.empty() ? "-" : std::string(sni).c_str(), tls_->error().c_str());
    }
  }
  close();  // graceful: the alert goes out before the FIN
}

void DownstreamConnection::processInput() {
  if (processing_input_) {
    return;  // nested call (e.g. a stream completed while being fed): the outer loop continues
  }
  processing_input_ = true;
  processInputLoop();
  processing_input_ = false;
}

DownstreamConnection::Preface DownstreamConnection::checkPreface() const {
  static constexpr absl::string_view kPreface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  const absl::string_view in(in_.data() + in_off_, in_.size() - in_off_);
  const size_t n = std::min(in.size(), kPreface.size());
  if (in.substr(0, n) != kPreface.substr(0, n)) {
    return Preface::No;
  }
  return n == kPreface.size() ? Preface::Yes : Preface::Maybe;
}

bool DownstreamConnection::startHttp2() {
  if (h2_ != nullptr) {
    return true;
  }
  if (closing_ || stream_ || listener_ == nullptr || !listener_->http2.enabled) {
    close(true);
    return false;
  }
  timer_.disarm();
  timer_mode_ = TimerMode::None;
  h2_ = std::make_unique<Http2Connection>(*this, listener_->http2);
  worker_.stats().http2.connections++;
  return true;
}

void DownstreamConnection::processInputLoop() {
  if (h2_ == nullptr && tls_ == nullptr && requests_served_ == 0 && !stream_ && !head_started_ &&
      listener_->http2.enabled && listener_->http2.allow_h2c &&
      parser_.state() == http::Http1Parser::State::Head) {
    // h2c with prior knowledge: the connection opens with the client preface.
    switch (checkPreface()) {
    case Preface::Maybe:
      updateReading();
      return;  // wait for the rest of the 24 bytes
    case Preface::Yes:
      startHttp2();
      break;
    case Preface::No:
      break;
    }
  }
  if (h2_ != nullptr) {
    if (!closing_ && in_off_ < in_.size()) {
      // nghttp2 consumes everything it is given (the session copies what it keeps).
      h2_->onInput(absl::string_view(in_.data() + in_off_, in_.size() - in_off_));
      in_.clear();
      in_off_ = 0;
    } else {
      in_.clear();
      in_off_ = 0;
    }
    if (!closing_) {
      h2_->afterInput();
      updateReading();
    }
    return;
  }
  while (!closing_) {
    const size_t avail = in_.size() - in_off_;
    const auto st = parser_.state();
    if (st == http::Http1Parser::State::Head) {
      // Draining too: a request already on the wire is served (with Connection: close).
      if (stream_ || avail == 0) {
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
  StreamFraming f;
  f.chunked = parser_.chunked();
  f.has_content_length = parser_.hasContentLength();
  f.content_length = parser_.contentLength();
  f.expect_continue = parser_.expectContinue();
  f.keep_alive = parser_.keepAlive();
  stream_ = std::make_unique<Stream>(*this, config_, *listener_, std::move(head), f);
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
  if (tunnel_) {
    startTunnel();  // the 101 went out: raw bytes from now on
    return;
  }
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
  const filters::ErrorInfo e = filters::ErrorInfo::make(filters::errorKindForStatus(err.status),
                                                        err.message, err.code, err.status);
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
    appendRejectionLogLine(id, client_ip_, err.status, err.code, worker_.accessLogBuffer());
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
  if (h2_ != nullptr) {
    h2_->onWritable();
    if (!closing_) {
      updateReading();
    }
    return;
  }
  if (stream_ && writeQueueSize() <= kLowWatermark) {
    stream_->onDownstreamWritable();
  }
  if (tunnel_started_ && writeQueueSize() <= kLowWatermark) {
    tunnel_->onDownstreamWritable();
  }
}

void DownstreamConnection::drain() {
  if (closing_) {
    return;
  }
  draining_ = true;
  if (h2_ != nullptr) {
    h2_->drain();  // GOAWAY; the open streams finish, then the connection closes
    return;
  }
  if (tunnel_) {
    tunnel_->onDrain();  // ends after the route's upgrade.drain_timeout
    return;
  }
  if (stream_) {
    return;  // closes after the current response (Connection: close)
  }
  if (head_started_ || in_off_ < in_.size()) {
    processInput();  // a request is arriving or waiting: it is served, then the connection closes
    return;
  }
  // Idle: closing now would lose a request the client has already sent; wait kDrainIdleMs.
  timer_mode_ = TimerMode::None;
  armWaitTimer();
}

void DownstreamConnection::close(bool abort) {
  if (closing_) {
    return;
  }
  if (abort) {
    writer_.discard();
  } else {
    writer_.flush();  // what gathered while corked goes out before the FIN
    if (tls_ != nullptr && tls_->open()) {
      tls_->shutdown();  // close_notify after the last response
    }
  }
  closing_ = true;
  if (stream_) {
    stream_->onDownstreamClosed();
    worker_.deferDelete(std::move(stream_));
  }
  if (h2_ != nullptr) {
    h2_->onConnectionClosed();  // every open stream is aborted
  }
  if (tunnel_) {
    tunnel_started_ = false;
    tunnel_->onDownstreamClosed();  // ends the upstream side too (nothing if the tunnel is ending)
    worker_.deferDelete(std::move(tunnel_));
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
    // HTTP/2: after a GOAWAY the client may still be sending frames.
    linger_ = !peer_closed_ && (h2_ != nullptr || st == http::Http1Parser::State::Error ||
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
    uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), threadReadBuffer,
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

void DownstreamConnection::sendResponseHead(http::ResponseHead& head,
                                            absl::string_view request_id, bool) {
  std::string& buf = Stream::scratchBuffer();
  http::serializeResponseHead(head, buf);
  if (!request_id.empty()) {
    // Written straight after the serialized fields (no header entry, no copy of the id).
    buf.resize(buf.size() - 2);  // before the blank line that ends the head
    http::appendHeaderLine("x-request-id", request_id, buf);
    buf.append("\r\n");
  }
  write(absl::string_view(buf));
}

void DownstreamConnection::sendResponseBody(absl::string_view data, bool chunked) {
  if (!chunked) {
    write(data);
    return;
  }
  std::string chunk;
  chunk.reserve(data.size() + 16);
  http::appendChunk(data, chunk);
  write(std::move(chunk));
}

void DownstreamConnection::sendResponseBody(std::string&& data, bool chunked) {
  if (!chunked) {
    write(std::move(data));
    return;
  }
  sendResponseBody(absl::string_view(data), true);
}

void DownstreamConnection::sendResponseEnd(bool chunked, const HeaderMap* trailers) {
  if (!chunked) {
    return;  // Content-Length or close-delimited: nothing marks the end
  }
  std::string last;
  http::appendLastChunk(trailers, last);
  write(std::move(last));
}

void DownstreamConnection::sendInformational(const http::ResponseHead& head) {
  std::string buf;
  http::serializeResponseHead(head, buf);
  write(std::move(buf));
}

void DownstreamConnection::sendContinue() {
  write(absl::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
}

void DownstreamConnection::finishClose() {
  if (--handles_open_ == 0) {
    worker_.onConnectionClosed(this);
  }
}

} // namespace gw::server
