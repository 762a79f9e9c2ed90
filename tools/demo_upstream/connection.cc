// The demo upstream's connection: reading and parsing requests, the x-demo-* controls, and the
// write path (backpressure, shutdown, reset). The responses themselves are in response.cc.
#include "tools/demo_upstream/connection.h"

namespace demo {

namespace {
char gReadBuffer[kReadBufferSize];
}  // namespace

Connection::Connection() {
  uv_tcp_init(gServer.loop, &tcp_);
  uv_timer_init(gServer.loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  openHandles_ = 2;
  llhttp_init(&parser_, HTTP_REQUEST, &gSettings);
  parser_.data = this;
  sha_ = EVP_MD_CTX_new();
  gServer.connections.insert(this);
  ++gServer.stats.activeConnections;
}

Connection::~Connection() {
  EVP_MD_CTX_free(sha_);
}

bool Connection::accept(uv_stream_t* listener) {
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  ++gServer.stats.connectionsAccepted;
  startReading();
  return true;
}

void Connection::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  // Single-threaded: each read is consumed (or copied) before the next alloc.
  *buf = uv_buf_init(gReadBuffer, sizeof(gReadBuffer));
}

void Connection::onReadCb(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  static_cast<Connection*>(stream->data)->onRead(nread);
}

void Connection::onWriteCb(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> w(static_cast<WriteReq*>(req->data));
  w->connection->onWriteDone(status, w->resetAfter);
}

void Connection::onShutdownCb(uv_shutdown_t* req, int status) {
  static_cast<Connection*>(req->data)->onShutdown(status);
}

void Connection::onTimerCb(uv_timer_t* timer) {
  static_cast<Connection*>(timer->data)->onTimer();
}

void Connection::onCloseCb(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->openHandles_ == 0) {
    delete c;
  }
}

void Connection::startReading() {
  if (reading_ || closed_ || readEof_) {
    return;
  }
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onReadCb) == 0) {
    reading_ = true;
  }
}

void Connection::stopReading() {
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
}

size_t Connection::queuedBytes() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void Connection::onRead(ssize_t nread) {
  if (closed_ || nread == 0) {
    return;
  }
  if (nread < 0) {
    stopReading();
    if (nread != UV_EOF) {
      closeNow();
      return;
    }
    readEof_ = true;
    if (ws_ != nullptr && !closing_) {
      closeGracefully();  // the client left the WebSocket without a close frame
      return;
    }
    if (closing_) {
      if (shutdownDone_) {
        closeNow();
      }
      return;
    }
    if (responding_ && timerUse_ == TimerUse::Delay) {
      // The peer went away while we were deliberately stalling: drop the connection so tests
      // see the upstream connection end promptly.
      closeNow();
      return;
    }
    if (!responding_ && !waitingDrain_) {
      drive();
    }
    return;
  }
  if (closing_) {
    return;  // Lingering close: discard.
  }
  const size_t n = static_cast<size_t>(nread);
  if (ws_ != nullptr) {
    webSocketFeed(std::string_view(gReadBuffer, n));
    return;
  }
  if (responding_ || waitingDrain_ || !pending_.empty()) {
    pending_.append(gReadBuffer, n);
    if (pending_.size() >= kMaxPendingInput) {
      stopReading();
    }
    return;
  }
  parse(gReadBuffer, n);
  if (!closing_ && !responding_) {
    drive();
  }
}

// Feeds buffered input to the parser while no response is in progress, then decides whether to
// read more or close. Re-entrant calls are folded into the outermost one.
void Connection::drive() {
  if (inDrive_) {
    needDrive_ = true;
    return;
  }
  inDrive_ = true;
  do {
    needDrive_ = false;
    while (!closing_ && !responding_ && !pending_.empty()) {
      if (queuedBytes() > kWriteHighWater) {
        waitingDrain_ = true;
        break;
      }
      std::string data;
      data.swap(pending_);
      parse(data.data(), data.size());
    }
    if (closing_) {
      break;
    }
    if (!responding_ && !waitingDrain_ && pending_.empty() && readEof_) {
      closeGracefully();
      break;
    }
    if (pending_.size() < kMaxPendingInput) {
      startReading();
    }
  } while (needDrive_ && !closing_);
  inDrive_ = false;
}

void Connection::parse(const char* data, size_t len) {
  const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK || closing_) {
    return;
  }
  if (err == HPE_PAUSED) {
    // Paused at the end of a request: keep the rest for after the response.
    const char* pos = llhttp_get_error_pos(&parser_);
    if (pos != nullptr && pos >= data && pos < data + len) {
      pending_.insert(0, pos, static_cast<size_t>(data + len - pos));
    }
    llhttp_resume(&parser_);
    startResponse();
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    closeGracefully();
    return;
  }
  if (!gServer.options.quiet) {
    fprintf(stderr, "demo_upstream %s: parse error %s (%s)\n", gServer.options.instance.c_str(),
            llhttp_errno_name(err), llhttp_get_error_reason(&parser_));
  }
  sendErrorAndClose(limitStatus_ != 0 ? limitStatus_ : 400);
}

int Connection::onMessageBegin(llhttp_t* p) {
  Connection& c = from(p);
  c.req_ = Request();
  EVP_DigestInit_ex(c.sha_, EVP_sha256(), nullptr);
  return 0;
}

int Connection::onUrl(llhttp_t* p, const char* at, size_t len) {
  Connection& c = from(p);
  if (c.req_.url.size() + len > kMaxUrlBytes) {
    c.limitStatus_ = 414;
    return -1;
  }
  c.req_.url.append(at, len);
  return 0;
}

int Connection::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  Connection& c = from(p);
  c.req_.headerBytes += len;
  if (c.req_.headerBytes > kMaxHeaderBytes) {
    c.limitStatus_ = 431;
    return -1;
  }
  c.req_.field.append(at, len);
  return 0;
}

int Connection::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  Connection& c = from(p);
  c.req_.headerBytes += len;
  if (c.req_.headerBytes > kMaxHeaderBytes) {
    c.limitStatus_ = 431;
    return -1;
  }
  c.req_.value.append(at, len);
  return 0;
}

int Connection::onHeaderValueComplete(llhttp_t* p) {
  return from(p).commitHeader();
}

int Connection::commitHeader() {
  if (++req_.headerCount > kMaxHeaderCount) {
    limitStatus_ = 431;
    return -1;
  }
  std::string name = std::move(req_.field);
  std::string value(trim(req_.value));
  req_.field.clear();
  req_.value.clear();
  for (char& ch : name) {
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  if (!req_.headersDone) {
    applyControl(name, value);
  }
  HeaderList& list = req_.headersDone ? req_.trailers : req_.headers;
  for (auto& [existing, joined] : list) {
    if (existing == name) {
      joined += ", ";
      joined += value;
      return 0;
    }
  }
  list.emplace_back(std::move(name), std::move(value));
  return 0;
}

void Connection::applyControl(std::string_view name, std::string_view value) {
  if (name.size() < 7 || name.substr(0, 7) != "x-demo-") {
    if (name == "expect" && equalsIgnoreCase(value, "100-continue")) {
      req_.expectContinue = true;
    }
    return;
  }
  const std::string_view key = name.substr(7);
  if (key == "delay-ms") {
    if (auto v = parseUint(value, kMaxDelayMs)) {
      req_.delayMs = *v;
    }
  } else if (key == "status") {
    if (auto v = parseUint(value, 999); v && *v >= 200) {
      req_.status = static_cast<int>(*v);
    }
  } else if (key == "reset") {
    req_.reset = isTrue(value);
  } else if (key == "reset-after-headers") {
    req_.resetAfterHeaders = isTrue(value);
  } else if (key == "stream-bytes") {
    req_.chunkedStreamBytes = parseUint(value, kMaxStreamBytes);
  } else if (key == "content-length-stream") {
    req_.lengthStreamBytes = parseUint(value, kMaxStreamBytes);
  } else if (key == "slow-body-ms") {
    if (auto v = parseUint(value, kMaxDelayMs)) {
      req_.slowBodyMs = *v;
    }
  } else if (key == "header") {
    const size_t colon = value.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view headerName = trim(value.substr(0, colon));
      if (!headerName.empty() && headerName.find_first_of(" \t") == std::string_view::npos) {
        req_.extraHeaders.emplace_back(std::string(headerName),
                                       std::string(trim(value.substr(colon + 1))));
      }
    }
  } else if (key == "trailers") {
    req_.trailersWanted = isTrue(value);
  } else if (key == "1xx") {
    req_.earlyHints = isTrue(value);
  }
}

int Connection::onHeadersComplete(llhttp_t* p) {
  Connection& c = from(p);
  Request& r = c.req_;
  r.headersDone = true;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  r.versionMajor = p->http_major;
  r.versionMinor = p->http_minor;
  r.keepAlive = llhttp_should_keep_alive(p) != 0 && p->upgrade == 0;
  r.isHead = p->method == HTTP_HEAD;
  r.isStats = r.path() == "/__stats";
  r.webSocket = p->upgrade != 0 && r.path() == kWebSocketEchoPath && r.status == 0 && !r.reset;
  r.endpoint = findEndpoint(r.path());
  if (!r.isStats) {
    ++gServer.stats.requests;
  }
  if (r.expectContinue && !r.isHttp10() && !r.reset) {
    if (!c.write("HTTP/1.1 100 Continue\r\n\r\n")) {
      return -1;
    }
  }
  return 0;
}

int Connection::onBody(llhttp_t* p, const char* at, size_t len) {
  Connection& c = from(p);
  EVP_DigestUpdate(c.sha_, at, len);
  if (c.req_.endpoint != nullptr && c.req_.endpointBody.size() < kMaxEndpointBody) {
    c.req_.endpointBody.append(at, std::min(len, kMaxEndpointBody - c.req_.endpointBody.size()));
  }
  c.req_.bodyBytes += len;
  return 0;
}

int Connection::onMessageComplete(llhttp_t* p) {
  Connection& c = from(p);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digestLen = 0;
  EVP_DigestFinal_ex(c.sha_, digest, &digestLen);
  static const char kHex[] = "0123456789abcdef";
  c.req_.bodySha256.clear();
  for (unsigned int i = 0; i < digestLen; ++i) {
    c.req_.bodySha256.push_back(kHex[digest[i] >> 4]);
    c.req_.bodySha256.push_back(kHex[digest[i] & 0xf]);
  }
  return HPE_PAUSED;
}

void Connection::pump() {
  while (streamRemaining_ > 0) {
    if (queuedBytes() > kWriteHighWater) {
      waitingWrite_ = true;
      return;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(streamRemaining_, chunkSize_));
    if (!writeFiller(n, streamChunked_)) {
      return;
    }
    streamRemaining_ -= n;
    if (slowMs_ > 0 && streamRemaining_ > 0) {
      startTimer(TimerUse::SlowBody, slowMs_);
      return;
    }
  }
  if (streamChunked_) {
    if (!write(streamTrailers_ ? "0\r\nx-demo-trailer: yes\r\n\r\n" : "0\r\n\r\n")) {
      return;
    }
  }
  finishResponse();
}

void Connection::finishResponse() {
  responding_ = false;
  if (!keepAlive_) {
    closeGracefully();
    return;
  }
  drive();
}

void Connection::sendErrorAndClose(int status) {
  if (closing_) {
    return;
  }
  responding_ = true;
  keepAlive_ = false;
  pending_.clear();
  stopReading();
  std::string out = statusLine(status);
  out += "content-type: text/plain\r\ncontent-length: 0\r\nx-demo-instance: ";
  out += gServer.options.instance;
  out += "\r\nconnection: close\r\n\r\n";
  if (write(std::move(out))) {
    closeGracefully();
  }
}

bool Connection::submit(std::unique_ptr<WriteReq> w) {
  if (closed_) {
    return false;
  }
  uv_buf_t bufs[3];
  unsigned int count = 0;
  if (!w->head.empty()) {
    bufs[count++] = uv_buf_init(w->head.data(), static_cast<unsigned int>(w->head.size()));
  }
  if (w->fillerBytes > 0) {
    bufs[count++] = uv_buf_init(gFiller, static_cast<unsigned int>(w->fillerBytes));
  }
  if (w->tail != nullptr) {
    bufs[count++] = uv_buf_init(const_cast<char*>(w->tail), static_cast<unsigned int>(2));
  }
  w->connection = this;
  w->req.data = w.get();
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), bufs, count, onWriteCb);
  if (rc != 0) {
    closeNow();
    return false;
  }
  w.release();
  return true;
}

bool Connection::write(std::string&& data, bool resetAfter) {
  auto w = std::make_unique<WriteReq>();
  w->head = std::move(data);
  w->resetAfter = resetAfter;
  return submit(std::move(w));
}

bool Connection::writeFiller(size_t bytes, bool chunked) {
  auto w = std::make_unique<WriteReq>();
  if (chunked) {
    w->head = toHex(bytes) + "\r\n";
    w->tail = "\r\n";
  }
  w->fillerBytes = bytes;
  return submit(std::move(w));
}

void Connection::onWriteDone(int status, bool resetAfter) {
  if (closed_) {
    return;
  }
  if (status < 0) {
    closeNow();
    return;
  }
  if (resetAfter) {
    resetNow();
    return;
  }
  if (closing_ || queuedBytes() > kWriteLowWater) {
    return;
  }
  if (ws_ != nullptr) {
    startReading();  // the echo's backpressure: read again once the echoes drained
    return;
  }
  if (waitingWrite_) {
    waitingWrite_ = false;
    pump();
  } else if (waitingDrain_) {
    waitingDrain_ = false;
    drive();
  }
}

// Half-closes after queued writes flush, then drains input until the peer closes (or a timeout),
// so the peer is not hit by a RST that could destroy the last response.
void Connection::closeGracefully() {
  if (closing_) {
    return;
  }
  closing_ = true;
  responding_ = false;
  pending_.clear();
  uv_timer_stop(&timer_);
  timerUse_ = TimerUse::None;
  shutdownReq_.data = this;
  if (uv_shutdown(&shutdownReq_, reinterpret_cast<uv_stream_t*>(&tcp_), onShutdownCb) != 0) {
    closeNow();
  }
}

void Connection::onShutdown(int status) {
  shutdownDone_ = true;
  if (closed_) {
    return;
  }
  if (status < 0 || readEof_) {
    closeNow();
    return;
  }
  startReading();
  startTimer(TimerUse::Linger, kLingerMs);
}

void Connection::closeNow() {
  if (closed_) {
    return;
  }
  closed_ = true;
  closing_ = true;
  reading_ = false;
  gServer.connections.erase(this);
  --gServer.stats.activeConnections;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onCloseCb);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onCloseCb);
}

void Connection::resetNow() {
  if (closed_) {
    return;
  }
  if (closing_ && !shutdownDone_) {
    closeNow();  // A shutdown is pending; libuv cannot reset now.
    return;
  }
  closed_ = true;
  closing_ = true;
  reading_ = false;
  gServer.connections.erase(this);
  --gServer.stats.activeConnections;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onCloseCb);
  if (uv_tcp_close_reset(&tcp_, onCloseCb) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onCloseCb);
  }
}

} // namespace demo

namespace demo {

// The WebSocket echo (websocket_echo.h): the handshake's answer, then the session owns the
// connection's bytes.
void Connection::startWebSocket() {
  bool ok = false;
  std::string out = webSocketHandshake(req_.headers, gServer.options.instance, &ok);
  if (!ok) {
    keepAlive_ = false;
    pending_.clear();
    stopReading();
    if (write(std::move(out))) {
      closeGracefully();
    }
    return;
  }
  if (!write(std::move(out))) {
    return;
  }
  ws_ = std::make_unique<WebSocketEcho>();
  std::string early;
  early.swap(pending_);  // frames the client sent right behind its handshake
  webSocketFeed(early);
  startReading();
}

void Connection::webSocketFeed(std::string_view data) {
  std::string out;
  const bool more = ws_->feed(data, out);
  if (!out.empty() && !write(std::move(out))) {
    return;
  }
  if (!more) {
    closeGracefully();  // a close was exchanged (or the protocol broken): FIN after the frames
    return;
  }
  if (queuedBytes() > kWriteHighWater) {
    stopReading();  // onWriteDone reads again below the low-water mark
  }
}

} // namespace demo
