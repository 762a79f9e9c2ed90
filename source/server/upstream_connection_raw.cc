// UpstreamConnection in raw mode: after a 101 Switching Protocols the connection carries the
// tunnel's bytes unparsed, in both directions (source/server/upgrade_tunnel.h).
#include "absl/strings/str_cat.h"
#include "source/server/upstream_connection.h"

namespace gw::server {

void UpstreamConnection::startRaw(UpstreamRawCallbacks& cb) {
  if (state_ != State::Busy) {
    return;
  }
  raw_ = &cb;
  cb_ = nullptr;
  if (in_callback_) {
    return;  // inside the 101's parser callback: processInput hands the rest over after feed()
  }
  flushRawInput();
}

void UpstreamConnection::flushRawInput() {
  read_paused_ = false;
  if (in_off_ < in_.size()) {
    // Bytes the upstream sent right behind its 101 head (a first frame).
    std::string rest = in_.substr(in_off_);
    in_.clear();
    in_off_ = 0;
    raw_->onUpstreamRawData(rest);
  } else {
    in_.clear();
    in_off_ = 0;
  }
  if (raw_ != nullptr && !read_paused_) {
    startReading();
  }
}

void UpstreamConnection::onRawRead(ssize_t nread, const uv_buf_t* buf) {
  if (state_ != State::Busy || nread == 0) {
    return;
  }
  if (nread < 0) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    if (nread == UV_EOF) {
      raw_->onUpstreamRawEof();
      return;
    }
    fail(absl::StrCat("upstream read error: ", uv_strerror(nread)), UpstreamFailure::Reset);
    return;
  }
  if (tls_ != nullptr) {
    // A tunnel over upstream TLS: the bytes are decrypted here (the writer encrypts).
    std::string plain;
    if (tls_->onCiphertext(buf->base, static_cast<size_t>(nread), &plain) ==
        TlsTransport::Result::Failed) {
      fail(absl::StrCat("upstream TLS error: ", tls_->error()), UpstreamFailure::Reset);
      return;
    }
    if (!plain.empty()) {
      raw_->onUpstreamRawData(plain);
    }
    return;
  }
  raw_->onUpstreamRawData(absl::string_view(buf->base, static_cast<size_t>(nread)));
}

void UpstreamConnection::shutdownWrite() {
  if (state_ != State::Busy) {
    return;
  }
  writer_.flush();
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
  }
}

void UpstreamConnection::closeRaw() {
  raw_ = nullptr;
  writer_.flush();
  close();
}

} // namespace gw::server
