// demo_upstream: a small single-threaded HTTP/1.1 origin server on libuv + llhttp, used by the
// demo, the integration tests and the benchmarks.
//
// Flags:
//   --port N              port to listen on (required; 0 picks a free port, printed on startup)
//   --address A           address to bind (default 127.0.0.1; IPv6 literals accepted)
//   --service NAME        service name reported in the JSON body (default "demo")
//   --instance NAME       instance name (default "<service>-<port>")
//   --delay-ms N          answer every request after N ms
//   --fail-status N       answer every request with status N
//   --stream-bytes N      every default body is N bytes of filler (Content-Length) instead of JSON
//   --quiet               no per-request log lines on stderr
//   --jwks-dir DIR        serve GET /.well-known/jwks.json from DIR/jwks.json (jwks_endpoint.h)
//
// Per-request headers (override the flags):
//   x-demo-delay-ms: N                 respond after N ms (timer, not blocking)
//   x-demo-status: N                   respond with status N (body still the JSON)
//   x-demo-reset: 1                    reset the connection (RST) instead of responding
//   x-demo-reset-after-headers: 1      send the response headers, then reset
//   x-demo-stream-bytes: N             N bytes of filler body, chunked
//   x-demo-content-length-stream: N    N bytes of filler body with Content-Length
//   x-demo-slow-body-ms: N             when streaming, wait N ms between 16 KiB chunks
//   x-demo-header: name: value         add a response header (may repeat)
//   x-demo-trailers: 1                 chunked response ending with trailer `x-demo-trailer: yes`
//   x-demo-1xx: 1                      send `103 Early Hints` before the final response
//
// Filler bodies are deterministic: byte i of the body is kFillerPattern[i % 64].
//
// Connection model: one request is answered at a time per connection. The parser pauses at the
// end of each request; pipelined bytes wait (bounded) until the response has been fully queued,
// so responses go out in order. Request bodies stream through SHA-256 and are never buffered.
// Response bodies are written with backpressure on the libuv write queue.

#include "tools/demo_upstream/endpoints.h"
#include "tools/demo_upstream/jwks_endpoint.h"
#include "tools/demo_upstream/text_util.h"

#include <openssl/evp.h>
#include <signal.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "llhttp.h"

namespace demo {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
constexpr size_t kFastChunkSize = 64 * 1024;
constexpr size_t kSlowChunkSize = 16 * 1024;
// Stop producing response bytes while more than this is queued in libuv, resume below low water.
constexpr size_t kWriteHighWater = 256 * 1024;
constexpr size_t kWriteLowWater = 64 * 1024;
// Pipelined input buffered while a response is in progress; reading stops above this.
constexpr size_t kMaxPendingInput = 256 * 1024;
constexpr size_t kMaxUrlBytes = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxHeaderCount = 256;
constexpr uint64_t kLingerMs = 2000;
constexpr uint64_t kMaxDelayMs = 24ull * 3600 * 1000;
constexpr uint64_t kMaxStreamBytes = 1ull << 50;
constexpr char kFillerPattern[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-\n";
static_assert(sizeof(kFillerPattern) - 1 == 64, "filler pattern must be 64 bytes");

struct Options {
  std::string address = "127.0.0.1";
  int port = -1;
  std::string service = "demo";
  std::string instance;
  uint64_t delayMs = 0;
  int failStatus = 0;
  std::optional<uint64_t> streamBytes;
  bool quiet = false;
  std::string jwksDir;
};

struct Stats {
  uint64_t requests = 0;
  uint64_t connectionsAccepted = 0;
  uint64_t activeConnections = 0;
};

class Connection;

struct Server {
  Options options;
  Stats stats;
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  std::unordered_set<Connection*> connections;
  bool stopping = false;
};

Server gServer;
char gReadBuffer[kReadBufferSize];
char gFiller[kFastChunkSize];
llhttp_settings_t gSettings;

struct Request {
  std::string method;
  std::string url;
  std::string field;
  std::string value;
  bool headersDone = false;
  HeaderList headers;
  HeaderList trailers;
  size_t headerBytes = 0;
  size_t headerCount = 0;
  uint64_t bodyBytes = 0;
  std::string bodySha256;
  int versionMajor = 1;
  int versionMinor = 1;
  bool keepAlive = true;
  bool isHead = false;
  bool isStats = false;
  // An application endpoint (endpoints.h) answers this request; its body is kept for it.
  EndpointHandler endpoint = nullptr;
  std::string endpointBody;
  // Controls from x-demo-* headers.
  std::optional<uint64_t> delayMs;
  int status = 0;
  bool reset = false;
  bool resetAfterHeaders = false;
  bool trailersWanted = false;
  bool earlyHints = false;
  bool expectContinue = false;
  std::optional<uint64_t> chunkedStreamBytes;
  std::optional<uint64_t> lengthStreamBytes;
  uint64_t slowBodyMs = 0;
  HeaderList extraHeaders;

  std::string_view path() const {
    const size_t q = url.find('?');
    return q == std::string::npos ? std::string_view(url) : std::string_view(url).substr(0, q);
  }
  std::string_view query() const {
    const size_t q = url.find('?');
    return q == std::string::npos ? std::string_view() : std::string_view(url).substr(q + 1);
  }
  bool isHttp10() const { return versionMajor == 1 && versionMinor == 0; }
};

class Connection {
public:
  Connection();
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool accept(uv_stream_t* listener);
  void closeNow();

  // llhttp callbacks; public so the settings table can name them.
  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t len);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValueComplete(llhttp_t* p);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t len);
  static int onMessageComplete(llhttp_t* p);

private:
  enum class TimerUse { None, Delay, SlowBody, Linger };

  struct WriteReq {
    uv_write_t req;
    Connection* connection;
    std::string head;
    size_t fillerBytes = 0;
    const char* tail = nullptr;
    bool resetAfter = false;
  };

  // libuv / llhttp trampolines.
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onReadCb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWriteCb(uv_write_t* req, int status);
  static void onShutdownCb(uv_shutdown_t* req, int status);
  static void onTimerCb(uv_timer_t* timer);
  static void onCloseCb(uv_handle_t* handle);
  static Connection& from(llhttp_t* parser) { return *static_cast<Connection*>(parser->data); }

  void onRead(ssize_t nread);
  void onWriteDone(int status, bool resetAfter);
  void onShutdown(int status);
  void onTimer();

  void startReading();
  void stopReading();
  size_t queuedBytes() const;
  void drive();
  void parse(const char* data, size_t len);
  int commitHeader();
  void applyControl(std::string_view name, std::string_view value);

  void startResponse();
  void sendFinal();
  void sendStats();
  void sendEndpoint();
  void sendErrorAndClose(int status);
  std::string buildJson() const;
  void pump();
  void finishResponse();
  void closeGracefully();
  void resetNow();
  void startTimer(TimerUse use, uint64_t ms);

  bool write(std::string&& data, bool resetAfter = false);
  bool writeFiller(size_t bytes, bool chunked);
  bool submit(std::unique_ptr<WriteReq> w);

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_shutdown_t shutdownReq_;
  llhttp_t parser_;
  EVP_MD_CTX* sha_ = nullptr;
  Request req_;
  std::string pending_;
  TimerUse timerUse_ = TimerUse::None;
  int openHandles_ = 0;
  int limitStatus_ = 0;
  bool reading_ = false;
  bool readEof_ = false;
  bool responding_ = false;
  bool keepAlive_ = true;
  bool closing_ = false;
  bool closed_ = false;
  bool shutdownDone_ = false;
  bool inDrive_ = false;
  bool needDrive_ = false;
  bool waitingWrite_ = false;
  bool waitingDrain_ = false;
  // Streaming body state.
  uint64_t streamRemaining_ = 0;
  bool streamChunked_ = false;
  bool streamTrailers_ = false;
  size_t chunkSize_ = kFastChunkSize;
  uint64_t slowMs_ = 0;
};

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

void Connection::startResponse() {
  responding_ = true;
  keepAlive_ = req_.keepAlive;
  if (req_.isStats) {
    sendStats();
    return;
  }
  if (req_.earlyHints && !req_.reset && !req_.isHttp10()) {
    if (!write("HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n")) {
      return;
    }
  }
  const uint64_t delay = req_.delayMs.value_or(gServer.options.delayMs);
  if (delay > 0) {
    startTimer(TimerUse::Delay, delay);
    return;
  }
  sendFinal();
}

void Connection::startTimer(TimerUse use, uint64_t ms) {
  timerUse_ = use;
  // libuv measures timeouts from the loop's cached time, taken when this iteration began; a
  // request parsed late in a busy iteration would otherwise be answered up to that much early
  // (a 150 ms delay measured at 149 ms by the proxy).
  uv_update_time(uv_handle_get_loop(reinterpret_cast<uv_handle_t*>(&timer_)));
  uv_timer_start(&timer_, onTimerCb, ms, 0);
}

void Connection::onTimer() {
  const TimerUse use = timerUse_;
  timerUse_ = TimerUse::None;
  if (closed_) {
    return;
  }
  switch (use) {
    case TimerUse::Delay: sendFinal(); break;
    case TimerUse::SlowBody: pump(); break;
    case TimerUse::Linger: closeNow(); break;
    case TimerUse::None: break;
  }
}

std::string Connection::buildJson() const {
  std::string out;
  out.reserve(512 + req_.headerBytes * 2);
  out += "{\"service\":";
  appendJsonString(out, gServer.options.service);
  out += ",\"instance\":";
  appendJsonString(out, gServer.options.instance);
  out += ",\"method\":";
  appendJsonString(out, req_.method);
  out += ",\"path\":";
  appendJsonString(out, req_.path());
  out += ",\"query\":";
  appendJsonString(out, req_.query());
  out += ",\"headers\":";
  appendJsonObject(out, req_.headers);
  out += ",\"body_bytes\":";
  out += std::to_string(req_.bodyBytes);
  out += ",\"body_sha256\":";
  appendJsonString(out, req_.bodySha256);
  out += ",\"http_version\":";
  appendJsonString(out,
                   std::to_string(req_.versionMajor) + "." + std::to_string(req_.versionMinor));
  out += ",\"trailers\":";
  appendJsonObject(out, req_.trailers);
  out += "}";
  return out;
}


// An application endpoint's answer (endpoints.h), after any x-demo-delay-ms.
void Connection::sendEndpoint() {
  const EndpointRequest er{req_.method, req_.path(), req_.query(), req_.headers, req_.endpointBody,
                           gServer.options.service, gServer.options.instance};
  EndpointResponse r = req_.endpoint(er);
  if (r.hang) {
    return;  // never answered: the connection stays open until the client gives up
  }
  if (req_.status != 0) {
    r.status = req_.status;  // x-demo-status
  }
  std::string out = statusLine(r.status);
  out += "content-type: " + r.content_type + "\r\ncontent-length: " + std::to_string(r.body.size());
  for (const auto& [name, value] : r.headers) {
    out += "\r\n" + name + ": " + value;
  }
  out += keepAlive_ ? "\r\n\r\n" : "\r\nconnection: close\r\n\r\n";
  if (!req_.isHead) {
    out += r.body;
  }
  if (!gServer.options.quiet) {
    fprintf(stderr, "demo_upstream %s: %s %s -> %d\n", gServer.options.instance.c_str(),
            req_.method.c_str(), req_.url.c_str(), r.status);
  }
  if (write(std::move(out))) {
    finishResponse();
  }
}

void Connection::sendStats() {
  const Stats& s = gServer.stats;
  std::string body = "{\"requests\":" + std::to_string(s.requests) +
                     ",\"connections_accepted\":" + std::to_string(s.connectionsAccepted) +
                     ",\"active_connections\":" + std::to_string(s.activeConnections) + "}";
  std::string out = statusLine(200);
  out += "content-type: application/json\r\ncontent-length: ";
  out += std::to_string(body.size());
  out += "\r\nx-demo-instance: ";
  out += gServer.options.instance;
  if (!keepAlive_) {
    out += "\r\nconnection: close";
  } else if (req_.isHttp10()) {
    out += "\r\nconnection: keep-alive";
  }
  out += "\r\n\r\n";
  if (!req_.isHead) {
    out += body;
  }
  if (write(std::move(out))) {
    finishResponse();
  }
}

void Connection::sendFinal() {
  if (req_.endpoint != nullptr && !req_.reset) {
    sendEndpoint();
    return;
  }
  if (req_.reset) {
    if (!gServer.options.quiet) {
      fprintf(stderr, "demo_upstream %s: %s %s -> reset\n", gServer.options.instance.c_str(),
              req_.method.c_str(), req_.url.c_str());
    }
    resetNow();
    return;
  }
  const Options& opt = gServer.options;
  const bool healthz = req_.path() == "/healthz";
  int jwksStatus = 0;
  std::string jwksBody;
  const bool jwks = demo::serveJwks(opt.jwksDir, req_.path(), jwksStatus, jwksBody);
  const int status = jwks ? jwksStatus
                          : req_.status != 0 ? req_.status
                                             : (opt.failStatus != 0 ? opt.failStatus : 200);
  const bool bodyAllowed = status != 204 && status != 304;

  enum class Kind { Fixed, Stream };
  Kind kind = Kind::Fixed;
  uint64_t streamBytes = 0;
  bool chunked = false;
  std::string body;
  const char* contentType = "application/json";
  if (req_.chunkedStreamBytes) {
    kind = Kind::Stream;
    streamBytes = *req_.chunkedStreamBytes;
    chunked = true;
  } else if (req_.lengthStreamBytes) {
    kind = Kind::Stream;
    streamBytes = *req_.lengthStreamBytes;
  } else if (jwks) {
    body = std::move(jwksBody);
  } else if (healthz) {
    body = status == 200 ? "ok" : "unhealthy";
    contentType = "text/plain";
  } else if (opt.streamBytes) {
    kind = Kind::Stream;
    streamBytes = *opt.streamBytes;
  } else {
    body = buildJson();
  }
  if (kind == Kind::Stream) {
    contentType = "application/octet-stream";
  }
  if (req_.trailersWanted) {
    chunked = true;
  }
  if (req_.isHttp10()) {
    chunked = false;  // HTTP/1.0 clients do not understand chunked framing.
  }
  if (!bodyAllowed) {
    kind = Kind::Fixed;
    body.clear();
    chunked = false;
  }
  const bool trailers = chunked && req_.trailersWanted;

  std::string out = statusLine(status);
  if (bodyAllowed) {
    out += "content-type: ";
    out += contentType;
    if (chunked) {
      out += "\r\ntransfer-encoding: chunked";
    } else {
      out += "\r\ncontent-length: ";
      out += std::to_string(kind == Kind::Stream ? streamBytes : body.size());
    }
    out += "\r\n";
  }
  if (trailers) {
    out += "trailer: x-demo-trailer\r\n";
  }
  out += "x-demo-instance: ";
  out += opt.instance;
  out += "\r\n";
  for (const auto& [name, value] : req_.extraHeaders) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!keepAlive_) {
    out += "connection: close\r\n";
  } else if (req_.isHttp10()) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";

  if (!opt.quiet) {
    fprintf(stderr, "demo_upstream %s: %s %s -> %d\n", opt.instance.c_str(), req_.method.c_str(),
            req_.url.c_str(), status);
  }
  if (req_.resetAfterHeaders) {
    write(std::move(out), /*resetAfter=*/true);
    return;
  }
  const bool sendBody = bodyAllowed && !req_.isHead;
  if (kind == Kind::Fixed) {
    if (sendBody) {
      if (chunked) {
        if (!body.empty()) {
          out += toHex(body.size());
          out += "\r\n";
          out += body;
          out += "\r\n";
        }
        out += trailers ? "0\r\nx-demo-trailer: yes\r\n\r\n" : "0\r\n\r\n";
      } else {
        out += body;
      }
    }
    if (write(std::move(out))) {
      finishResponse();
    }
    return;
  }
  if (!write(std::move(out))) {
    return;
  }
  if (!sendBody) {
    finishResponse();
    return;
  }
  streamRemaining_ = streamBytes;
  streamChunked_ = chunked;
  streamTrailers_ = trailers;
  slowMs_ = req_.slowBodyMs;
  chunkSize_ = slowMs_ > 0 ? kSlowChunkSize : kFastChunkSize;
  pump();
}

// Writes filler while the write queue is short; resumed by write completions and the slow-body
// timer.
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

void onConnection(uv_stream_t* listener, int status) {
  if (status < 0 || gServer.stopping) {
    return;
  }
  auto* c = new Connection();
  if (!c->accept(listener)) {
    c->closeNow();
  }
}

void onSignal(uv_signal_t*, int) {
  if (gServer.stopping) {
    return;
  }
  gServer.stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.listener), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.sigint), nullptr);
  const std::vector<Connection*> all(gServer.connections.begin(), gServer.connections.end());
  for (Connection* c : all) {
    c->closeNow();
  }
}

void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --port N [--address A] [--service NAME] [--instance NAME] [--delay-ms N]\n"
          "          [--fail-status N] [--stream-bytes N] [--quiet] [--jwks-dir DIR]\n",
          argv0);
}

bool parseArgs(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool hasValue = false;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    if (arg == "--quiet") {
      opt.quiet = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      exit(0);
    }
    if (!hasValue) {
      if (i + 1 >= argc) {
        fprintf(stderr, "missing value for %s\n", arg.c_str());
        return false;
      }
      value = argv[++i];
    }
    if (arg == "--port") {
      auto v = parseUint(value, 65535);
      if (!v) {
        fprintf(stderr, "bad --port %s\n", value.c_str());
        return false;
      }
      opt.port = static_cast<int>(*v);
    } else if (arg == "--jwks-dir") {
      opt.jwksDir = value;
    } else if (arg == "--address") {
      opt.address = value;
    } else if (arg == "--service") {
      opt.service = value;
    } else if (arg == "--instance") {
      opt.instance = value;
    } else if (arg == "--delay-ms") {
      auto v = parseUint(value, kMaxDelayMs);
      if (!v) {
        fprintf(stderr, "bad --delay-ms %s\n", value.c_str());
        return false;
      }
      opt.delayMs = *v;
    } else if (arg == "--fail-status") {
      auto v = parseUint(value, 999);
      if (!v || *v < 200) {
        fprintf(stderr, "bad --fail-status %s (want 200..999)\n", value.c_str());
        return false;
      }
      opt.failStatus = static_cast<int>(*v);
    } else if (arg == "--stream-bytes") {
      auto v = parseUint(value, kMaxStreamBytes);
      if (!v) {
        fprintf(stderr, "bad --stream-bytes %s\n", value.c_str());
        return false;
      }
      opt.streamBytes = *v;
    } else {
      fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return false;
    }
  }
  if (opt.port < 0) {
    fprintf(stderr, "--port is required\n");
    return false;
  }
  return true;
}

void initSettings() {
  llhttp_settings_init(&gSettings);
  gSettings.on_message_begin = Connection::onMessageBegin;
  gSettings.on_url = Connection::onUrl;
  gSettings.on_header_field = Connection::onHeaderField;
  gSettings.on_header_value = Connection::onHeaderValue;
  gSettings.on_header_value_complete = Connection::onHeaderValueComplete;
  gSettings.on_headers_complete = Connection::onHeadersComplete;
  gSettings.on_body = Connection::onBody;
  gSettings.on_message_complete = Connection::onMessageComplete;
}

int run(int argc, char** argv) {
  Options& opt = gServer.options;
  if (!parseArgs(argc, argv, opt)) {
    usage(argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < sizeof(gFiller); ++i) {
    gFiller[i] = kFillerPattern[i % 64];
  }
  initSettings();

  gServer.loop = uv_default_loop();
  sockaddr_storage addr{};
  int rc = 0;
  if (opt.address.find(':') != std::string::npos) {
    rc = uv_ip6_addr(opt.address.c_str(), opt.port, reinterpret_cast<sockaddr_in6*>(&addr));
  } else {
    rc = uv_ip4_addr(opt.address.c_str(), opt.port, reinterpret_cast<sockaddr_in*>(&addr));
  }
  if (rc != 0) {
    fprintf(stderr, "bad --address %s: %s\n", opt.address.c_str(), uv_strerror(rc));
    return 2;
  }
  uv_tcp_init(gServer.loop, &gServer.listener);
  rc = uv_tcp_bind(&gServer.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&gServer.listener), 1024, onConnection);
  }
  if (rc != 0) {
    fprintf(stderr, "demo_upstream: cannot listen on %s:%d: %s\n", opt.address.c_str(), opt.port,
            uv_strerror(rc));
    return 1;
  }
  sockaddr_storage bound{};
  int boundLen = sizeof(bound);
  uv_tcp_getsockname(&gServer.listener, reinterpret_cast<sockaddr*>(&bound), &boundLen);
  const int port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (opt.instance.empty()) {
    opt.instance = opt.service + "-" + std::to_string(port);
  }

  uv_signal_init(gServer.loop, &gServer.sigterm);
  uv_signal_init(gServer.loop, &gServer.sigint);
  uv_signal_start(&gServer.sigterm, onSignal, SIGTERM);
  uv_signal_start(&gServer.sigint, onSignal, SIGINT);

  printf("demo_upstream %s/%s listening on %s:%d\n", opt.service.c_str(), opt.instance.c_str(),
         opt.address.c_str(), port);
  fflush(stdout);

  uv_run(gServer.loop, UV_RUN_DEFAULT);
  uv_loop_close(gServer.loop);
  return 0;
}

}  // namespace
}  // namespace demo

int main(int argc, char** argv) {
  return demo::run(argc, argv);
}
