#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "source/http2/server_session.h"
#include "source/server/runtime_config.h"

namespace gw::server {

class DownstreamConnection;
class Http2Stream;

// The HTTP/2 side of a DownstreamConnection: its nghttp2 session (source/http2) and one
// Http2Stream (and Stream) per request stream. The DownstreamConnection keeps the socket: it
// hands read bytes to onInput(), frames leave through its write path, and its timer drives the
// idle checks and the streams' route deadlines here. Frames are produced only while the socket's write queue is under the high
// watermark (a client that does not read gets nothing more, and its control frames queue up
// inside nghttp2 until the outbound-ACK limit ends the session).
class Http2Connection : public http2::ServerSessionCallbacks {
public:
  Http2Connection(DownstreamConnection& conn, const Http2Settings& settings);
  ~Http2Connection() override;

  void onInput(absl::string_view data);
  // After a batch of input: sends what it produced, closes a finished session.
  void afterInput();
  // The socket's write queue drained: more frames, and paused streams may resume.
  void onWritable();
  // GOAWAY (last stream id processed): open streams finish, then the connection closes.
  void drain();
  // The socket is closing: every open stream is aborted.
  void onConnectionClosed();
  void onTimer();
  bool wantsRead() const { return session_.wantsRead(); }
  bool draining() const { return draining_; }

  // Used by Http2Stream.
  http2::ServerSession& session() { return session_; }
  // Sends pending frames now, unless corked or inside the session (then soon).
  void flushSoon();
  void cork();
  void uncork();
  bool corked() const { return corked_ > 0; }
  // Streams holding a response head back while corked (Http2Stream::sendResponseHead): the
  // outermost uncork() submits what is still held.
  void addPendingHead() { pending_heads_++; }
  void removePendingHead() { pending_heads_--; }
  // A stream's route deadline (loop time, ms) was set: the connection's timer fires by then.
  // Streams keep their own deadlines (Http2Stream::routeDeadlineMs); one timer per connection
  // serves them all and the idle checks, so a stream costs no timer of its own.
  void armStreamDeadline(uint64_t deadline_ms);

  // Response data held per connection before every stream counts as blocked.
  static constexpr size_t kMaxQueuedPerConnection = 4 << 20;

  // http2::ServerSessionCallbacks
  void onRequestHead(int32_t id, http::RequestHead&& head,
                     const http2::RequestInfo& info) override;
  void onRequestData(int32_t id, absl::string_view data) override;
  void onRequestTrailers(int32_t id, HeaderMap&& trailers) override;
  void onRequestEnd(int32_t id) override;
  void onRequestRejected(int32_t id, int status, absl::string_view code,
                         absl::string_view message) override;
  void onStreamClose(int32_t id, uint32_t error_code) override;
  void onStreamWritable(int32_t id) override;
  void onEvent(http2::Event e) override;
  bool onSessionOutput(absl::string_view bytes) override;

private:
  static http2::SessionOptions sessionOptions(const Http2Settings& s, uint32_t max_headers);
  Http2Stream* find(int32_t id);
  void flush();
  void checkDone();
  void armTimer();
  void notifyAllWritable();

  DownstreamConnection& conn_;
  const Http2Settings settings_;  // a copy: the connection may outlive its config
  http2::ServerSession session_;
  absl::flat_hash_map<int32_t, std::unique_ptr<Http2Stream>> streams_;
  uint64_t idle_ms_ = 0;        // the listener's idle timeout (no open stream)
  uint64_t idle_since_ms_ = 0;  // when the last stream ended
  uint64_t next_timer_ms_ = 0;  // when the connection's timer fires next (loop time)
  int corked_ = 0;
  int pending_heads_ = 0;
  bool draining_ = false;
  bool closed_ = false;
};

} // namespace gw::server
