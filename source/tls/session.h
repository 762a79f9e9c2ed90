#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace gw::tls {

// One TLS connection over memory BIOs, with no socket: ciphertext in -> plaintext out, plaintext
// in -> ciphertext out. The owner moves the bytes between it and the network (TlsTransport does
// it for the proxy's connections; tests wire two sessions back to back).
class Session {
public:
  enum class State : uint8_t { Handshaking, Open, Closed, Failed };

  // Takes ownership of `ssl` (from ServerContext::newSsl or ClientContext::newSsl). `keepalive`
  // holds whatever the SSL's callbacks point into (its context) for the session's life.
  Session(SSL* ssl, std::shared_ptr<const void> keepalive);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Client side: starts the handshake (the ClientHello is then in output()).
  void connect();
  // Feeds ciphertext from the network; plaintext is appended to `plain`. Replies the session
  // has to send (handshake messages, tickets, alerts) are in output(). False on a fatal error:
  // state() is Failed and error() says why (the alert to send is in output()).
  bool receive(const char* data, size_t len, std::string* plain);
  // Encrypts `plain`; the ciphertext is appended to `out` (after anything already pending in
  // output()). False if the session cannot send (failed or closed).
  bool send(absl::string_view plain, std::string* out);
  // Queues a close_notify alert.
  void shutdown();

  // Ciphertext waiting to be sent; takeOutput appends it to `out` and empties it.
  bool hasOutput() const;
  void takeOutput(std::string* out);

  State state() const { return state_; }
  bool open() const { return state_ == State::Open; }
  // The peer sent close_notify.
  bool peerClosed() const { return peer_closed_; }
  const std::string& error() const { return error_; }
  // The protocol ALPN chose ("h2", "http/1.1"), empty when none. Valid once open.
  absl::string_view alpn() const;
  // The SNI the client sent (server side), empty when none.
  absl::string_view serverName() const;
  SSL* ssl() const { return ssl_; }

private:
  bool advance(std::string* plain);
  void fail(int ssl_error);

  SSL* ssl_;
  BIO* in_;   // network -> SSL (we write ciphertext here)
  BIO* out_;  // SSL -> network (we read ciphertext from here)
  std::shared_ptr<const void> keepalive_;
  State state_ = State::Handshaking;
  bool peer_closed_ = false;
  std::string error_;
};

} // namespace gw::tls
