#include "source/tls/session.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "source/tls/openssl_util.h"

namespace gw::tls {
namespace {

constexpr size_t kReadChunk = 16 * 1024;

// SSL_get_error needs the thread's error queue empty before each SSL call. Emptying it with
// ERR_clear_error walks all of its slots (about 800 instructions in OpenSSL 3.0); it is empty
// almost always, which ERR_peek_error sees for a fraction of that.
void clearErrors() {
  if (ERR_peek_error() != 0) {
    ERR_clear_error();
  }
}

} // namespace

Session::Session(SSL* ssl, std::shared_ptr<const void> keepalive)
    : ssl_(ssl), keepalive_(std::move(keepalive)) {
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty means "wait for more", not end of stream
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);  // the SSL owns both now
}

Session::~Session() { SSL_free(ssl_); }

void Session::connect() {
  std::string ignored;
  advance(&ignored);
}

bool Session::receive(const char* data, size_t len, std::string* plain) {
  if (state_ == State::Failed) {
    return false;
  }
  if (len > 0) {
    BIO_write(in_, data, static_cast<int>(len));
  }
  return advance(plain);
}

bool Session::advance(std::string* plain) {
  if (state_ == State::Handshaking) {
    clearErrors();
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int e = SSL_get_error(ssl_, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return true;
      }
      fail(e);
      return false;
    }
    state_ = State::Open;
  }
  // Everything decryptable now, a record at a time through a stack buffer: the caller's buffer
  // grows by what was read (growing it by a chunk first would zero-fill 16 KiB per read). The
  // loop stops once no ciphertext is left, in the BIO or buffered in the SSL, instead of asking
  // SSL_read for a WANT_READ it would have to compute.
  char chunk[kReadChunk];
  while (state_ == State::Open && (BIO_ctrl_pending(in_) > 0 || SSL_has_pending(ssl_) == 1)) {
    clearErrors();
    const int n = SSL_read(ssl_, chunk, static_cast<int>(kReadChunk));
    if (n > 0) {
      plain->append(chunk, static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      state_ = State::Closed;
      break;
    }
    fail(e);
    return false;
  }
  return true;
}

void Session::fail(int ssl_error) {
  state_ = State::Failed;
  const long verify = SSL_get_verify_result(ssl_);
  std::string queue = drainErrors(ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of stream"
                                                                  : "TLS error");
  // The verification result says more than "certificate verify failed".
  if (verify != X509_V_OK) {
    error_ = absl::StrCat(SSL_is_server(ssl_) ? "client" : "server",
                          " certificate verify failed: ", X509_verify_cert_error_string(verify));
  } else {
    error_ = std::move(queue);
  }
}

bool Session::send(absl::string_view plain, std::string* out) {
  if (state_ != State::Open) {
    return false;
  }
  while (!plain.empty()) {
    clearErrors();
    const int n = SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n <= 0) {
      fail(SSL_get_error(ssl_, n));
      takeOutput(out);
      return false;
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  takeOutput(out);
  return true;
}

void Session::shutdown() {
  if (state_ == State::Open || state_ == State::Closed) {
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
}

bool Session::hasOutput() const { return BIO_ctrl_pending(out_) > 0; }

void Session::takeOutput(std::string* out) {
  const size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) {
    return;
  }
  const size_t at = out->size();
  out->resize(at + pending);
  const int n = BIO_read(out_, out->data() + at, static_cast<int>(pending));
  out->resize(at + (n > 0 ? static_cast<size_t>(n) : 0));
}

absl::string_view Session::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p == nullptr ? absl::string_view() : absl::string_view(reinterpret_cast<const char*>(p), len);
}

absl::string_view Session::serverName() const {
  const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return n == nullptr ? absl::string_view() : absl::string_view(n);
}

} // namespace gw::tls
