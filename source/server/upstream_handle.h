#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace gw::server {

class UpstreamConnection;

// One request's hold on an upstream, whatever the protocol: a pooled HTTP/1.1 connection
// (UpstreamConnection) or one stream of a multiplexed HTTP/2 connection (H2UpstreamStream).
// The request writes its HTTP/1.1 message (head as serialized by header_policy, body framed by
// Content-Length or chunked, trailers in the last chunk); an HTTP/2 stream translates it into
// HEADERS / DATA / trailing HEADERS. Events come back through UpstreamCallbacks.
class UpstreamHandle {
public:
  virtual void write(std::string&& data) = 0;
  virtual void write(absl::string_view data) = 0;
  // Request bytes accepted but not yet sent (backpressure: the request stops reading its body
  // above UpstreamConnection::kHighWatermark and waits for onUpstreamWritable).
  virtual size_t writeQueueSize() const = 0;
  // The request is done with it (no callback follows). `reusable`: the exchange completed.
  virtual void release(bool reusable) = 0;
  // Stop / resume delivering the response (downstream backpressure).
  virtual void pauseReading() = 0;
  virtual void resumeReading() = 0;
  // A failure before the response may be retried once on a fresh connection: the connection was
  // reused (HTTP/1.1 keep-alive) or the upstream refused the stream unprocessed (HTTP/2 GOAWAY
  // or REFUSED_STREAM).
  virtual bool reused() const = 0;
  // The HTTP/1.1 connection itself (an Upgrade tunnel takes it over); nullptr for an HTTP/2
  // stream.
  virtual UpstreamConnection* http1Connection() { return nullptr; }

protected:
  ~UpstreamHandle() = default;
};

} // namespace gw::server
