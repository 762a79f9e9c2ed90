#include "source/server/tls_transport.h"

namespace gw::server {

TlsTransport::TlsTransport(SSL* ssl, std::shared_ptr<const void> keepalive, SocketWriter& writer)
    : session_(ssl, std::move(keepalive)), writer_(writer) {
  writer_.setTls(&session_);
}

TlsTransport::~TlsTransport() { writer_.setTls(nullptr); }

TlsTransport::Result TlsTransport::onCiphertext(const char* data, size_t len, std::string* plain) {
  const bool was_open = session_.open();
  const bool ok = session_.receive(data, len, plain);
  // Handshake messages, tickets and alerts leave now (or with bytes already gathered).
  if (session_.hasOutput()) {
    const int rc = writer_.sendTlsOutput();
    if (rc != 0 && write_error_ == 0) {
      write_error_ = rc;
    }
  }
  if (!ok) {
    return Result::Failed;
  }
  if (session_.peerClosed()) {
    return Result::PeerClosed;
  }
  return !was_open && session_.open() ? Result::Opened : Result::Ok;
}

int TlsTransport::connect() {
  session_.connect();
  return writer_.sendTlsOutput();
}

void TlsTransport::shutdown() {
  session_.shutdown();
  writer_.sendTlsOutput();
}

} // namespace gw::server
