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
#include "source/server/tls_transport.h"
#include "source/tls/peer_cert.h"
#include "source/server/worker.h"

namespace gw::server {

class Stream;

// One downstream (client) HTTP/1.1 connection on one worker: reads and parses requests, and
// writes responses with watermark backpressure. Requests are handled one at a time by a Stream:
// pipelined requests wait, already read, until the previous response is complete, so responses
// are always in order.
class DownstreamConnection : public http::Http1ParserCallbacks {
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
  void close(bool abort = false);
  // Draining: every response from now on carries Connection: close and the connection closes
  // after it; an idle connection closes after kDrainIdleMs without a request.
  void drain();
  // The worker switched configs (loop thread): an idle connection re-pins the newest config, or
  // drains if its listener is gone.
  void onConfigChanged();

  // Used by Stream.
  void write(std::string&& data);
  void write(absl::string_view data);
  // Runs queued input through the parser (e.g. a request body a Stream is now ready for).
  void processInput();
  size_t writeQueueSize() const { return writer_.queuedBytes(); }
  // While corked, writes gather and leave in one syscall at the outermost uncork().
  void cork() { writer_.cork(); }
  void uncork();
  void onStreamComplete(bool close_after);
  // The route timeout (whole request until the response head), on the connection's timer.
  void armRequestTimer(uint64_t ms);
  void disarmRequestTimer();
  void onRequestBodyWritable();  // upstream drained: resume reading the request body
  const std::string& clientIp() const { return client_ip_; }
  // What this connection's requests repeat: the Host checked last, the Forwarded element built
  // last (request preparation and the upstream head reuse them).
  HostMemo& hostMemo() { return host_memo_; }
  ForwardedMemo& forwardedMemo() { return forwarded_memo_; }
  Worker& worker() { return worker_; }
  const std::string& listenerName() const { return listener_name_; }
  bool draining() const { return draining_; }
  uint32_t requestsServed() const { return requests_served_; }
  bool requestBodyBlocked() const;
  size_t bufferedBytes() const { return in_.size() - in_off_; }  // read, not yet parsed
  // TLS: the verified client certificate (nullptr: none, or plaintext), and the protocol ALPN
  // chose ("http/1.1"; empty: none or plaintext). The lead routes "h2" to the h2 codec here.
  const tls::PeerCertInfo* peerCert() const { return peer_cert_.get(); }
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
  void updateReading();
  void armWaitTimer();
  void onTimer();
  void onWriteDone(int status);
  void afterWrite(int rc);
  void rejectCodecError(const http::CodecError& err);
  void finishClose();
  void afterShutdown(int status);
  void closeLingering();
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
  int handles_open_ = 0;
};

} // namespace gw::server
