#include "source/server/client_cert_headers.h"

namespace gw::server {
namespace {

void setOne(const std::string& name, const std::string* value, HeaderMap& headers) {
  if (name.empty()) {
    return;
  }
  headers.remove(name);
  if (value != nullptr && !value->empty()) {
    headers.add(name, *value);
  }
}

} // namespace

void applyClientCertHeaders(const ListenerConfig& listener, const tls::PeerCertInfo* cert,
                            HeaderMap& headers) {
  if (listener.tls == nullptr) {
    return;
  }
  setOne(listener.cert_subject_header, cert != nullptr ? &cert->subject : nullptr, headers);
  setOne(listener.cert_sans_header, cert != nullptr ? &cert->sans : nullptr, headers);
  setOne(listener.cert_fingerprint_header, cert != nullptr ? &cert->fingerprint : nullptr,
         headers);
}

} // namespace gw::server
