#include "source/tls/openssl_util.h"

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"

namespace gw::tls {

std::string drainErrors(absl::string_view fallback) {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? std::string(fallback) : out;
}

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::unique_ptr<BIO, BioFree> memBio(absl::string_view data) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

} // namespace

std::vector<X509Ptr> parseCertificates(absl::string_view pem, std::string* error) {
  std::vector<X509Ptr> out;
  auto bio = memBio(pem);
  while (true) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) {
      break;
    }
    out.emplace_back(x);
  }
  // The loop ends with a "no start line" error at the end of the text; anything else is a defect.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM &&
                         ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !(clean_end && !out.empty())) {
    *error = out.empty() ? "no PEM certificate found" : "malformed PEM certificate";
    ERR_clear_error();
    out.clear();
    return out;
  }
  ERR_clear_error();
  if (out.empty()) {
    *error = "no PEM certificate found";
  }
  return out;
}

PkeyPtr parsePrivateKey(absl::string_view pem, std::string* error) {
  auto bio = memBio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();  // the queue may quote parts of the key: never shown
  if (key == nullptr) {
    *error = "no PEM private key found (or it is encrypted or malformed)";
  }
  return key;
}

std::string sha256Hex(absl::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(md));
  for (unsigned char c : md) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string certFingerprint(X509* cert) {
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0) {
    return "";
  }
  std::string out = sha256Hex(absl::string_view(reinterpret_cast<char*>(der), n));
  OPENSSL_free(der);
  return out;
}

} // namespace gw::tls
