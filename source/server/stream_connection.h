#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/http/message.h"

namespace gw::tls {
struct PeerCertInfo;
}

namespace gw::server {

class DownstreamConnection;
class Worker;
struct HostMemo;
struct ForwardedMemo;

// How a request's body is framed, as its codec read it.
struct StreamFraming {
  bool chunked = false;             // HTTP/1 chunked, or HTTP/2 without content-length
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool expect_continue = false;
  bool keep_alive = true;
  bool http2 = false;
};

// What a Stream (one request) needs from the connection it came on, whatever the protocol:
// HTTP/1.1 (DownstreamConnection, which serializes responses as HTTP/1 bytes) or HTTP/2 (one
// Http2Stream per stream, which submits frames to the connection's nghttp2 session). The Stream
// decides the response (status, fields, body, trailers); the connection frames it.
class StreamConnection {
public:
  virtual ~StreamConnection() = default;

  virtual Worker& worker() = 0;
  // The HTTP/1.1 connection itself, for what only HTTP/1.1 has (an Upgrade tunnel); nullptr on
  // HTTP/2.
  virtual DownstreamConnection* http1Connection() { return nullptr; }
  // TLS: the connection's verified client certificate (nullptr: none, or plaintext).
  virtual const tls::PeerCertInfo* peerCert() const = 0;
  virtual const std::string& clientIp() const = 0;
  virtual HostMemo& hostMemo() = 0;
  virtual ForwardedMemo& forwardedMemo() = 0;
  virtual bool draining() const = 0;
  virtual uint32_t requestsServed() const = 0;
  // Request bytes already read but not yet given to the stream (HTTP/1: decides whether an
  // early response can keep the connection).
  virtual size_t bufferedBytes() const = 0;
  // Response bytes waiting ahead of this stream's next write (backpressure on the upstream).
  virtual size_t writeQueueSize() const = 0;
  // The stream can take request body now: feed it what is buffered.
  virtual void processInput() = 0;
  virtual void onRequestBodyWritable() = 0;
  // The route timeout (whole request until the response head).
  virtual void armRequestTimer(uint64_t ms) = 0;
  virtual void disarmRequestTimer() = 0;
  // While corked, writes gather and leave together at the outermost uncork().
  virtual void cork() = 0;
  virtual void uncork() = 0;
  // The stream cannot go on (mid-response error): HTTP/1 closes the connection (abort: reset);
  // HTTP/2 resets the stream.
  virtual void close(bool abort = false) = 0;
  // The exchange is over (the Stream is done with the connection).
  virtual void onStreamComplete(bool close_after) = 0;

  // The response. `request_id`, when not empty, is added as x-request-id. `end_stream`: no body
  // or trailers follow (HTTP/1 ignores it: its framing says so).
  virtual void sendResponseHead(http::ResponseHead& head, absl::string_view request_id,
                                bool end_stream) = 0;
  // A body piece; `chunked`: HTTP/1 chunked framing (HTTP/2 ignores it).
  virtual void sendResponseBody(absl::string_view data, bool chunked) = 0;
  virtual void sendResponseBody(std::string&& data, bool chunked) = 0;
  // The end of the response. HTTP/1 writes the last chunk (with `trailers`, when given) when
  // `chunked`, else nothing; HTTP/2 ends the stream (with a trailer HEADERS frame).
  virtual void sendResponseEnd(bool chunked, const HeaderMap* trailers) = 0;
  // A 1xx other than 100 and 101 (103 Early Hints), and 100 Continue.
  virtual void sendInformational(const http::ResponseHead& head) = 0;
  virtual void sendContinue() = 0;
};

} // namespace gw::server
