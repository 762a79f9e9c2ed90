#include "source/tls/peer_cert.h"

#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "source/tls/openssl_util.h"

namespace gw::tls {
namespace {

std::string nameText(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(bio);
  return out;
}

std::string ipText(const ASN1_OCTET_STRING* ip) {
  const unsigned char* d = ASN1_STRING_get0_data(ip);
  const int n = ASN1_STRING_length(ip);
  if (n == 4) {
    return absl::StrCat(d[0], ".", d[1], ".", d[2], ".", d[3]);
  }
  if (n == 16) {
    std::string out;
    for (int i = 0; i < 16; i += 2) {
      absl::StrAppend(&out, i == 0 ? "" : ":", absl::Hex((d[i] << 8) | d[i + 1]));
    }
    return out;
  }
  return "?";
}

std::string sanText(X509* cert) {
  std::string out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr,
                                                              nullptr));
  if (names == nullptr) {
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    std::string item;
    auto str = [](const ASN1_IA5STRING* s) {
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         ASN1_STRING_length(s));
    };
    switch (g->type) {
    case GEN_DNS:
      item = "DNS:" + str(g->d.dNSName);
      break;
    case GEN_URI:
      item = "URI:" + str(g->d.uniformResourceIdentifier);
      break;
    case GEN_EMAIL:
      item = "email:" + str(g->d.rfc822Name);
      break;
    case GEN_IPADD:
      item = "IP:" + ipText(g->d.iPAddress);
      break;
    default:
      continue;
    }
    // Header-safe: a SAN never brings CR/LF or a comma of its own into the joined value.
    for (char& c : item) {
      if (c == '\r' || c == '\n' || c == ',' || static_cast<unsigned char>(c) < 0x20) {
        c = '?';
      }
    }
    absl::StrAppend(&out, out.empty() ? "" : ", ", item);
  }
  GENERAL_NAMES_free(names);
  return out;
}

} // namespace

PeerCertInfo describeCert(X509* cert) {
  PeerCertInfo info;
  info.subject = nameText(X509_get_subject_name(cert));
  for (char& c : info.subject) {
    if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) {
      c = '?';
    }
  }
  info.sans = sanText(cert);
  info.fingerprint = certFingerprint(cert);
  return info;
}

bool verifiedPeerCert(SSL* ssl, PeerCertInfo* out) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) {
    return false;
  }
  const bool ok = SSL_get_verify_result(ssl) == X509_V_OK;
  if (ok) {
    *out = describeCert(cert);
  }
  X509_free(cert);
  return ok;
}

} // namespace gw::tls
