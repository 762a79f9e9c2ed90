#include "source/server/h2_upstream_stream.h"

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "source/server/grpc_request.h"
#include "source/server/h2_client_connection.h"

namespace gw::server {

namespace {

// Fields HTTP/2 forbids (RFC 9113 8.2.2) or that only framed the HTTP/1.1 message.
bool connectionSpecific(absl::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "http2-settings" ||
         name == "host" || name == "te";
}

nghttp2_nv makeNv(absl::string_view name, absl::string_view value,
                  uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          flags};
}

} // namespace

H2UpstreamStream::H2UpstreamStream(H2ClientConnection& conn, UpstreamCallbacks& cb)
    : conn_(&conn), cb_(&cb),
      parser_(http::Http1Parser::Kind::Request, *this, http::CodecLimits{256 * 1024, 1000}) {}

H2UpstreamStream::~H2UpstreamStream() = default;

bool H2UpstreamStream::deletable() const { return released_ && (h2_closed_ || id_ < 0); }

void H2UpstreamStream::onConnected() {
  if (cb_ != nullptr) {
    cb_->onUpstreamReady();
  }
}

// ---------------------------------------------------------------------------------------------
// Request side: the request's HTTP/1.1 bytes -> HEADERS, DATA, trailing HEADERS.

void H2UpstreamStream::write(absl::string_view data) {
  if (released_ || h2_closed_ || pending_fail_) {
    return;
  }
  while (!data.empty()) {
    const auto st = parser_.state();
    if (st == http::Http1Parser::State::Complete || st == http::Http1Parser::State::Error) {
      break;
    }
    const size_t n = parser_.feed(data.data(), data.size());
    data.remove_prefix(n);
    if (parser_.state() == http::Http1Parser::State::Error) {
      // Only the gateway's own serializer writes here: a bug, not input.
      fail(absl::StrCat("request could not be translated to HTTP/2: ", parser_.error().message),
           UpstreamFailure::ProtocolError);
      return;
    }
    if (n == 0 && parser_.state() != http::Http1Parser::State::Body) {
      break;
    }
  }
  conn_->flush();
}

void H2UpstreamStream::onRequestHead(http::RequestHead&& head) {
  has_body_ = parser_.chunked() || (parser_.hasContentLength() && parser_.contentLength() > 0);
  if (conn_->state_ != H2ClientConnection::State::Open) {
    // The connection stopped taking streams (GOAWAY, retired) after this request got it.
    refused_ = true;
    pending_fail_ = true;
    fail_reason_ = "upstream connection is going away";
    conn_->scheduleDeferred();
    return;
  }
  submitRequest(head);
}

void H2UpstreamStream::submitRequest(const http::RequestHead& head) {
  const std::string* host = head.headers.get("host");
  const absl::string_view authority =
      host != nullptr ? absl::string_view(*host) : absl::string_view(conn_->hostAddress());
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 5);
  nva.push_back(makeNv(":method", head.method));
  nva.push_back(makeNv(":scheme", conn_->tls_ != nullptr ? "https" : "http"));
  nva.push_back(makeNv(":authority", authority));
  nva.push_back(makeNv(":path", head.target));
  // Names must be lower case in HTTP/2; the serializer keeps the client's spelling.
  std::vector<std::string> lowered;
  lowered.reserve(head.headers.size());
  bool te_trailers = false;
  for (const auto& e : head.headers.entries()) {
    std::string name = absl::AsciiStrToLower(e.first);
    if (name == "te") {
      te_trailers = te_trailers || absl::EqualsIgnoreCase(e.second, "trailers");
      continue;
    }
    if (connectionSpecific(name)) {
      continue;
    }
    // A request id is unique per request: not worth a place in the HPACK dynamic table.
    const uint8_t flags =
        name == "x-request-id" ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
    lowered.push_back(std::move(name));
    nva.push_back(makeNv(lowered.back(), e.second, flags));
  }
  if (te_trailers || isGrpcRequest(head.headers)) {
    nva.push_back(makeNv("te", "trailers"));  // gRPC servers require it
  }
  nghttp2_data_provider dp;
  dp.source.ptr = this;
  dp.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                        uint32_t* data_flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<H2UpstreamStream*>(source->ptr)->readData(buf, length, data_flags);
  };
  // nghttp2 copies the fields (no NO_COPY flags): `lowered` may go.
  id_ = nghttp2_submit_request(conn_->session_, nullptr, nva.data(), nva.size(),
                               has_body_ ? &dp : nullptr, this);
  if (id_ < 0) {
    fail_reason_ = absl::StrCat("HTTP/2 request not accepted: ", nghttp2_strerror(id_));
    id_ = -1;
    refused_ = true;
    pending_fail_ = true;
    conn_->scheduleDeferred();
    return;
  }
  if (!has_body_) {
    eof_sent_ = true;
  }
}

void H2UpstreamStream::onBody(absl::string_view data) {
  if (send_off_ > 0 && send_off_ == send_buf_.size()) {
    send_buf_.clear();
    send_off_ = 0;
  }
  send_buf_.append(data.data(), data.size());
  if (send_buf_.size() - send_off_ > UpstreamConnection::kLowWatermark) {
    above_low_ = true;
  }
  resumeData();
}

void H2UpstreamStream::onTrailers(HeaderMap&& trailers) { request_trailers_ = std::move(trailers); }

void H2UpstreamStream::onMessageComplete() {
  request_done_ = true;
  resumeData();
}

void H2UpstreamStream::resumeData() {
  if (deferred_ && id_ > 0 && !h2_closed_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_->session_, id_);
  }
}

ssize_t H2UpstreamStream::readData(uint8_t* buf, size_t length, uint32_t* data_flags) {
  const size_t avail = send_buf_.size() - send_off_;
  const size_t n = std::min(avail, length);
  if (n > 0) {
    memcpy(buf, send_buf_.data() + send_off_, n);
    send_off_ += n;
    if (send_off_ == send_buf_.size()) {
      send_buf_.clear();
      send_off_ = 0;
    } else if (send_off_ > (64 << 10)) {
      send_buf_.erase(0, send_off_);
      send_off_ = 0;
    }
    if (above_low_ && send_buf_.size() - send_off_ <= UpstreamConnection::kLowWatermark) {
      above_low_ = false;
      conn_->writable_.push_back(this);  // told after the flush, outside nghttp2
    }
  }
  if (send_buf_.size() == send_off_) {
    if (!request_done_) {
      if (n > 0) {
        return static_cast<ssize_t>(n);
      }
      deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    eof_sent_ = true;
    if (!request_trailers_.empty()) {
      std::vector<nghttp2_nv> nva;
      nva.reserve(request_trailers_.size());
      for (const auto& e : request_trailers_.entries()) {
        nva.push_back(makeNv(e.first, e.second));  // the parser lower-cased trailer names
      }
      if (nghttp2_submit_trailer(conn_->session_, id_, nva.data(), nva.size()) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  return static_cast<ssize_t>(n);
}

// ---------------------------------------------------------------------------------------------
// Response side.

void H2UpstreamStream::onBeginHeaders() {
  if (head_done_) {
    in_trailers_ = true;
    trailers_.clear();
  } else {
    head_ = http::ResponseHead();
    head_.status = 0;
  }
}

bool H2UpstreamStream::onHeader(absl::string_view name, absl::string_view value) {
  if (in_trailers_) {
    if (!name.empty() && name[0] == ':') {
      return false;  // pseudo-headers in trailers
    }
    trailers_.add(name, value);
    return true;
  }
  if (name == ":status") {
    int s = 0;
    if (value.size() != 3 || !absl::SimpleAtoi(value, &s) || s < 100 || s > 599) {
      return false;
    }
    head_.status = s;
    return true;
  }
  if (!name.empty() && name[0] == ':') {
    return false;
  }
  head_.headers.add(name, value);
  return true;
}

void H2UpstreamStream::onHeadersEnd(bool end_stream) {
  if (in_trailers_) {
    trailers_held_ = true;
    if (end_stream) {
      onEndStream();
    } else {
      deliverHeld();
    }
    return;
  }
  const bool informational = head_.status >= 100 && head_.status < 200;
  if (!informational) {
    head_done_ = true;
  }
  response_started_ = true;
  // As for one read of an HTTP/1.1 response: what the head (and a headers-only end) makes the
  // request write downstream leaves together (a gRPC trailers-only status: one HEADERS frame).
  UpstreamCallbacks* cb = cb_;
  if (cb != nullptr) {
    cb->onUpstreamReadBegin();
    cb->onUpstreamHead(std::move(head_), informational);
  }
  if (end_stream) {
    onEndStream();
  }
  if (cb != nullptr) {
    cb->onUpstreamReadEnd();
  }
}

void H2UpstreamStream::onData(const uint8_t* data, size_t len) {
  if (cb_ == nullptr) {
    conn_->consume(id_, len);  // nobody wants it: open the window anyway
    return;
  }
  if (paused_ || !held_.empty()) {
    held_.append(reinterpret_cast<const char*>(data), len);
    return;
  }
  cb_->onUpstreamBody(absl::string_view(reinterpret_cast<const char*>(data), len));
  conn_->consume(id_, len);
}

void H2UpstreamStream::onEndStream() {
  response_complete_ = true;
  complete_held_ = true;
  deliverHeld();
}

void H2UpstreamStream::resumeReading() {
  paused_ = false;
  deliverHeld();
  conn_->flush();  // WINDOW_UPDATEs for what was held
}

void H2UpstreamStream::deliverHeld() {
  if (paused_) {
    return;
  }
  if (!held_.empty()) {
    std::string data;
    data.swap(held_);
    if (cb_ != nullptr) {
      cb_->onUpstreamBody(data);
    }
    if (id_ > 0 && !h2_closed_) {
      conn_->consume(id_, data.size());
    }
    if (paused_) {
      return;  // the request paused again: trailers and the end wait
    }
  }
  if (trailers_held_) {
    trailers_held_ = false;
    if (cb_ != nullptr) {
      cb_->onUpstreamTrailers(std::move(trailers_));
    }
  }
  if (complete_held_) {
    complete_held_ = false;
    if (cb_ != nullptr) {
      cb_->onUpstreamComplete();
    }
  }
}

void H2UpstreamStream::onClosed(uint32_t error_code) {
  h2_closed_ = true;
  if (response_complete_ || cb_ == nullptr) {
    return;
  }
  if (error_code == NGHTTP2_REFUSED_STREAM) {
    refused_ = true;  // not processed by the upstream: safe to send again
  }
  const std::string reason =
      protocol_error_ ? "invalid HTTP/2 response from upstream"
      : refused_      ? "upstream refused the HTTP/2 stream (GOAWAY or REFUSED_STREAM)"
                      : absl::StrCat("upstream reset the HTTP/2 stream (",
                                     nghttp2_http2_strerror(error_code), ")");
  fail(reason, protocol_error_ ? UpstreamFailure::ProtocolError : UpstreamFailure::Reset);
}

void H2UpstreamStream::fail(const std::string& reason, UpstreamFailure failure) {
  UpstreamCallbacks* cb = cb_;
  cb_ = nullptr;
  released_ = true;  // the request forgets this handle on a failure
  held_.clear();
  if (cb != nullptr) {
    cb->onUpstreamFailure(reason, failure, !response_started_);
  }
}

void H2UpstreamStream::release(bool) {
  if (released_) {
    return;
  }
  cb_ = nullptr;
  released_ = true;
  if (!held_.empty()) {
    if (id_ > 0 && !h2_closed_) {
      conn_->consume(id_, held_.size());
    }
    held_.clear();
  }
  if (id_ > 0 && !h2_closed_ && !(response_complete_ && eof_sent_)) {
    // Done before the exchange ended (client gone, timeout, early response): stop the stream.
    nghttp2_submit_rst_stream(conn_->session_, NGHTTP2_FLAG_NONE, id_,
                              response_complete_ ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
  }
  conn_->flush();
  conn_->scheduleDeferred();  // frees this once nghttp2 is done with it
  conn_->maybeDelete();       // a closed connection waiting for this release
}

} // namespace gw::server
