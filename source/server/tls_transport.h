#pragma once

#include <memory>
#include <string>

#include "source/server/socket_writer.h"
#include "source/tls/session.h"

namespace gw::server {

// TLS under a connection's codec, for any connection class with a SocketWriter (downstream
// HTTP/1.1, upstream HTTP/1.1, and the HTTP/2 connections to come): ciphertext read from the
// socket goes in through onCiphertext() and comes out as plaintext for the codec; plaintext the
// connection writes is encrypted by its SocketWriter at send time (so what gathered under a cork
// or in the loop's batch becomes few records). A plaintext connection has no TlsTransport: its
// cost is the writer's null check.
class TlsTransport {
public:
  // Takes `ssl`; `keepalive` holds its context. Attaches itself to `writer` (which must outlive
  // this object).
  TlsTransport(SSL* ssl, std::shared_ptr<const void> keepalive, SocketWriter& writer);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  enum class Result : uint8_t {
    Ok,          // plaintext (if any) appended
    Opened,      // the handshake completed with this input (plaintext may follow it)
    PeerClosed,  // close_notify received (plaintext before it appended)
    Failed,      // fatal: error() says why; the alert has been handed to the writer
  };
  Result onCiphertext(const char* data, size_t len, std::string* plain);
  // Client side: sends the ClientHello. Returns 0 or a libuv error.
  int connect();
  // Queues close_notify and hands it to the writer (after what was written before).
  void shutdown();

  tls::Session& session() { return session_; }
  bool open() const { return session_.open(); }
  const std::string& error() const { return session_.error(); }
  int writeError() const { return write_error_; }

private:
  tls::Session session_;
  SocketWriter& writer_;
  int write_error_ = 0;
};

} // namespace gw::server
