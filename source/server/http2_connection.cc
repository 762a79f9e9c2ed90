#include "source/server/http2_connection.h"

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <algorithm>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "source/server/access_log.h"
#include "source/server/downstream_connection.h"
#include "source/server/error_response.h"
#include "source/server/http2_stream.h"

namespace gw::server {

http2::SessionOptions Http2Connection::sessionOptions(const Http2Settings& s,
                                                     uint32_t max_headers) {
  http2::SessionOptions o;
  o.max_header_count = max_headers;
  o.max_concurrent_streams = s.max_concurrent_streams;
  o.max_header_list_size = s.max_header_list_size;
  o.max_frame_size = s.max_frame_size;
  o.initial_stream_window = s.initial_stream_window_size;
  o.initial_connection_window = s.initial_connection_window_size;
  o.max_continuations = s.max_continuation_frames;
  o.reset_rate = s.max_resets_per_second;
  o.reset_burst = s.max_reset_burst;
  o.control_frame_rate = s.max_control_frames_per_second;
  o.control_frame_burst = s.max_control_frame_burst;
  o.max_consecutive_empty_data = s.max_consecutive_empty_data_frames;
  o.stream_high_watermark = DownstreamConnection::kHighWatermark;
  o.stream_low_watermark = DownstreamConnection::kLowWatermark;
  return o;
}

Http2Connection::Http2Connection(DownstreamConnection& conn, const Http2Settings& settings)
    : conn_(conn), settings_(settings), session_(sessionOptions(settings, conn.listenerConfig().codec_limits.max_headers), *this) {
  idle_ms_ = static_cast<uint64_t>(std::max<int64_t>(0, conn.listenerConfig().idle_timeout.count()));
  idle_since_ms_ = uv_now(conn.worker().loop());
  armTimer();
}

Http2Connection::~Http2Connection() = default;

Http2Stream* Http2Connection::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2Connection::onInput(absl::string_view data) {
  if (closed_) {
    return;
  }
  cork();
  session_.receive(data);
  uncork();
}

void Http2Connection::afterInput() { flushSoon(); }

void Http2Connection::flushSoon() {
  if (closed_ || corked_ > 0 || session_.busy()) {
    return;
  }
  flush();
}

void Http2Connection::flush() {
  session_.flush();
  checkDone();
}

bool Http2Connection::onSessionOutput(absl::string_view bytes) {
  conn_.write(bytes);
  return !closed_ && conn_.writeQueueSize() <= DownstreamConnection::kHighWatermark;
}

void Http2Connection::checkDone() {
  if (closed_) {
    return;
  }
  const bool over = !session_.wantsRead() && !session_.wantsWrite();
  if (over || (draining_ && streams_.empty() && !session_.wantsWrite())) {
    closed_ = true;
    conn_.close();  // graceful: what is queued (the GOAWAY) leaves first
  }
}

void Http2Connection::cork() {
  if (corked_++ == 0) {
    conn_.cork();
  }
}

void Http2Connection::uncork() {
  if (--corked_ > 0) {
    return;
  }
  if (pending_heads_ > 0) {
    for (auto& [id, stream] : streams_) {
      stream->submitPendingHead(false);
    }
  }
  if (!session_.busy()) {
    flush();
  }
  conn_.uncork();
}

void Http2Connection::onWritable() {
  flushSoon();
  if (!closed_) {
    notifyAllWritable();
  }
}

void Http2Connection::notifyAllWritable() {
  if (conn_.writeQueueSize() > DownstreamConnection::kLowWatermark ||
      session_.totalQueuedData() > kMaxQueuedPerConnection) {
    return;
  }
  absl::InlinedVector<Http2Stream*, 16> all;  // each may end streams: a copy to walk
  for (auto& [id, s] : streams_) {
    all.push_back(s.get());
  }
  for (Http2Stream* s : all) {
    s->onWritable();
  }
}

void Http2Connection::drain() {
  if (draining_ || closed_) {
    return;
  }
  draining_ = true;
  session_.goAway(NGHTTP2_NO_ERROR);
  conn_.worker().stats().http2.goaway_sent++;
  flushSoon();
}

void Http2Connection::onConnectionClosed() {
  closed_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->onConnectionClosed();
    conn_.worker().deferDelete(std::move(s));
  }
}

void Http2Connection::armTimer() {
  uint64_t tick = std::min<uint64_t>(
      static_cast<uint64_t>(std::max<int64_t>(1, settings_.stream_idle_timeout.count())) / 4,
      1000);
  if (idle_ms_ > 0) {
    tick = std::min<uint64_t>(tick, std::max<uint64_t>(idle_ms_ / 4, 1));
  }
  const uint64_t now = uv_now(conn_.worker().loop());
  uint64_t due = now + std::max<uint64_t>(tick, 10);
  for (auto& [id, s] : streams_) {
    if (s->routeDeadlineMs() != 0) {
      due = std::min(due, s->routeDeadlineMs());
    }
  }
  next_timer_ms_ = due;
  conn_.armHttp2Timer(due > now ? due - now : 0);
}

void Http2Connection::armStreamDeadline(uint64_t deadline_ms) {
  if (closed_ || deadline_ms >= next_timer_ms_) {
    return;  // the timer fires earlier anyway and then looks at every stream's deadline
  }
  next_timer_ms_ = deadline_ms;
  const uint64_t now = uv_now(conn_.worker().loop());
  conn_.armHttp2Timer(deadline_ms > now ? deadline_ms - now : 0);
}

void Http2Connection::onTimer() {
  if (closed_) {
    return;
  }
  const uint64_t now = uv_now(conn_.worker().loop());
  const uint64_t stream_idle = static_cast<uint64_t>(settings_.stream_idle_timeout.count());
  std::vector<int32_t> late;
  std::vector<int32_t> idle;
  for (auto& [id, s] : streams_) {
    if (s->routeDeadlineMs() != 0 && s->routeDeadlineMs() <= now) {
      late.push_back(id);
    } else if (stream_idle > 0 && now - s->lastActivityMs() >= stream_idle) {
      idle.push_back(id);
    }
  }
  // Each may end its stream (and others: a 504 can close the connection): looked up again.
  for (int32_t id : late) {
    if (Http2Stream* s = find(id); s != nullptr && !closed_) {
      s->onRouteDeadline();
    }
  }
  for (int32_t id : idle) {
    if (closed_ || find(id) == nullptr) {
      continue;
    }
    // A stream nothing moved on (a client that keeps its window closed, an upstream that
    // never answers): reset; the close aborts its Stream.
    conn_.worker().stats().http2.stream_idle_timeouts++;
    session_.resetStream(id, NGHTTP2_CANCEL);
  }
  if (!idle.empty() && !closed_) {
    flushSoon();
  }
  if (!closed_ && streams_.empty() && idle_ms_ > 0 && now - idle_since_ms_ >= idle_ms_) {
    drain();  // idle connection: GOAWAY, then close
  }
  if (!closed_) {
    armTimer();
  }
}

void Http2Connection::onRequestHead(int32_t id, http::RequestHead&& head,
                                    const http2::RequestInfo& info) {
  if (closed_) {
    return;
  }
  // Each stream runs on the newest config; a listener removed meanwhile drains the connection
  // (its streams finish on the config the connection holds).
  if (!conn_.repinForStream()) {
    drain();
  }
  conn_.worker().stats().http2.streams++;
  auto s = std::make_unique<Http2Stream>(*this, conn_, id);
  Http2Stream* p = s.get();
  streams_[id] = std::move(s);
  p->start(conn_.pinnedConfig(), conn_.listenerConfig(), std::move(head), info);
}

void Http2Connection::onRequestData(int32_t id, absl::string_view data) {
  if (Http2Stream* s = find(id)) {
    s->onData(data);
  } else {
    session_.consume(id, data.size());
  }
}

void Http2Connection::onRequestTrailers(int32_t id, HeaderMap&& trailers) {
  if (Http2Stream* s = find(id)) {
    s->onTrailers(std::move(trailers));
  }
}

void Http2Connection::onRequestEnd(int32_t id) {
  if (Http2Stream* s = find(id)) {
    s->onEnd();
  }
}

void Http2Connection::onRequestRejected(int32_t id, int status, absl::string_view code,
                                        absl::string_view message) {
  // The same typed JSON error an HTTP/1.1 client gets for the same refusal.
  Worker& w = conn_.worker();
  w.stats().downstream_rq_rejected++;
  const filters::ErrorInfo e = filters::ErrorInfo::make(
      filters::errorKindForStatus(status), std::string(message), std::string(code), status);
  const std::string request_id = w.newRequestId();
  const std::string body = errorBody(e, request_id);
  http::ResponseHead head;
  head.status = status;
  head.headers.add("content-type", "application/json");
  head.headers.add("content-length", absl::StrCat(body.size()));
  session_.submitHead(id, head, request_id, false);
  session_.appendData(id, body);
  session_.endData(id, nullptr);
  session_.resetAfterResponse(id);
  w.stats().recordRequest("-", "-", status, 0);
  if (w.options().access_log) {
    appendRejectionLogLine(request_id, conn_.clientIp(), status, std::string(code),
                           w.accessLogBuffer());
    w.accessLogged();
  }
}

void Http2Connection::onStreamClose(int32_t id, uint32_t error_code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return;
  }
  std::unique_ptr<Http2Stream> s = std::move(it->second);
  streams_.erase(it);
  s->onClosed(error_code);
  conn_.worker().deferDelete(std::move(s));
  if (streams_.empty()) {
    idle_since_ms_ = uv_now(conn_.worker().loop());
  }
}

void Http2Connection::onStreamWritable(int32_t) { notifyAllWritable(); }

void Http2Connection::onEvent(http2::Event e) {
  conn_.worker().stats().http2.events[static_cast<size_t>(e)]++;
}

} // namespace gw::server
