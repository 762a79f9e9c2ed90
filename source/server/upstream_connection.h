#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "source/http/http1_codec.h"
#include "source/server/deadline_timer.h"
#include "source/server/socket_writer.h"
#include "source/server/tls_transport.h"
#include "source/server/upstream_handle.h"
#include "source/server/worker.h"

namespace gw::server {

// Why an upstream connection failed a request.
enum class UpstreamFailure : uint8_t {
  ConnectFailed,   // connect error, refused, or connect timeout
  Reset,           // closed, reset or a write/read error
  ProtocolError,   // a response the parser refused
  TlsHandshake,    // the TLS handshake failed (certificate not verified, no common version...)
  AlpnHttp1,       // an AUTO cluster's endpoint chose HTTP/1.1 by ALPN on a connection opened
                   // for HTTP/2: nothing was sent; the request goes again over HTTP/1.1
};

// A TLS read that failed on an upstream connection (HTTP/1.1 or HTTP/2): before the handshake
// completed (`was_open` false) it is a TlsHandshake failure, counted in
// upstream_tls_handshake_failed; after, a Reset. Sets `failure` and returns the reason.
std::string upstreamTlsFailure(const TlsTransport& tls, bool was_open, const std::string& address,
                               WorkerStats& stats, UpstreamFailure* failure);

// What a pooled upstream connection reports to the request that is using it.
class UpstreamCallbacks {
public:
  virtual ~UpstreamCallbacks() = default;
  virtual void onUpstreamReady() = 0;  // connected (or reused): the request may be written
  virtual void onUpstreamHead(http::ResponseHead&& head, bool informational) = 0;
  virtual void onUpstreamBody(absl::string_view data) = 0;
  virtual void onUpstreamTrailers(HeaderMap&& trailers) = 0;
  virtual void onUpstreamComplete() = 0;
  // `before_response`: no response byte was received. The connection has closed itself.
  virtual void onUpstreamFailure(const std::string& reason, UpstreamFailure failure,
                                 bool before_response) = 0;
  // The write queue fell below the low watermark.
  virtual void onUpstreamWritable() = 0;
  // Bracket the processing of one read from the upstream, so the downstream writes it causes
  // (response head and body) can leave together.
  virtual void onUpstreamReadBegin() {}
  virtual void onUpstreamReadEnd() {}
};

// What a connection switched to raw bytes (a tunnel after 101 Switching Protocols) reports.
class UpstreamRawCallbacks {
public:
  virtual ~UpstreamRawCallbacks() = default;
  virtual void onUpstreamRawData(absl::string_view data) = 0;
  virtual void onUpstreamRawEof() = 0;  // the upstream closed its side (FIN)
  // A read or write failed: the connection has closed itself.
  virtual void onUpstreamRawClosed(const std::string& reason) = 0;
  virtual void onUpstreamRawWritable() = 0;  // the write queue fell below the low watermark
};

// An HTTP/1.1 connection to one upstream host, owned by its HostPool while idle and by the
// request while busy. Closes itself; never outlives its ClusterState.
class UpstreamConnection : public UpstreamHandle, public http::Http1ParserCallbacks {
public:
  static constexpr size_t kHighWatermark = 1 << 20;
  static constexpr size_t kLowWatermark = 256 << 10;

  // Takes an idle connection from the pool or opens a new one; nullptr if the pool is full.
  static UpstreamConnection* acquire(ClusterStateSharedPtr cluster, HostPool& pool,
                                     UpstreamCallbacks& cb, bool head_request);

  void write(std::string&& data) override;
  void write(absl::string_view data) override;
  size_t writeQueueSize() const override { return writer_.queuedBytes(); }
  // The request is done with this connection. Reusable ones go back to the pool.
  void release(bool reusable) override;
  // Stop/resume reading the response (downstream backpressure).
  void pauseReading() override;
  void resumeReading() override;
  bool reused() const override { return reused_; }
  UpstreamConnection* http1Connection() override { return this; }
  const upstream::Host& host() const { return pool_->host; }
  bool responseStarted() const { return response_started_; }

  // Raw mode (upstream_connection_raw.cc). After a 101 head the parser stops and reading pauses;
  // startRaw() then hands the rest of the input and every later read to `cb` unparsed. A switched
  // connection is never pooled again.
  bool switchedProtocols() const { return switched_; }
  void startRaw(UpstreamRawCallbacks& cb);
  void shutdownWrite();  // FIN after what is queued
  void closeRaw();       // closes now (queued bytes are sent first where the socket takes them)

  // Http1ParserCallbacks
  void onResponseHead(http::ResponseHead&& head) override;
  void onBody(absl::string_view data) override;
  void onTrailers(HeaderMap&& trailers) override;
  void onMessageComplete() override;

private:
  UpstreamConnection(ClusterStateSharedPtr cluster, HostPool& pool);
  ~UpstreamConnection();
  void connect();
  void startReading();
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onConnected();
  void onTlsRead(const char* data, size_t len);
  void processInput();
  void fail(const std::string& reason, UpstreamFailure failure);
  void close();
  void armIdleTimer();
  void onWriteDone(int status);
  void afterWrite(int rc);
  void onRawRead(ssize_t nread, const uv_buf_t* buf);
  void flushRawInput();

  enum class State { Connecting, Busy, Idle, Closed };
  ClusterStateSharedPtr cluster_;
  HostPool* pool_;
  UpstreamCallbacks* cb_ = nullptr;
  UpstreamRawCallbacks* raw_ = nullptr;  // raw mode: who gets the bytes
  uv_tcp_t handle_;
  uv_connect_t connect_req_;
  DeadlineTimer timer_;
  SocketWriter writer_;
  std::unique_ptr<TlsTransport> tls_;  // clusters with `tls`; after writer_ (it detaches first)
  http::Http1Parser parser_;
  std::string in_;
  size_t in_off_ = 0;
  State state_ = State::Connecting;
  bool reading_ = false;
  bool read_paused_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool in_callback_ = false;
  bool switched_ = false;  // a 101 head arrived: what follows is not HTTP
  enum class PendingRelease { None, Reuse, Close } pending_release_ = PendingRelease::None;
  int handles_open_ = 0;
};

} // namespace gw::server
