// The stream's response side: the response stage (proxied or local responses through the
// response hooks), the response body (untouched, streamed through the body hooks, or buffered),
// error responses, and writing to the client.
#include "absl/strings/str_cat.h"
#include "source/server/downstream_connection.h"
#include "source/server/error_response.h"
#include "source/server/grpc_request.h"
#include "source/server/header_policy.h"
#include "source/server/stream.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;


void Stream::onUpstreamHead(http::ResponseHead&& head, bool informational) {
  if (finished_ || downstream_closed_) {
    return;
  }
  if (informational && head.status == 101) {
    onSwitchingProtocols(std::move(head));  // stream_upgrade.cc
    return;
  }
  if (informational) {
    // 100 Continue is ours to send; other 1xx (103 Early Hints) go to HTTP/1.1 clients.
    if (head.status != 100 && head.status != 101 && request_.version_minor == 1 &&
        !response_started_) {
      stripHopByHop(head.headers);
      conn_.sendInformational(head);
    }
    return;
  }
  if (extras_ != nullptr && extras_->retry_timer != nullptr) {
    extras_->retry_timer->disable();  // the per-try timeout: a head arrived in time
  }
  if (retriesEnabled() && !in_fallback_ &&
      maybeRetry({upstream::AttemptResult::Kind::Response, head.status})) {
    return;  // this response is dropped with its connection; another attempt follows
  }
  conn_.disarmRequestTimer();  // the route timeout runs until the response head
  response_ = std::move(head);
  response_.reason.clear();
  if (extras_ != nullptr && !extras_->fallback_reason.empty()) {
    response_.headers.add("x-gateway-fallback", extras_->fallback_reason);
  }
  const bool upstream_cl = response_.headers.has("content-length");
  stripHopByHop(response_.headers);
  const int s = response_.status;
  response_no_body_ = request_.method == "HEAD" || s == 204 || s == 304;
  if (response_mode_ == Mode::Untouched && !response_no_body_ && !upstream_cl && !h2_) {
    // Chunked or close-delimited upstream body: chunked to HTTP/1.1 clients, close-delimited to
    // HTTP/1.0 clients.
    if (request_.version_minor == 1) {
      response_chunked_ = true;
    } else {
      close_after_ = true;
    }
  }
  beginResponseStage();
}

void Stream::beginResponseStage() {
  response_stage_ = true;
  runner_->beginResponse();
  runner_->run(Phase::ResponseHeaders);
}

void Stream::startLocalResponse() {
  if (!runner_) {
    sendWholeResponse();  // refused before routing: no filters to run
    return;
  }
  beginResponseStage();
}

void Stream::afterResponseHeaders() {
  response_headers_done_ = true;
  if (tunnel_pending_ && !is_local_) {
    startTunnel();  // the 101 passed the response hooks
    return;
  }
  if (is_local_) {
    if (response_mode_ == Mode::Untouched) {
      sendWholeResponse();
    } else {
      runResponsePiece(true);  // the body hooks see the whole local body once
    }
    return;
  }
  switch (response_mode_) {
  case Mode::Untouched: {
    sendResponseHead();
    if (pendingSize() > 0) {
      std::string held;
      held.swap(extras_->pending);
      writeBody(held);
    }
    onDownstreamWritable();
    if (upstream_done_) {
      completeUpstreamResponse();
    }
    return;
  }
  case Mode::Stream:
    sendResponseHead();
    afterResponsePiece();  // starts on what arrived meanwhile
    return;
  case Mode::Buffer:
    if (upstream_done_) {
      runResponsePiece(true);
    }
    return;
  }
}

void Stream::runResponsePiece(bool end_of_stream) {
  response_piece_busy_ = true;
  if (end_of_stream) {
    response_end_seen_ = true;
  }
  const bool whole = is_local_ || response_mode_ == Mode::Buffer;
  runner_->setBody(whole ? &response_body_ : &extras().response_piece, end_of_stream);
  runner_->run(Phase::ResponseBody);
}

void Stream::afterResponsePiece() {
  response_piece_busy_ = false;
  if (is_local_ || response_mode_ == Mode::Buffer) {
    if (response_end_seen_) {
      sendWholeResponse();  // trailers of a buffered response are dropped (Content-Length framing)
    }
    return;
  }
  // Stream: the piece goes to the client, then the next one.
  if (!extras().response_piece.empty()) {
    writeBody(extras().response_piece);
    extras().response_piece.clear();
  }
  if (response_end_seen_) {
    if (hasResponseTrailers()) {
      runner_->setTrailers(&extras_->response_trailers);
      runner_->run(Phase::ResponseTrailers);
      return;
    }
    completeUpstreamResponse();
    return;
  }
  if (pendingSize() > 0) {
    extras_->response_piece.swap(extras_->pending);
    extras_->pending.clear();
    onDownstreamWritable();
    runResponsePiece(false);
    return;
  }
  if (upstream_done_) {
    runResponsePiece(true);
  }
}

void Stream::onUpstreamBody(absl::string_view data) {
  if (finished_ || downstream_closed_ || is_local_) {
    return;
  }
  switch (response_mode_) {
  case Mode::Untouched:
    if (response_started_) {
      writeBody(data);
      return;
    }
    break;  // the response hooks paused: hold it
  case Mode::Stream:
    if (response_headers_done_ && !response_piece_busy_) {
      extras().response_piece.assign(data.data(), data.size());
      runResponsePiece(false);
      return;
    }
    break;  // hold it until the hooks are free
  case Mode::Buffer: {
    const uint64_t limit = chain_->response_body.max_bytes;
    if (response_body_.size() + data.size() > limit) {
      dropUpstream();
      fail(ErrorInfo::make(ErrorKind::ResponseTooLarge,
                           absl::StrCat("response body exceeds the buffer limit of ", limit,
                                        " bytes")));
      return;
    }
    response_body_.append(data.data(), data.size());
    return;
  }
  }
  extras().pending.append(data.data(), data.size());
  if (!upstream_paused_ && pendingSize() > DownstreamConnection::kHighWatermark) {
    pauseBodySource();
  }
}

void Stream::onUpstreamComplete() {
  upstream_done_ = true;
  if (upstream_ != nullptr) {
    attempts_ = upstream_->attempts() + (extras_ != nullptr ? extras_->prior_attempts : 0);
    upstream_->release(request_complete_);
    upstream_ = nullptr;
  }
  if (finished_ || downstream_closed_ || is_local_) {
    return;
  }
  switch (response_mode_) {
  case Mode::Untouched:
    if (response_started_) {
      completeUpstreamResponse();
    }
    return;  // else afterResponseHeaders completes it
  case Mode::Stream:
    if (response_headers_done_ && !response_piece_busy_ && pendingSize() == 0 &&
        !response_end_seen_) {
      runResponsePiece(true);
    }
    return;
  case Mode::Buffer:
    if (response_headers_done_ && !response_piece_busy_) {
      runResponsePiece(true);
    }
    return;
  }
}

void Stream::completeUpstreamResponse() {
  conn_.sendResponseEnd(response_chunked_ && !response_no_body_,
                        listener_.forward_trailers && extras_ ? &extras_->response_trailers
                                                              : nullptr);
  responseDone();
}

void Stream::responseDone() {
  response_complete_ = true;
  if (!request_complete_) {
    // Answered before the whole request body was read: stop forwarding it.
    discarding_ = true;
  }
  finish();
}

void Stream::onDownstreamWritable() {
  if (upstream_paused_ && pendingSize() <= DownstreamConnection::kLowWatermark &&
      conn_.writeQueueSize() <= DownstreamConnection::kLowWatermark) {
    resumeBodySource();
  }
}

void Stream::pauseBodySource() {
  if (!hasBodySource()) {
    return;
  }
  upstream_paused_ = true;
  if (upstream_ != nullptr) {
    upstream_->pauseReading();
  } else {
    extras_->body_source->pauseBody();
  }
}

void Stream::resumeBodySource() {
  if (!hasBodySource()) {
    return;
  }
  upstream_paused_ = false;
  if (upstream_ != nullptr) {
    upstream_->resumeReading();
  } else {
    extras_->body_source->resumeBody();
  }
}

void Stream::respondStreaming(http::ResponseHead head, filters::ResponseBodySource* source) {
  if (response_started_ || finished_ || downstream_closed_ || response_stage_ || error_stage_) {
    return;
  }
  const bool in_hook = runner_ && runner_->inHook();
  if (runner_) {
    runner_->noteAnswer();
  }
  dropUpstream();
  conn_.disarmRequestTimer();  // as for an upstream head: the route timeout ends here
  extras().body_source = source;
  local_stream_ = true;
  response_ = std::move(head);
  response_.reason.clear();
  const bool has_cl = response_.headers.has("content-length");
  stripHopByHop(response_.headers);
  const int s = response_.status;
  response_no_body_ = request_.method == "HEAD" || s == 204 || s == 304;
  if (response_mode_ == Mode::Untouched && !response_no_body_ && !has_cl && !h2_) {
    if (request_.version_minor == 1) {
      response_chunked_ = true;
    } else {
      close_after_ = true;
    }
  }
  // From here the body moves as an upstream's would (onUpstreamBody / onUpstreamComplete).
  act(in_hook, Interrupt::Respond);
}

void Stream::respondBody(absl::string_view piece, bool end_of_stream) {
  if (!local_stream_ || upstream_done_ || finished_ || downstream_closed_) {
    return;
  }
  if (!piece.empty()) {
    onUpstreamBody(piece);
  }
  if (end_of_stream && !finished_ && !downstream_closed_) {
    onUpstreamComplete();
  }
}

void Stream::abortResponse() {
  if (!local_stream_ || finished_ || downstream_closed_) {
    return;
  }
  if (response_started_) {
    conn_.close(true);  // mid-body: the client must not take a truncated body as complete
    return;
  }
  fail(ErrorInfo::make(ErrorKind::UpstreamReset, "the shared response failed before its head"));
}

void Stream::onUpstreamReadBegin() { conn_.cork(); }
void Stream::onUpstreamReadEnd() { conn_.uncork(); }

void Stream::setErrorResponse() {
  if (isGrpcRequest(request_.headers)) {
    // A gRPC caller reads grpc-status, not the HTTP status: a trailers-only response.
    grpcErrorHead(extras().error, response_);
    response_body_.clear();
    response_no_body_ = true;
    response_chunked_ = false;
    is_local_ = true;
    extras_->pending.clear();
    return;
  }
  response_ = http::ResponseHead();
  response_.status = extras().error.status;
  response_body_ = errorBody(extras().error, request_id_);
  response_.headers.add("content-type", "application/json");
  response_.headers.add("content-length", absl::StrCat(response_body_.size()));
  for (const auto& [name, value] : extras().error.headers) {
    response_.headers.add(name, value);
  }
  response_no_body_ = request_.method == "HEAD";
  response_chunked_ = false;
  is_local_ = true;
  if (extras_ != nullptr) {
    extras_->pending.clear();
  }
}

void Stream::startErrorStage() {
  error_stage_ = true;
  if (!runner_) {
    sendErrorNow();
    return;
  }
  runner_->run(Phase::Error);
}

void Stream::sendErrorNow() { sendWholeResponse(); }

void Stream::sendWholeResponse() {
  if (finished_ || downstream_closed_) {
    return;
  }
  sendResponseHead();
  if (!response_no_body_ && !response_body_.empty()) {
    bytes_sent_ += response_body_.size();
    conn_.sendResponseBody(std::move(response_body_), false);
  }
  conn_.sendResponseEnd(false, nullptr);
  responseDone();
}

void Stream::sendResponseHead() {
  if (finished_ || downstream_closed_ || response_started_) {
    return;
  }
  if (!request_complete_ && !upstream_ready_) {
    // Responding before the request body was read: the connection cannot be reused unless the
    // rest of the body is already here (skipped at finish); otherwise say now that it closes.
    discarding_ = true;
    buffering_request_ = false;
    if (request_chunked_ || conn_.bufferedBytes() < request_cl_ - body_received_) {
      close_after_ = true;
    }
  }
  if (conn_.draining() ||
      (listener_.max_requests_per_connection > 0 &&
       conn_.requestsServed() + 1 >= listener_.max_requests_per_connection)) {
    close_after_ = true;
  }
  const int s = response_.status;
  if (is_local_ || response_mode_ == Mode::Buffer) {
    // The whole body is here: Content-Length framing (none for 204 and 304; an upstream's own
    // for HEAD, whose body never comes).
    response_chunked_ = false;
    response_.headers.remove("transfer-encoding");
    if (s == 204 || s == 304) {
      response_.headers.remove("content-length");
    } else if (is_local_ || request_.method != "HEAD") {
      response_.headers.set("content-length", absl::StrCat(response_body_.size()));
    }
  } else if (response_mode_ == Mode::Stream && !response_no_body_) {
    // The body hooks may change lengths: chunked to HTTP/1.1 clients, close-delimited to 1.0
    // (HTTP/2 frames it with DATA).
    response_.headers.remove("content-length");
    if (h2_) {
    } else if (request_.version_minor == 1) {
      response_chunked_ = true;
    } else {
      close_after_ = true;
    }
  }
  if (response_chunked_) {
    response_.headers.set("transfer-encoding", "chunked");
  }
  // The request id is written straight after the serialized fields (no header entry, no copy
  // of the id) unless a filter set one.
  const bool add_id = !response_.headers.has("x-request-id");
  if (h2_) {
  } else if (close_after_) {
    response_.headers.set("connection", "close");
  } else if (request_.version_minor == 0) {
    response_.headers.set("connection", "keep-alive");
  }
  // Nothing follows the head: no body (HEAD, 204, 304), or an empty whole body.
  const bool end_stream = response_no_body_ ||
                          ((is_local_ || response_mode_ == Mode::Buffer) && response_body_.empty());
  response_started_ = true;
  conn_.sendResponseHead(response_, add_id ? request_id_ : absl::string_view(), end_stream);
}

void Stream::writeBody(absl::string_view data) {
  if (response_no_body_ || data.empty()) {
    return;
  }
  bytes_sent_ += data.size();
  conn_.sendResponseBody(data, response_chunked_);
  if (!upstream_paused_ && conn_.writeQueueSize() > DownstreamConnection::kHighWatermark) {
    pauseBodySource();
  }
}

} // namespace gw::server
