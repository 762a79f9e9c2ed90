#include "source/server/http2_stream.h"

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "source/server/downstream_connection.h"
#include "source/server/http2_connection.h"
#include "source/server/stream.h"

namespace gw::server {

Http2Stream::Http2Stream(Http2Connection& owner, DownstreamConnection& conn, int32_t id)
    : owner_(&owner), conn_(conn), worker_(conn.worker()), id_(id) {
  touch();
}

Http2Stream::~Http2Stream() {
  stream_.reset();  // first: the Stream's teardown still calls this object
  if (pending_head_.has_value() && owner_ != nullptr) {
    owner_->removePendingHead();
  }
}

void Http2Stream::touch() { last_activity_ms_ = uv_now(worker_.loop()); }

http2::ServerSession* Http2Stream::session() const {
  return owner_ == nullptr ? nullptr : &owner_->session();
}

void Http2Stream::start(RuntimeConfigConstSharedPtr config, const ListenerConfig& listener,
                        http::RequestHead&& head, const http2::RequestInfo& info) {
  StreamFraming f;
  f.http2 = true;
  f.has_content_length = info.has_content_length;
  f.content_length = info.content_length;
  // A body without content-length goes upstream chunked.
  f.chunked = !info.end_stream && !info.has_content_length;
  f.expect_continue = info.expect_continue;
  stream_ = std::make_unique<Stream>(*this, std::move(config), listener, std::move(head), f);
  if (info.end_stream) {
    end_received_ = true;
    end_delivered_ = true;
    stream_->onRequestComplete();
  }
  stream_->start();
}

void Http2Stream::onData(absl::string_view data) {
  touch();
  if (finished_ || aborted_ || stream_ == nullptr) {
    session()->consume(id_, data.size());  // nobody wants it any more
    return;
  }
  if (in_.empty() && !delivering_ && stream_->wantsBody()) {
    // The common case: straight to the Stream, no copy.
    delivering_ = true;
    stream_->onRequestBody(data);
    delivering_ = false;
    if (session() != nullptr) {
      session()->consume(id_, data.size());
    }
    return;
  }
  in_.append(data.data(), data.size());
}

void Http2Stream::onTrailers(HeaderMap&& trailers) {
  trailers_ = std::move(trailers);
  has_trailers_ = true;
}

void Http2Stream::onEnd() {
  touch();
  end_received_ = true;
  deliver();
}

void Http2Stream::processInput() { deliver(); }

// Gives the Stream what it can take now: buffered body bytes, then trailers and the end.
void Http2Stream::deliver() {
  if (delivering_ || finished_ || aborted_ || stream_ == nullptr) {
    return;
  }
  delivering_ = true;
  if (!in_.empty() && stream_->wantsBody()) {
    std::string piece;
    piece.swap(in_);
    stream_->onRequestBody(piece);
    if (session() != nullptr) {
      session()->consume(id_, piece.size());
    }
  }
  if (in_.empty() && end_received_ && !end_delivered_ && !finished_ && !aborted_) {
    end_delivered_ = true;
    if (has_trailers_) {
      stream_->onRequestTrailers(std::move(trailers_));
    }
    stream_->onRequestComplete();
  }
  delivering_ = false;
  if (owner_ != nullptr) {
    owner_->flushSoon();
  }
}

void Http2Stream::onClosed(uint32_t) {
  if (session() != nullptr && !in_.empty()) {
    // Received, never taken: give the connection window back.
    session()->consume(id_, in_.size());
  }
  in_.clear();
  abort();
  owner_ = nullptr;
}

void Http2Stream::onConnectionClosed() {
  abort();
  owner_ = nullptr;
}

void Http2Stream::abort() {
  if (finished_ || aborted_) {
    return;
  }
  aborted_ = true;
  route_deadline_ms_ = 0;
  if (stream_ != nullptr) {
    stream_->onDownstreamClosed();  // drops the upstream request: nothing half-sent completes
  }
}

void Http2Stream::onWritable() {
  if (stream_ != nullptr && !finished_ && !aborted_) {
    stream_->onDownstreamWritable();
  }
}

const std::string& Http2Stream::clientIp() const { return conn_.clientIp(); }
HostMemo& Http2Stream::hostMemo() { return conn_.hostMemo(); }
ForwardedMemo& Http2Stream::forwardedMemo() { return conn_.forwardedMemo(); }

bool Http2Stream::draining() const { return owner_ == nullptr || owner_->draining(); }

size_t Http2Stream::writeQueueSize() const {
  http2::ServerSession* s = session();
  if (s == nullptr) {
    return 0;
  }
  if (s->isWriteBlocked(id_) || s->totalQueuedData() > Http2Connection::kMaxQueuedPerConnection) {
    return DownstreamConnection::kHighWatermark + 1;
  }
  return s->queuedData(id_) + conn_.writeQueueSize();
}

const tls::PeerCertInfo* Http2Stream::peerCert() const { return conn_.peerCert(); }

void Http2Stream::armRequestTimer(uint64_t ms) {
  route_deadline_ms_ = uv_now(worker_.loop()) + ms;
  if (owner_ != nullptr) {
    owner_->armStreamDeadline(route_deadline_ms_);
  }
}

void Http2Stream::disarmRequestTimer() { route_deadline_ms_ = 0; }

void Http2Stream::onRouteDeadline() {
  route_deadline_ms_ = 0;
  if (stream_ != nullptr && !finished_ && !aborted_) {
    stream_->onRouteTimeout();
  }
}

void Http2Stream::cork() {
  if (owner_ != nullptr) {
    owner_->cork();
  }
}

void Http2Stream::uncork() {
  submitPendingHead(false);
  if (owner_ != nullptr) {
    owner_->uncork();
  }
}

void Http2Stream::close(bool) {
  if (pending_head_.has_value() && owner_ != nullptr) {
    owner_->removePendingHead();
  }
  pending_head_.reset();
  // Mid-response error: this stream cannot be answered cleanly; the others go on.
  if (session() != nullptr) {
    session()->resetStream(id_, NGHTTP2_INTERNAL_ERROR);
    owner_->flushSoon();
  }
  abort();
}

void Http2Stream::onStreamComplete(bool) {
  finished_ = true;
  route_deadline_ms_ = 0;
  http2::ServerSession* s = session();
  if (s == nullptr) {
    return;
  }
  if (!end_delivered_) {
    // A complete response to an incomplete request: the rest of the request is not wanted
    // (RFC 9113 8.1), RST_STREAM NO_ERROR once the response is out.
    s->resetAfterResponse(id_);
    if (!in_.empty()) {
      s->consume(id_, in_.size());
      in_.clear();
    }
  }
  owner_->flushSoon();
}

void Http2Stream::sendResponseHead(http::ResponseHead& head, absl::string_view request_id,
                                   bool end_stream) {
  if (session() == nullptr) {
    return;
  }
  touch();
  head_ended_ = end_stream;
  if (!end_stream && owner_->corked()) {
    pending_head_.emplace(head);
    pending_request_id_.assign(request_id.data(), request_id.size());
    owner_->addPendingHead();
    return;  // submitted with what follows, or at uncork()
  }
  session()->submitHead(id_, head, request_id, end_stream);
  owner_->flushSoon();
}

void Http2Stream::submitPendingHead(bool end_stream) {
  if (!pending_head_.has_value()) {
    return;
  }
  http::ResponseHead head = std::move(*pending_head_);
  pending_head_.reset();
  if (owner_ != nullptr) {
    owner_->removePendingHead();
  }
  if (session() != nullptr) {
    session()->submitHead(id_, head, pending_request_id_, end_stream);
  }
}

void Http2Stream::sendResponseBody(absl::string_view data, bool) {
  if (session() == nullptr || head_ended_) {
    return;
  }
  touch();
  submitPendingHead(false);
  session()->appendData(id_, data);
  owner_->flushSoon();
}

void Http2Stream::sendResponseBody(std::string&& data, bool chunked) {
  sendResponseBody(absl::string_view(data), chunked);
}

void Http2Stream::sendResponseEnd(bool, const HeaderMap* trailers) {
  if (session() == nullptr || head_ended_) {
    return;
  }
  head_ended_ = true;
  const bool has_trailers = trailers != nullptr && !trailers->empty();
  if (pending_head_.has_value() && !has_trailers) {
    submitPendingHead(true);  // nothing but the head: one HEADERS frame with END_STREAM
  } else {
    submitPendingHead(false);
    session()->endData(id_, has_trailers ? trailers : nullptr);
  }
  owner_->flushSoon();
}

void Http2Stream::sendInformational(const http::ResponseHead& head) {
  if (session() == nullptr) {
    return;
  }
  session()->submitInformational(id_, head);
  owner_->flushSoon();
}

void Http2Stream::sendContinue() {
  http::ResponseHead h;
  h.status = 100;
  sendInformational(h);
}

} // namespace gw::server
