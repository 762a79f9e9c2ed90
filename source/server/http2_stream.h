#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "source/http2/server_session.h"
#include "source/server/runtime_config.h"
#include "source/server/stream_connection.h"
#include "source/server/worker.h"

namespace gw::server {

class DownstreamConnection;
class Http2Connection;
class Stream;

// One HTTP/2 stream of an Http2Connection, as its Stream's StreamConnection: it owns the Stream,
// feeds it the request (head, body as the Stream can take it, trailers, end) and submits the
// Stream's response to the session as frames. Request bytes the Stream has not taken yet wait
// here; the flow-control windows reopen (consume) only as the Stream takes them, so a client
// cannot send more than its window ahead of the upstream. Deleted (deferred) once nghttp2 has
// closed the stream; the Stream goes with it.
class Http2Stream final : public StreamConnection, public DeferredDeletable {
public:
  Http2Stream(Http2Connection& owner, DownstreamConnection& conn, int32_t id);
  ~Http2Stream() override;

  void start(RuntimeConfigConstSharedPtr config, const ListenerConfig& listener,
             http::RequestHead&& head, const http2::RequestInfo& info);
  void onData(absl::string_view data);
  void onTrailers(HeaderMap&& trailers);
  void onEnd();
  // nghttp2 closed the stream: a Stream still running is aborted (its upstream request too).
  void onClosed(uint32_t error_code);
  // The connection is gone.
  void onConnectionClosed();
  void onWritable();
  int32_t id() const { return id_; }
  uint64_t lastActivityMs() const { return last_activity_ms_; }
  // The route timeout's deadline (loop time, ms); 0 when none is armed.
  uint64_t routeDeadlineMs() const { return route_deadline_ms_; }
  // The connection's timer found the deadline passed: the Stream times out (504).
  void onRouteDeadline();

  // StreamConnection
  Worker& worker() override { return worker_; }
  const std::string& clientIp() const override;
  HostMemo& hostMemo() override;
  ForwardedMemo& forwardedMemo() override;
  bool draining() const override;
  uint32_t requestsServed() const override { return 0; }
  const tls::PeerCertInfo* peerCert() const override;
  size_t bufferedBytes() const override { return in_.size(); }
  size_t writeQueueSize() const override;
  void processInput() override;
  void onRequestBodyWritable() override { processInput(); }
  void armRequestTimer(uint64_t ms) override;
  void disarmRequestTimer() override;
  void cork() override;
  void uncork() override;
  void close(bool abort = false) override;
  void onStreamComplete(bool close_after) override;
  void sendResponseHead(http::ResponseHead& head, absl::string_view request_id,
                        bool end_stream) override;
  void sendResponseBody(absl::string_view data, bool chunked) override;
  void sendResponseBody(std::string&& data, bool chunked) override;
  void sendResponseEnd(bool chunked, const HeaderMap* trailers) override;
  void sendInformational(const http::ResponseHead& head) override;
  void sendContinue() override;

  // Submits a head held back by sendResponseHead (see there), if any.
  void submitPendingHead(bool end_stream);

private:
  void touch();
  void deliver();
  void abort();
  http2::ServerSession* session() const;

  Http2Connection* owner_;  // null once the connection is closed
  DownstreamConnection& conn_;
  Worker& worker_;
  const int32_t id_;
  std::unique_ptr<Stream> stream_;
  std::string in_;  // request body not yet taken by the Stream (not yet consumed)
  HeaderMap trailers_;
  // A response head held back while the connection is corked: when the response ends before
  // anything else is sent (an upstream's headers-only answer, e.g. a gRPC trailers-only
  // status), it goes out as one HEADERS frame with END_STREAM, as gRPC clients require.
  std::optional<http::ResponseHead> pending_head_;
  std::string pending_request_id_;
  uint64_t route_deadline_ms_ = 0;  // loop time; 0: none (the connection's timer watches it)
  uint64_t last_activity_ms_ = 0;
  bool end_received_ = false;
  bool end_delivered_ = false;
  bool has_trailers_ = false;
  bool delivering_ = false;
  bool head_ended_ = false;  // the response head carried END_STREAM
  bool finished_ = false;    // the Stream completed
  bool aborted_ = false;     // the Stream was aborted (reset, connection gone)
};

} // namespace gw::server
