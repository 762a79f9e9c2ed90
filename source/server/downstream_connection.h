#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>

#include "source/filters/filter.h"
#include "source/http/http1_codec.h"
#include "source/server/deadline_timer.h"
#include "source/server/header_policy.h"
#include "source/server/request_preparation.h"
#include "source/server/socket_writer.h"
#include "source/server/stream_connection.h"
#include "source/server/tls_transport.h"
#include "source/tls/peer_cert.h"
#include "source/server/worker.h"

namespace gw::server {

class Stream;
class Http2Connection;
class UpgradeTunnel;

// One downstream (client) connection on one worker: the socket, its timers, reading, and
// writing with watermark backpressure. It speaks HTTP/1.1 itself: requests are handled one at a
// time by a Stream (the connection is the Stream's StreamConnection): pipelined requests wait,
// already read, until the previous response is complete, so responses are always in order.
// A connection that starts with the HTTP/2 client preface on a listener that allows h2c (or that
// startHttp2() switches, e.g. after ALPN "h2") hands its input to an Http2Connection instead,
// which runs one Stream per HTTP/2 stream; the socket, reading and writing stay here.
class DownstreamConnection : public http::Http1ParserCallbacks, public StreamConnection {
public:
  static constexpr size_t kHighWatermark = 1 << 20;
  static constexpr size_t kLowWatermark = 256 << 10;
  static constexpr size_t kMaxPipelinedBytes = 64 * 1024;
  // Lingering close: how long unread client input is drained after an early final response.
  static constexpr uint64_t kLingerMs = 2000;
  // Draining: an idle connection closes once it has been idle this long (a request already on
  // the wire still arrives and is served, with Connection: close).
  static constexpr uint64_t kDrainIdleMs = 1000;

  DownstreamConnection(Worker& worker, std::string listener_name);
  ~DownstreamConnection();
  uv_tcp_t* handle() { return &handle_; }
  void start();
  // Closes now (graceful: pending writes are flushed first unless `abort`).
  void close(bool abort = false) override;
  // Draining: every response from now on carries Connection: close and the connection closes
  // after it; an idle connection closes after kDrainIdleMs without a request.
  void drain();
  // The worker switched configs (loop thread): an idle connection re-pins the newest config, or
  // drains if its listener is gone.
  void onConfigChanged();

  // Switches this connection to HTTP/2 (h2c prior knowledge, or ALPN "h2" after a TLS
  // handshake): input from now on (what is already buffered included, starting with the client
  // preface) goes to an nghttp2 session. Call before any request was read. False when the
  // listener does not enable HTTP/2 (the connection then closes).
  bool startHttp2();
  bool isHttp2() const { return h2_ != nullptr; }

  void write(std::string&& data);
  void write(absl::string_view data);
  const std::string& listenerName() const { return listener_name_; }
  bool requestBodyBlocked() const;
  size_t pendingWrites() const { return writer_.pendingWrites(); }
  // HTTP/2: a new stream re-pins the newest config; false if it lacks this listener.
  bool repinForStream() { return repin(); }
  const RuntimeConfigConstSharedPtr& pinnedConfig() const { return config_; }
  const ListenerConfig& listenerConfig() const { return *listener_; }
  // HTTP/2: the connection timer (idle connection, stream idle sweep, drain).
  void armHttp2Timer(uint64_t ms);

  // StreamConnection (the HTTP/1.1 side; Http2Stream is the HTTP/2 one).
  // Runs queued input through the parser (e.g. a request body a Stream is now ready for).
  void processInput() override;
  size_t writeQueueSize() const override { return writer_.queuedBytes(); }
  // While corked, writes gather and leave in one syscall at the outermost uncork().
  void cork() override { writer_.cork(); }
  void uncork() override;
  void onStreamComplete(bool close_after) override;
  // The route timeout (whole request until the response head), on the connection's timer.
  void armRequestTimer(uint64_t ms) override;
  void disarmRequestTimer() override;
  void onRequestBodyWritable() override;  // upstream drained: resume reading the request body
  const std::string& clientIp() const override { return client_ip_; }
  // What this connection's requests repeat: the Host checked last, the Forwarded element built
  // last (request preparation and the upstream head reuse them).
  HostMemo& hostMemo() override { return host_memo_; }
  ForwardedMemo& forwardedMemo() override { return forwarded_memo_; }
  Worker& worker() override { return worker_; }
  DownstreamConnection* http1Connection() override { return this; }
  bool draining() const override { return draining_; }
  uint32_t requestsServed() const override { return requests_served_; }
  size_t bufferedBytes() const override { return in_.size() - in_off_; }  // read, not parsed
  // HTTP/1 framing of the Stream's response.
  void sendResponseHead(http::ResponseHead& head, absl::string_view request_id,
                        bool end_stream) override;
  void sendResponseBody(absl::string_view data, bool chunked) override;
  void sendResponseBody(std::string&& data, bool chunked) override;
  void sendResponseEnd(bool chunked, const HeaderMap* trailers) override;
  void sendInformational(const http::ResponseHead& head) override;
  void sendContinue() override;

  // Upgrade tunnel (downstream_connection_tunnel.cc). The stream hands over the tunnel once the
  // 101 went out; when the stream completes, the connection stops parsing and carries raw bytes
  // for the tunnel, which closes it at the end.
  void setTunnel(std::unique_ptr<UpgradeTunnel> tunnel);
  void setTunnelReading(bool on);  // the tunnel's backpressure on reading from the client
  void shutdownWrite();            // FIN after what is queued; reading goes on
  // TLS: the verified client certificate (nullptr: none, or plaintext), and the protocol ALPN
  // chose ("h2" or "http/1.1"; empty: none or plaintext). "h2" switches to HTTP/2 (onTlsOpened).
  const tls::PeerCertInfo* peerCert() const override { return peer_cert_.get(); }
  absl::string_view negotiatedProtocol() const {
    return tls_ != nullptr ? tls_->session().alpn() : absl::string_view();
  }

  // Http1ParserCallbacks (request side)
  void onRequestHead(http::RequestHead&& head) override;
  void onBody(absl::string_view data) override;
  void onTrailers(HeaderMap&& trailers) override;
  void onMessageComplete() override;

private:
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onTlsRead(const char* data, size_t len);
  void onTlsOpened();
  void onTlsFailed();
  void processInputLoop();
  // h2c prior knowledge: the input starts with the client preface (wait while it may).
  enum class Preface { No, Maybe, Yes };
  Preface checkPreface() const;
  void updateReading();
  void armWaitTimer();
  void onTimer();
  void onWriteDone(int status);
  void afterWrite(int rc);
  void rejectCodecError(const http::CodecError& err);
  void finishClose();
  void afterShutdown(int status);
  void closeLingering();
  void startTunnel();
  void onTunnelRead(ssize_t nread, const uv_buf_t* buf);
  // Points config_/listener_ at the worker's newest config; false if it lacks this listener.
  bool repin();

  Worker& worker_;
  std::string listener_name_;
  const ListenerConfig* listener_ = nullptr;  // from the config pinned for the current request
  RuntimeConfigConstSharedPtr config_;
  uv_tcp_t handle_;
  DeadlineTimer timer_;
  SocketWriter writer_;
  std::unique_ptr<TlsTransport> tls_;  // HTTPS listeners only; after writer_ (it detaches first)
  std::unique_ptr<tls::PeerCertInfo> peer_cert_;
  enum class TimerMode { None, Idle, Headers } timer_mode_ = TimerMode::None;
  http::Http1Parser parser_;
  std::string in_;
  size_t in_off_ = 0;
  std::string client_ip_;
  HostMemo host_memo_;
  ForwardedMemo forwarded_memo_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<Http2Connection> h2_;
  std::unique_ptr<UpgradeTunnel> tunnel_;
  uint32_t requests_served_ = 0;
  bool reading_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool draining_ = false;
  bool close_after_write_ = false;
  bool head_started_ = false;  // part of a request head was consumed (request_headers_timeout)
  bool linger_ = false;         // close(): drain unread input after the FIN (see close())
  bool lingering_ = false;      // FIN sent, discarding input until EOF or kLingerMs
  bool linger_closed_ = false;
  bool stream_pending_start_ = false;  // stream_ created by onRequestHead, not started yet
  bool processing_input_ = false;
  bool tunnel_started_ = false;
  bool tunnel_read_paused_ = false;
  int handles_open_ = 0;
};

} // namespace gw::server
