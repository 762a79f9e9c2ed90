#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>

#include "source/http/http1_codec.h"
#include "source/server/upstream_connection.h"
#include "source/server/upstream_handle.h"

namespace gw::server {

class H2ClientConnection;

// One request on a multiplexed HTTP/2 upstream connection. The request writes the HTTP/1.1
// message it would send to an HTTP/1.1 upstream; this parses it (the strict HTTP/1 request
// parser) and turns it into HTTP/2: the head into one HEADERS frame (Host becomes :authority,
// connection-specific fields are dropped, te is kept only as "trailers", and a gRPC call always
// carries te: trailers), the de-chunked body into DATA frames through a bounded send buffer, and
// chunked trailers into a trailing HEADERS frame. The response comes back through the same
// UpstreamCallbacks an HTTP/1.1 connection uses, so the request needs no protocol knowledge.
//
// Owned by its H2ClientConnection, which frees it once both the request released it and the
// HTTP/2 stream is closed (or was never opened).
class H2UpstreamStream : public UpstreamHandle, public http::Http1ParserCallbacks {
public:
  H2UpstreamStream(H2ClientConnection& conn, UpstreamCallbacks& cb);
  ~H2UpstreamStream() override;

  // UpstreamHandle (from the request)
  void write(std::string&& data) override { write(absl::string_view(data)); }
  void write(absl::string_view data) override;
  size_t writeQueueSize() const override { return send_buf_.size() - send_off_; }
  void release(bool reusable) override;
  void pauseReading() override { paused_ = true; }
  void resumeReading() override;
  // Only a stream the upstream refused unprocessed may be sent again on another connection: a
  // reset of a stream that was sent says nothing about whether the upstream acted on it.
  bool reused() const override { return refused_; }
  // The connection is up: the request may write now (else onUpstreamReady follows).
  bool ready() const { return ready_; }

  // Http1ParserCallbacks (the request's own HTTP/1.1 bytes)
  void onRequestHead(http::RequestHead&& head) override;
  void onBody(absl::string_view data) override;
  void onTrailers(HeaderMap&& trailers) override;
  void onMessageComplete() override;

private:
  friend class H2ClientConnection;

  // From the connection (nghttp2 callbacks and connection events).
  void onConnected();
  void onBeginHeaders();
  // False: a malformed response field (the stream is reset).
  bool onHeader(absl::string_view name, absl::string_view value);
  void onHeadersEnd(bool end_stream);
  void onData(const uint8_t* data, size_t len);
  void onEndStream();
  void onClosed(uint32_t error_code);
  // The connection failed or refused the stream: tell the request (once).
  void fail(const std::string& reason, UpstreamFailure failure);
  // nghttp2's data source: copies pending body bytes into `buf`.
  ssize_t readData(uint8_t* buf, size_t length, uint32_t* data_flags);
  // Passes held response events on while not paused.
  void deliverHeld();
  void submitRequest(const http::RequestHead& head);
  void resumeData();
  bool deletable() const;

  H2ClientConnection* conn_;
  UpstreamCallbacks* cb_;
  http::Http1Parser parser_;
  int32_t id_ = -1;
  // Request body bytes not yet given to nghttp2 (bounded by the request's high watermark).
  std::string send_buf_;
  size_t send_off_ = 0;
  HeaderMap request_trailers_;
  // The response as it arrives (head fields, then trailers).
  http::ResponseHead head_;
  HeaderMap trailers_;
  // Response bytes received while paused: not yet consumed, so the stream window bounds them.
  std::string held_;
  std::string fail_reason_;
  bool has_body_ = false;
  bool request_done_ = false;   // the whole request (head, body, trailers) was parsed
  bool eof_sent_ = false;       // END_STREAM submitted
  bool deferred_ = false;       // the data source is waiting for bytes
  bool head_done_ = false;      // the final response head arrived
  bool in_trailers_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool complete_held_ = false;  // END_STREAM arrived while paused
  bool trailers_held_ = false;
  bool paused_ = false;
  bool released_ = false;       // the request let go (or was told of a failure)
  bool h2_closed_ = false;      // nghttp2 closed the stream (or it never opened)
  bool ready_ = false;          // the connection was up (the request was or will be told)
  bool refused_ = false;        // the upstream did not process it (GOAWAY, REFUSED_STREAM)
  bool protocol_error_ = false;
  bool pending_fail_ = false;   // refused before submit: failed from the connection's timer
  bool above_low_ = false;      // send buffer above the low watermark since the last writable
};

} // namespace gw::server
