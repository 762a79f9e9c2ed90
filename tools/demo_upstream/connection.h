#pragma once
// One client connection of the demo upstream: llhttp parsing, the x-demo-* controls, the response
// (response.cc) and the write path with backpressure (connection.cc).
#include <openssl/evp.h>
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
#include "tools/demo_upstream/endpoints.h"
#include "tools/demo_upstream/server_state.h"
#include "tools/demo_upstream/text_util.h"
#include "tools/demo_upstream/websocket_echo.h"

namespace demo {

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
  bool webSocket = false;  // an Upgrade request for the WebSocket echo (websocket_echo.h)
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
  void startWebSocket();
  void webSocketFeed(std::string_view data);
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
  // The WebSocket echo session once the handshake was answered: every read goes to it.
  std::unique_ptr<WebSocketEcho> ws_;
};

} // namespace demo
