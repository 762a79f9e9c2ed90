#pragma once

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "source/server/deadline_timer.h"
#include "source/server/h2_upstream_stream.h"
#include "source/server/socket_writer.h"
#include "source/server/tls_transport.h"
#include "source/server/upstream_connection.h"
#include "source/server/worker.h"

namespace gw::server {

// An HTTP/2 client connection to one upstream host (cluster protocol H2C, or H2 and AUTO over
// TLS): one nghttp2 client
// session multiplexing up to max_concurrent_streams requests (Cluster.http2; lowered by the
// peer's SETTINGS_MAX_CONCURRENT_STREAMS). Listed in its HostPool's `h2` while it takes new
// streams; a request that finds every listed connection at its cap opens a new one (within
// pool.max_connections_per_endpoint, which counts HTTP/2 connections too).
//
// Failures: a connect failure fails every stream with ConnectFailed, a closed or broken socket
// with Reset, a frame nghttp2 refuses with ProtocolError. A GOAWAY from the upstream takes the
// connection out of the pool; streams above its last-stream-id fail as refused (retryable once,
// like a stale keep-alive connection) and the others finish; the connection closes when empty.
//
// Flow control: the response side consumes (WINDOW_UPDATE) only what was passed to the request,
// so a paused request holds at most its stream window; the request side gives nghttp2 body bytes
// from each stream's bounded send buffer, and pulls frames from nghttp2 only while the socket's
// write queue is below kSocketHighWatermark.
//
// Socket I/O is the transport section (connect, onRead -> onInput, sendToSocket). On a cluster
// with `tls`, a TlsTransport sits between them: the handshake runs under the connect timeout,
// ciphertext read goes through onTlsInput, and the SocketWriter encrypts what sendToSocket
// writes. H2 speaks HTTP/2 unless the endpoint chose another protocol by ALPN (then
// ProtocolError); AUTO records the endpoint's choice in the HostPool, and when it is not h2 the
// waiting streams fail with AlpnHttp1 (nothing was sent) and their requests go again over
// HTTP/1.1.
class H2ClientConnection : public DeferredDeletable {
public:
  static constexpr size_t kSocketHighWatermark = 256 << 10;

  // A stream on a connection of `pool` with room, else on a new connection; nullptr when the
  // pool is at max_connections_per_endpoint and every connection is at its stream cap.
  static H2UpstreamStream* acquire(ClusterStateSharedPtr cluster, HostPool& pool,
                                 UpstreamCallbacks& cb);
  // The cluster was retired: no connection of `pool` takes new streams; each closes when its
  // last stream ends (idle ones now).
  static void drainPool(HostPool& pool);

  // Streams open or waiting on this connection (for the cap).
  size_t activeStreams() const { return streams_.size(); }
  const std::string& hostAddress() const { return pool_->host.address; }

private:
  friend class H2UpstreamStream;

  H2ClientConnection(ClusterStateSharedPtr cluster, HostPool& pool);
 public:
  ~H2ClientConnection() override;  // through Worker::deferDelete only

 private:
  bool hasRoom() const;
  H2UpstreamStream* attach(UpstreamCallbacks& cb);

  // Transport.
  void connect();
  void onConnect(int status);
  void startTls();
  // The connection is usable (TCP connected; with TLS, handshake done): waiting streams go.
  void onOpened();
  // Whether the protocol the endpoint chose by ALPN is one this connection may speak; fails the
  // connection when not.
  bool acceptAlpn();
  void onTlsInput(const char* data, size_t len);
  void startReading();
  void onRead(ssize_t nread, const uv_buf_t* buf);
  int sendToSocket(absl::string_view bytes);
  void onWriteDone(int status);

  // Session.
  void initSession();
  void onInput(const char* data, size_t len);
  // Hands what nghttp2 has to send to the socket (not from inside nghttp2 callbacks), then
  // tells streams whose send buffer drained that they are writable.
  void flush();
  void consume(int32_t stream_id, size_t n);
  void onGoaway(int32_t last_stream_id, uint32_t error_code);
  // No new streams from now on; closes once no stream is left.
  void stopTakingStreams();
  // Frees released, closed streams; closes a draining connection that is empty and arms the idle
  // timer of an open one. Not inside nghttp2 callbacks.
  void reap();
  void scheduleDeferred();
  void runDeferred();
  void fail(const std::string& reason, UpstreamFailure failure);
  void close();
  // Once closed, with its handles closed and every stream released: freed at the end of the
  // loop iteration.
  void maybeDelete();
  H2UpstreamStream* streamOf(int32_t id) const;

  static int onBeginHeadersCb(nghttp2_session*, const nghttp2_frame* f, void* self);
  static int onHeaderCb(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name,
                        size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                        void* self);
  static int onFrameRecvCb(nghttp2_session*, const nghttp2_frame* f, void* self);
  static int onDataChunkCb(nghttp2_session*, uint8_t flags, int32_t stream_id,
                           const uint8_t* data, size_t len, void* self);
  static int onStreamCloseCb(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                             void* self);
  static int onFrameNotSendCb(nghttp2_session*, const nghttp2_frame* f, int lib_error,
                              void* self);

  enum class State { Connecting, Open, Draining, Closed };
  ClusterStateSharedPtr cluster_;
  HostPool* pool_;
  uint32_t max_streams_;
  uv_tcp_t handle_;
  uv_connect_t connect_req_;
  DeadlineTimer timer_;     // connect timeout, then idle timeout
  event::TimerPtr deferred_;  // failures and frees that must not run on the caller's stack
  SocketWriter writer_;
  std::unique_ptr<TlsTransport> tls_;  // clusters with `tls`; after writer_ (it detaches first)
  std::string plain_;                  // plaintext out of one read (TLS)
  nghttp2_session* session_ = nullptr;
  std::vector<std::unique_ptr<H2UpstreamStream>> streams_;
  std::vector<H2UpstreamStream*> writable_;  // send buffers that drained during a flush
  State state_ = State::Connecting;
  bool in_session_ = false;    // inside nghttp2_session_mem_recv / mem_send
  bool flushing_ = false;
  bool opened_ = false;        // connected (and, with TLS, the handshake done): frames may go
  bool goaway_ = false;
  bool deleting_ = false;
  int handles_open_ = 0;
};

} // namespace gw::server
