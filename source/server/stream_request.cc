// The stream's request side: the request body (untouched, streamed through the body hooks, or
// buffered before routing), the route step, and proxying to a cluster.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "source/server/downstream_connection.h"
#include "source/server/header_policy.h"
#include "source/server/stream.h"
#include "source/server/upgrade_request.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;


bool Stream::wantsBody() const {
  if (request_complete_) {
    return false;
  }
  if (discarding_ || buffering_request_) {
    return true;
  }
  return upstream_ready_ && !request_body_blocked_ && !request_piece_busy_;
}

void Stream::afterRequestHeaders() {
  if (request_mode_ != Mode::Buffer) {
    routeStep();
    return;
  }
  if (request_complete_) {
    // No body (or it is already here): the body hooks still see it once.
    runRequestPiece(true);
    return;
  }
  // Read the whole body before routing. A client that waits for 100 Continue gets it now.
  buffering_request_ = true;
  if (request_has_cl_) {
    // One allocation for the body (not the doublings of a growing string, each a copy).
    extras().request_body.reserve(std::min<uint64_t>(request_cl_, chain_->request_body.max_bytes));
  }
  if (expect_continue_ && request_.version_minor == 1 && !continue_sent_) {
    continue_sent_ = true;
    conn_.sendContinue();
  }
  conn_.processInput();
}

void Stream::routeStep() {
  if (finished_ || downstream_closed_) {
    return;
  }
  runner_->run(Phase::Route);
}

void Stream::proxyTo(absl::string_view cluster, const filters::ProxyPolicy* policy) {
  if (upstream_storage_.has_value() || finished_ || downstream_closed_ || response_started_ ||
      !runner_ || has_error_) {
    return;
  }
  // Started at once, also from inside onRoute: whatever the start reports synchronously (an
  // error, a pooled connection ready) comes back through fail() and onUpstreamReady, which cope
  // with a hook still running; onPhaseDone(Route) then sees the upstream and does nothing.
  if (!runner_->inHook()) {
    runner_->abandon();  // a paused route filter proxies from its completion
  }
  cluster_name_.assign(cluster.data(), cluster.size());
  if (policy != nullptr) {
    extras().policy = policy;  // a plain proxied request keeps no Extras
  }
  if (retriesEnabled() && request_mode_ == Mode::Untouched &&
      (request_has_cl_ || request_chunked_)) {
    retaining_ = true;  // the body is copied as it goes up, so that a retry can send it again
  }
  startProxy();
}

void Stream::startProxy() {
  int avoid = -1;
  if (extras_ != nullptr) {
    avoid = extras_->avoid_host;
  }
  upstream_ = &upstream_storage_.emplace(conn_.worker(), &config_, *this);
  upstream_->start(cluster_name_, request_, conn_.clientIp(), in_fallback_ ? nullptr : policy(),
                   avoid);
  if (upstream_ != nullptr && retriesEnabled() && !in_fallback_) {
    armPerTryTimeout();
  }
}

bool Stream::replayable() const {
  if (request_mode_ == Mode::Buffer) {
    return true;
  }
  if (body_received_ == 0 && !request_has_cl_ && !request_chunked_) {
    return true;
  }
  // Untouched with a retry policy: every body byte sent so far is in the replay copy.
  return request_mode_ == Mode::Untouched && retaining_ && !replay_lost_;
}

// Keeps a copy of body bytes going upstream for a retry, while the route's policy asks for one
// and the copy fits its replay buffer (beyond it, the request is not retried).
void Stream::retainForReplay(absl::string_view framed) {
  if (!retaining_ || replay_lost_) {
    return;
  }
  if (extras().replay.size() + framed.size() <= policy()->retry->replay_buffer_bytes) {
    extras_->replay.append(framed.data(), framed.size());
  } else {
    replay_lost_ = true;  // too long to send again: this request will not be retried
    std::string().swap(extras_->replay);
  }
}

void Stream::writeBodyUpstream(std::string&& framed) {
  retainForReplay(framed);
  if (upstream_ != nullptr) {
    upstream_->write(std::move(framed));
  }
}

void Stream::writeBodyUpstream(absl::string_view framed) {
  retainForReplay(framed);
  if (upstream_ != nullptr) {
    upstream_->write(framed);
  }
}

void Stream::onUpstreamReady() {
  if (upstream_ == nullptr) {
    return;
  }
  upstream_ready_ = true;
  attempts_ = upstream_->attempts() + (extras_ != nullptr ? extras_->prior_attempts : 0);
  const bool has_body = request_has_cl_ || request_chunked_;
  UpstreamHeadOptions o;
  std::string rewritten;
  if (route_->rewrites()) {
    rewritten = route_->rewritePath(request_.path);
    o.path = rewritten;
  } else {
    o.path = request_.path;
  }
  o.query = request_.query;
  o.client_ip = conn_.clientIp();
  o.xff_trusted_hops = listener_.xff_trusted_hops;
  o.default_host = upstream_->hostAddress();
  o.forwarded_memo = &conn_.forwardedMemo();
  o.https = listener_.tls != nullptr;
  if (policy() != nullptr && policy()->add_attempt_count && !in_fallback_) {
    o.attempt_count = attempts_;
  }
  switch (request_mode_) {
  case Mode::Buffer:
    if (has_body || !extras().request_body.empty()) {
      o.framing = {UpstreamFraming::Kind::ContentLength, extras().request_body.size()};
    }
    break;
  case Mode::Stream:
    if (has_body) {
      o.framing = {UpstreamFraming::Kind::Chunked, 0};  // the hooks may change lengths
    }
    break;
  case Mode::Untouched:
    if (request_chunked_) {
      o.framing = {UpstreamFraming::Kind::Chunked, 0};
    } else if (request_has_cl_) {
      o.framing = {UpstreamFraming::Kind::ContentLength, request_cl_};
    }
    break;
  }
  std::string& head = scratchBuffer();
  buildUpstreamHead(request_, o, head);
  if (upgrade_) {
    appendUpgradeHeaders(extras_->upgrade_value, head);  // kept for the upstream's 101
  }
  upstream_->write(absl::string_view(head));
  if (retaining_ && extras_ != nullptr && !extras_->replay.empty()) {
    upstream_->write(absl::string_view(extras_->replay));  // a retry: the body sent so far
  }
  if (request_mode_ == Mode::Buffer) {
    if (!extras().request_body.empty()) {
      upstream_->write(absl::string_view(extras().request_body));  // kept: a retry sends it again
    }
    return;
  }
  if (expect_continue_ && !request_complete_ && request_.version_minor == 1 && !continue_sent_) {
    continue_sent_ = true;
    conn_.sendContinue();
  }
  if (!has_body) {
    request_complete_ = true;
  }
  conn_.processInput();  // feed any buffered body
}

void Stream::failRequestTooLarge(absl::string_view why) {
  close_after_ = true;
  if (response_started_) {
    conn_.close(true);
    return;
  }
  fail(ErrorInfo::make(ErrorKind::PayloadTooLarge, std::string(why)));
}

void Stream::onRequestBody(absl::string_view data) {
  body_received_ += data.size();
  if (discarding_) {
    return;
  }
  if (max_body_ > 0 && body_received_ > max_body_) {
    failRequestTooLarge(absl::StrCat("request body exceeds the limit of ", max_body_, " bytes"));
    return;
  }
  if (buffering_request_) {
    const uint64_t limit = chain_->request_body.max_bytes;
    if (extras().request_body.size() + data.size() > limit) {
      failRequestTooLarge(absl::StrCat("request body exceeds the buffer limit of ", limit,
                                       " bytes"));
      return;
    }
    extras().request_body.append(data.data(), data.size());
    return;
  }
  if (upstream_ == nullptr) {
    return;
  }
  if (request_mode_ == Mode::Stream) {
    if (request_piece_busy_) {
      extras().request_pending.append(data.data(), data.size());  // the hooks are paused
      return;
    }
    extras().request_piece.assign(data.data(), data.size());
    runRequestPiece(false);
    return;
  }
  if (request_chunked_) {
    std::string chunk;
    chunk.reserve(data.size() + 16);
    http::appendChunk(data, chunk);
    writeBodyUpstream(std::move(chunk));
  } else {
    writeBodyUpstream(data);
  }
  if (upstream_ != nullptr && upstream_->writeQueueSize() > UpstreamConnection::kHighWatermark) {
    request_body_blocked_ = true;
  }
}

// Runs the request body hooks on extras().request_piece (Stream) or extras().request_body (Buffer).
void Stream::runRequestPiece(bool end_of_stream) {
  request_piece_busy_ = true;
  if (end_of_stream) {
    request_end_sent_ = true;
  }
  runner_->setBody(request_mode_ == Mode::Buffer ? &extras().request_body : &extras().request_piece, end_of_stream);
  runner_->run(Phase::RequestBody);
}

void Stream::afterRequestPiece() {
  request_piece_busy_ = false;
  if (request_mode_ == Mode::Buffer) {
    if (hasRequestTrailers()) {
      runner_->setTrailers(&extras_->request_trailers);
      runner_->run(Phase::RequestTrailers);
      return;
    }
    routeStep();
    return;
  }
  // Stream: the piece goes upstream, re-framed as a chunk.
  if (upstream_ != nullptr && !extras().request_piece.empty()) {
    std::string chunk;
    chunk.reserve(extras().request_piece.size() + 16);
    http::appendChunk(extras().request_piece, chunk);
    upstream_->write(std::move(chunk));
    if (upstream_->writeQueueSize() > UpstreamConnection::kHighWatermark) {
      request_body_blocked_ = true;
    }
  }
  extras().request_piece.clear();
  if (request_end_sent_) {
    if (hasRequestTrailers()) {
      runner_->setTrailers(&extras_->request_trailers);
      runner_->run(Phase::RequestTrailers);
      return;
    }
    writeRequestEnd();
    return;
  }
  if (!extras().request_pending.empty()) {
    extras().request_piece.swap(extras().request_pending);
    runRequestPiece(false);
    return;
  }
  if (request_complete_) {
    runRequestPiece(true);
    return;
  }
  conn_.processInput();  // the hooks had paused: read on
}

void Stream::writeRequestEnd() {
  if (upstream_ != nullptr) {
    std::string last;
    http::appendLastChunk(listener_.forward_trailers && extras_ ? &extras_->request_trailers : nullptr, last);
    upstream_->write(std::move(last));
  }
  if (response_complete_) {
    finish();
  }
}

void Stream::onRequestComplete() {
  request_complete_ = true;
  if (discarding_) {
    if (response_complete_) {
      finish();
    }
    return;
  }
  if (buffering_request_) {
    buffering_request_ = false;
    runRequestPiece(true);
    return;
  }
  if (request_mode_ == Mode::Stream && upstream_ != nullptr) {
    if (!request_piece_busy_ && !request_end_sent_) {
      runRequestPiece(true);  // the hooks see the end (an empty last piece)
    }
    return;
  }
  if (upstream_ != nullptr && request_chunked_) {
    std::string last;
    http::appendLastChunk(listener_.forward_trailers && extras_ ? &extras_->request_trailers : nullptr, last);
    writeBodyUpstream(std::move(last));
  }
  if (response_complete_) {
    finish();
  }
}

void Stream::onUpstreamWritable() {
  if (request_body_blocked_) {
    request_body_blocked_ = false;
    conn_.onRequestBodyWritable();
  }
}

void Stream::onUpstreamError(ErrorInfo error, bool) {
  if (upstream_ != nullptr) {
    attempts_ = upstream_->attempts() + (extras_ != nullptr ? extras_->prior_attempts : 0);
  }
  upstream_ready_ = false;
  if (response_started_) {
    // Mid-response: the client cannot be told cleanly; close its connection.
    conn_.close(true);
    return;
  }
  if (extras_ != nullptr && extras_->retry_timer != nullptr) {
    extras_->retry_timer->disable();  // the per-try timeout of the attempt that just ended
  }
  if (retriesEnabled() && !in_fallback_ && upstream_ != nullptr) {
    using K = upstream::AttemptResult::Kind;
    const ErrorKind k = error.kind;
    if (k == ErrorKind::UpstreamConnectFailed || k == ErrorKind::UpstreamReset ||
        k == ErrorKind::UpstreamProtocolError) {
      const K kind = k == ErrorKind::UpstreamConnectFailed ? K::ConnectFailure
                     : k == ErrorKind::UpstreamReset       ? K::Reset
                                                           : K::ProtocolError;
      if (maybeRetry({kind, 0})) {
        return;
      }
    }
  }
  if (tryFallback(error)) {
    return;
  }
  // Nothing has reached the client yet (a buffered or held response included): a clean error.
  if (!request_complete_) {
    close_after_ = true;
  }
  fail(std::move(error));
}

} // namespace gw::server
