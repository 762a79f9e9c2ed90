#pragma once

// The server side of one HTTP/2 connection over nghttp2, without sockets: bytes go in through
// receive(), frames come out through ServerSessionCallbacks::onSessionOutput() on flush(), and
// the requests arrive as typed events (head, data, trailers, end, close). Responses are submitted
// as a head, body pieces (buffered per stream and taken by nghttp2's data provider as the
// client's flow-control windows allow; deferred while empty) and an end with optional trailers.
//
// Flow control is the application's: automatic WINDOW_UPDATEs are off, and consume() reopens
// the windows for request bytes the application has taken (so a client can never have more in
// flight than the initial windows). Limits and abuse mitigations (rapid reset, control-frame and
// empty-DATA floods, CONTINUATION floods, oversized header lists) are set explicitly here; each
// one reports an Event.
//
// Unit-tested by feeding bytes (test/http2/server_session_test.cc); fuzzed the same way
// (test/fuzz/h2_session_fuzz.cc).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/http/message.h"

struct nghttp2_session;

namespace gw::http2 {

struct SessionOptions {
  uint32_t max_concurrent_streams = 100;
  uint32_t max_header_list_size = 60 * 1024;  // RFC 7541 size: name + value + 32 per field
  uint32_t max_header_count = 100;
  uint32_t max_frame_size = 16384;
  uint32_t initial_stream_window = 256 * 1024;
  uint32_t initial_connection_window = 1024 * 1024;
  uint32_t max_continuations = 8;
  // Token buckets (burst, then this many per second).
  uint32_t reset_rate = 100;
  uint32_t reset_burst = 200;
  uint32_t control_frame_rate = 100;  // SETTINGS, PING, PRIORITY from the client
  uint32_t control_frame_burst = 200;
  uint32_t max_consecutive_empty_data = 1;  // DATA without payload nor END_STREAM, in a row
  // Response data a stream may hold before isWriteBlocked() says so, and where it resumes.
  size_t stream_high_watermark = 1 << 20;
  size_t stream_low_watermark = 256 << 10;
};

// What the session detected; the connection counts them (/metrics).
enum class Event : uint8_t {
  RapidReset,          // client resets over the rate: GOAWAY ENHANCE_YOUR_CALM
  ControlFlood,        // SETTINGS/PING/PRIORITY over the rate: GOAWAY ENHANCE_YOUR_CALM
  EmptyDataFlood,      // empty DATA frames in a row: GOAWAY ENHANCE_YOUR_CALM
  ContinuationFlood,   // CONTINUATION frames over the limit: connection closed
  OutboundFlood,       // ACKs queued towards a client that does not read: connection closed
  HeaderListTooLarge,  // a request header block over the size or count limit: 431
  StreamRefused,       // a stream beyond max concurrent streams: RST_STREAM REFUSED_STREAM
  MalformedRequest,    // RFC 9113 8.2-8.3: RST_STREAM PROTOCOL_ERROR
  ProtocolError,       // any other connection error
};
inline constexpr int kEventCount = 9;
const char* eventName(Event e);

struct RequestInfo {
  bool end_stream = false;  // no body (END_STREAM on the HEADERS)
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool expect_continue = false;
};

class ServerSessionCallbacks {
public:
  virtual ~ServerSessionCallbacks() = default;
  // A valid request head: :method, :path (as target), :authority (as a Host field when the
  // request has none), cookies joined with "; " (RFC 9113 8.2.3). version_minor is 1.
  virtual void onRequestHead(int32_t id, http::RequestHead&& head, const RequestInfo& info) = 0;
  // Request body bytes: the windows reopen only when the application calls consume().
  virtual void onRequestData(int32_t id, absl::string_view data) = 0;
  virtual void onRequestTrailers(int32_t id, HeaderMap&& trailers) = 0;
  // END_STREAM: the request is complete (content-length, when given, matched).
  virtual void onRequestEnd(int32_t id) = 0;
  // A request head refused before it became a request (431: header list over the limits). The
  // application answers it (respond()) or resets it.
  virtual void onRequestRejected(int32_t id, int status, absl::string_view code,
                                 absl::string_view message) = 0;
  // The stream is closed (both directions done, or reset by either side: error_code then says
  // why). Its response state is gone.
  virtual void onStreamClose(int32_t id, uint32_t error_code) = 0;
  // The stream's buffered response data fell to the low watermark (after isWriteBlocked()).
  virtual void onStreamWritable(int32_t id) = 0;
  virtual void onEvent(Event e) = 0;
  // Frames to send. False: the socket is full, stop for now (flush() is called again later).
  virtual bool onSessionOutput(absl::string_view bytes) = 0;
};

class ServerSession {
public:
  ServerSession(const SessionOptions& options, ServerSessionCallbacks& callbacks);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Feeds bytes read from the client (starting with the 24-byte client preface). False on a
  // connection error: the session is over (flush() still sends its GOAWAY, then close).
  bool receive(absl::string_view data);
  // Hands pending frames to onSessionOutput until it says stop or nothing is pending.
  void flush();
  bool wantsRead() const;
  bool wantsWrite() const;
  // True inside receive() or flush(): the application must not call flush() then.
  bool busy() const { return busy_ > 0; }

  // Responses. `request_id` (when not empty) is added as x-request-id. Connection-specific
  // fields (connection, keep-alive, proxy-connection, transfer-encoding, upgrade) are dropped.
  void submitHead(int32_t id, const http::ResponseHead& head, absl::string_view request_id,
                  bool end_stream);
  void submitInformational(int32_t id, const http::ResponseHead& head);
  void appendData(int32_t id, absl::string_view data);
  // Ends the response: END_STREAM on the last DATA, or a HEADERS frame with the trailers.
  void endData(int32_t id, const HeaderMap* trailers);
  size_t queuedData(int32_t id) const;
  bool isWriteBlocked(int32_t id) const;
  // Response data held by every stream together.
  size_t totalQueuedData() const { return total_queued_; }
  void resetStream(int32_t id, uint32_t error_code);
  // RST_STREAM NO_ERROR once the response is out (a complete response to an incomplete request,
  // RFC 9113 8.1).
  void resetAfterResponse(int32_t id);
  // Request body bytes the application took: reopens the stream's and the connection's windows.
  void consume(int32_t id, size_t n);
  // GOAWAY with the last stream id processed: streams up to it finish; newer ones are refused.
  void goAway(uint32_t error_code);
  // GOAWAY for a connection error and stop reading.
  void terminate(uint32_t error_code);
  int32_t lastStreamId() const;

  struct StreamState;

private:
  friend struct Callbacks;
  StreamState* find(int32_t id) const;
  void notifyWritable();

  SessionOptions options_;
  ServerSessionCallbacks& cb_;
  nghttp2_session* session_ = nullptr;
  absl::flat_hash_map<int32_t, std::unique_ptr<StreamState>> streams_;
  // The last stream find() returned: nghttp2's callbacks and the connection ask for the same
  // stream many times in a row (each header, each data chunk, each write check). Cleared when
  // that stream's state goes.
  mutable int32_t found_id_ = 0;
  mutable StreamState* found_ = nullptr;
  size_t total_queued_ = 0;
  int busy_ = 0;
  // Token buckets: tokens and the time they were last topped up.
  double reset_tokens_ = 0;
  double control_tokens_ = 0;
  uint64_t reset_ms_ = 0;
  uint64_t control_ms_ = 0;
  uint32_t empty_data_run_ = 0;
  bool terminated_ = false;
  std::vector<int32_t> writable_;  // streams to tell onStreamWritable after the send loop
};

} // namespace gw::http2
