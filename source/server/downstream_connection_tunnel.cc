// DownstreamConnection as one side of an Upgrade tunnel: after the 101 the connection stops
// parsing and hands raw client bytes to its UpgradeTunnel (source/server/upgrade_tunnel.h).
#include "source/server/downstream_connection.h"
#include "source/server/upgrade_tunnel.h"

namespace gw::server {

void DownstreamConnection::setTunnel(std::unique_ptr<UpgradeTunnel> tunnel) {
  tunnel_ = std::move(tunnel);
}

void DownstreamConnection::startTunnel() {
  timer_.disarm();
  timer_mode_ = TimerMode::None;
  tunnel_started_ = true;
  // What the client sent behind the upgrade request's head (a first frame) is the tunnel's.
  std::string rest;
  if (in_off_ < in_.size()) {
    rest = in_.substr(in_off_);
  }
  in_.clear();
  in_off_ = 0;
  tunnel_->start(rest);
  if (tunnel_started_ && !closing_) {
    if (peer_closed_) {
      tunnel_->onDownstreamEof();  // the client had already closed its side
    } else {
      updateReading();
    }
  }
  if (tunnel_started_ && !closing_ && draining_) {
    tunnel_->onDrain();  // the drain reached this connection while the upgrade was on its way
  }
}

void DownstreamConnection::onTunnelRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) {
    return;
  }
  if (nread < 0) {
    peer_closed_ = true;
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
    if (nread == UV_EOF) {
      tunnel_->onDownstreamEof();
    } else {
      close(true);  // a reset: the tunnel ends with the connection
    }
    return;
  }
  if (tls_ != nullptr) {
    // A tunnel on an HTTPS listener: decrypted here (the writer encrypts what goes out).
    std::string plain;
    const TlsTransport::Result r = tls_->onCiphertext(buf->base, static_cast<size_t>(nread), &plain);
    if (r == TlsTransport::Result::Failed) {
      close(true);
      return;
    }
    if (!plain.empty()) {
      tunnel_->onDownstreamData(plain);
    }
    if (r == TlsTransport::Result::PeerClosed && tunnel_ && !closing_) {
      tunnel_->onDownstreamEof();  // close_notify: as the end of the stream
    }
    return;
  }
  tunnel_->onDownstreamData(absl::string_view(buf->base, static_cast<size_t>(nread)));
}

void DownstreamConnection::setTunnelReading(bool on) {
  tunnel_read_paused_ = !on;
  updateReading();
}

void DownstreamConnection::shutdownWrite() {
  if (closing_) {
    return;
  }
  writer_.flush();
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
  }
}

} // namespace gw::server
