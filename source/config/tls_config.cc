#include "source/config/tls_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/common/header_map.h"
#include "source/config/field_path.h"
#include "source/tls/alpn.h"
#include "source/tls/openssl_util.h"

namespace gw::config {
namespace {

constexpr char kRedactedPrefix[] = "<redacted sha256:";
constexpr size_t kMaxSecretBytes = 1 << 20;
constexpr uint32_t kMaxVerifyDepth = 16;

using gateway::v1::DataSource;
using gateway::v1::TlsParameters;

bool readFile(const std::string& file, std::string* out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int versionOf(TlsParameters::Version v, int dflt) {
  switch (v) {
  case TlsParameters::TLS1_2:
    return TLS1_2_VERSION;
  case TlsParameters::TLS1_3:
    return TLS1_3_VERSION;
  default:
    return dflt;
  }
}

tls::TlsParams paramsOf(const TlsParameters& p, const std::string& base,
                        std::vector<ConfigError>* errors) {
  if (!TlsParameters::Version_IsValid(p.min_version())) {
    errors->push_back({base + ".params.min_version", "unknown version"});
  }
  if (!TlsParameters::Version_IsValid(p.max_version())) {
    errors->push_back({base + ".params.max_version", "unknown version"});
  }
  tls::TlsParams out;
  out.min_version = versionOf(p.min_version(), TLS1_2_VERSION);
  out.max_version = versionOf(p.max_version(), TLS1_3_VERSION);
  out.cipher_list = p.cipher_list();
  out.ciphersuites = p.ciphersuites();
  return out;
}

void addTlsErrors(const std::string& base, std::vector<tls::TlsError>& in,
                  std::vector<ConfigError>* errors) {
  for (auto& e : in) {
    // Secret problems carry the secret's own path ("secrets[2].private_key").
    errors->push_back({absl::StartsWith(e.path, "secrets[") ? e.path : joinPath(base, e.path),
                       std::move(e.message)});
  }
}

void checkHeaderName(const std::string& name, const std::string& path,
                     std::vector<ConfigError>* errors) {
  if (!name.empty() && !isToken(name)) {
    errors->push_back({path, absl::StrCat("invalid header name '", name, "'")});
  }
}

} // namespace

bool listenerSpeaksHttp2(const gateway::v1::Listener& listener) {
  return listener.has_http2() && listener.http2().enabled();
}

std::string redactedKey(const std::string& key_pem) {
  return absl::StrCat(kRedactedPrefix, tls::sha256Hex(key_pem).substr(0, 12), ">");
}

bool isRedactedKey(const std::string& value) { return absl::StartsWith(value, kRedactedPrefix); }

bool resolveDataSource(const DataSource& src, const std::string& path, bool serving,
                       std::string* out, std::vector<ConfigError>* errors) {
  switch (src.specifier_case()) {
  case DataSource::kInline:
    if (isRedactedKey(src.inline_())) {
      errors->push_back({path + ".inline",
                         "a redaction placeholder, not a key: set the real key (a push that "
                         "leaves it unchanged gets it back from the previous snapshot)"});
      return false;
    }
    if (src.inline_().empty()) {
      errors->push_back({path + ".inline", "must not be empty"});
      return false;
    }
    *out = src.inline_();
    return true;
  case DataSource::kFile:
    if (src.file().empty()) {
      errors->push_back({path + ".file", "must not be empty"});
      return false;
    }
    if (!serving) {
      return false;
    }
    if (!readFile(src.file(), out)) {
      errors->push_back({path + ".file", absl::StrCat("cannot read '", src.file(), "'")});
      return false;
    }
    if (out->size() > kMaxSecretBytes) {
      errors->push_back({path + ".file", "larger than 1 MiB"});
      return false;
    }
    return true;
  case DataSource::kEnv: {
    if (src.env().empty()) {
      errors->push_back({path + ".env", "must not be empty"});
      return false;
    }
    if (!serving) {
      return false;
    }
    const char* v = getenv(src.env().c_str());
    if (v == nullptr) {
      errors->push_back(
          {path + ".env", absl::StrCat("environment variable ", src.env(), " is not set")});
      return false;
    }
    *out = v;
    return true;
  }
  case DataSource::SPECIFIER_NOT_SET:
    break;
  }
  errors->push_back({path, "required: set inline, file or env"});
  return false;
}

SecretTable::SecretTable(const gateway::v1::Config& config, bool serving,
                         std::vector<ConfigError>* errors)
    : serving_(serving) {
  std::map<std::string, std::string> names;
  for (int i = 0; i < config.secrets_size(); i++) {
    const auto& s = config.secrets(i);
    const std::string base = absl::StrCat("secrets[", i, "]");
    const size_t before = errors->size();
    if (!uniqueName(s.name(), base, "secret", names, /*required=*/true, errors)) {
      continue;
    }
    Entry e;
    e.path = base;
    const bool chain = resolveDataSource(s.certificate_chain(), base + ".certificate_chain",
                                         serving, &e.chain_pem, errors);
    const bool key =
        resolveDataSource(s.private_key(), base + ".private_key", serving, &e.key_pem, errors);
    bool ocsp = true;
    if (!s.ocsp_response_file().empty() && serving) {
      ocsp = readFile(s.ocsp_response_file(), &e.ocsp_der);
      if (!ocsp) {
        errors->push_back({base + ".ocsp_response_file",
                           absl::StrCat("cannot read '", s.ocsp_response_file(), "'")});
      }
    }
    e.valid = errors->size() == before;
    e.resolved = chain && key && ocsp && e.valid;
    entries_.emplace(s.name(), std::move(e));
  }
}

const SecretTable::Entry* SecretTable::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::shared_ptr<const tls::ServerContext> compileListenerTls(const gateway::v1::Listener& l,
                                                             const std::string& base,
                                                             const SecretTable& secrets,
                                                             std::vector<ConfigError>* errors) {
  const auto& t = l.tls();
  const size_t before = errors->size();
  tls::ServerContextOptions o;
  bool resolvable = true;
  if (t.certificates_size() == 0) {
    errors->push_back({base + ".certificates", "at least one certificate is required"});
  }
  for (int i = 0; i < t.certificates_size(); i++) {
    const auto& c = t.certificates(i);
    const std::string path = absl::StrCat(base, ".certificates[", i, "].secret");
    const SecretTable::Entry* e = c.secret().empty() ? nullptr : secrets.find(c.secret());
    if (c.secret().empty()) {
      errors->push_back({path, "required (a secrets name)"});
      continue;
    }
    if (e == nullptr) {
      errors->push_back({path, absl::StrCat("unknown secret '", c.secret(), "'")});
      continue;
    }
    resolvable = resolvable && e->resolved;
    o.certificates.push_back({e->path, e->chain_pem, e->key_pem, e->ocsp_der,
                              {c.server_names().begin(), c.server_names().end()}});
    if (c.secret() == t.default_certificate()) {
      o.default_index = o.certificates.size() - 1;
    }
  }
  if (!t.default_certificate().empty()) {
    bool found = false;
    for (const auto& c : t.certificates()) {
      found = found || c.secret() == t.default_certificate();
    }
    if (!found) {
      errors->push_back({base + ".default_certificate",
                         absl::StrCat("'", t.default_certificate(),
                                      "' is not the secret of one of `certificates`")});
    }
  }
  o.params = paramsOf(t.params(), base, errors);
  const bool h2 = listenerSpeaksHttp2(l);
  if (t.alpn_size() > 0) {
    o.alpn.clear();
    for (int i = 0; i < t.alpn_size(); i++) {
      if (t.alpn(i) == "h2" && !h2) {
        errors->push_back({absl::StrCat(base, ".alpn[", i, "]"),
                           "h2 needs HTTP/2 enabled on the listener"});
      }
      o.alpn.push_back(t.alpn(i));
    }
  } else {
    o.alpn = h2 ? std::vector<std::string>{"h2", "http/1.1"}
                : std::vector<std::string>{"http/1.1"};
  }
  const auto& cc = t.client_certificate();
  using Mode = gateway::v1::ClientCertificateValidation;
  if (!Mode::Mode_IsValid(cc.mode())) {
    errors->push_back({base + ".client_certificate.mode", "unknown mode"});
  }
  o.client_mode = cc.mode() == Mode::REQUIRED   ? tls::ClientCertMode::Required
                  : cc.mode() == Mode::OPTIONAL ? tls::ClientCertMode::Optional
                                                : tls::ClientCertMode::Off;
  if (o.client_mode != tls::ClientCertMode::Off) {
    resolvable = resolveDataSource(cc.ca(), base + ".client_certificate.ca", secrets.serving(),
                                   &o.ca_pem, errors) &&
                 resolvable;
  }
  if (cc.verify_depth() > kMaxVerifyDepth) {
    errors->push_back({base + ".client_certificate.verify_depth",
                       absl::StrCat("must be at most ", kMaxVerifyDepth)});
  } else if (cc.verify_depth() > 0) {
    o.verify_depth = static_cast<int>(cc.verify_depth());
  }
  const auto& h = t.client_cert_headers();
  checkHeaderName(h.subject(), base + ".client_cert_headers.subject", errors);
  checkHeaderName(h.sans(), base + ".client_cert_headers.sans", errors);
  checkHeaderName(h.fingerprint(), base + ".client_cert_headers.fingerprint", errors);
  const auto& st = t.session_tickets();
  o.session_tickets = !st.has_enabled() || st.enabled();
  if (st.has_rotation_interval()) {
    const auto& d = st.rotation_interval();
    if (d.seconds() < 60 || d.seconds() > 7 * 24 * 3600 || d.nanos() != 0) {
      errors->push_back({base + ".session_tickets.rotation_interval",
                         "must be whole seconds between 60s and 7 days"});
    } else {
      o.ticket_rotation_s = static_cast<uint32_t>(d.seconds());
    }
  }
  if (errors->size() != before || !resolvable) {
    return nullptr;
  }
  std::vector<tls::TlsError> tls_errors;
  auto ctx = tls::ServerContext::create(o, &tls_errors);
  addTlsErrors(base, tls_errors, errors);
  return ctx;
}

std::shared_ptr<const tls::ClientContext> compileUpstreamTls(const gateway::v1::Cluster& c,
                                                             const std::string& base,
                                                             const SecretTable& secrets,
                                                             std::string* fingerprint,
                                                             std::vector<ConfigError>* errors) {
  const auto& t = c.tls();
  const size_t before = errors->size();
  tls::ClientContextOptions o;
  bool resolvable = true;
  o.verify = !t.has_verify() || t.verify();
  o.sni = t.sni();
  if (!o.sni.empty() && !tls::validServerNamePattern(o.sni)) {
    errors->push_back({base + ".sni", absl::StrCat("invalid server name '", o.sni, "'")});
  }
  if (t.has_ca()) {
    resolvable = resolveDataSource(t.ca(), base + ".ca", secrets.serving(), &o.ca_pem, errors);
  }
  if (!t.client_certificate().empty()) {
    const SecretTable::Entry* e = secrets.find(t.client_certificate());
    if (e == nullptr) {
      errors->push_back({base + ".client_certificate",
                         absl::StrCat("unknown secret '", t.client_certificate(), "'")});
    } else {
      resolvable = resolvable && e->resolved;
      o.cert_pem = e->chain_pem;
      o.key_pem = e->key_pem;
      o.cert_path = e->path;
    }
  }
  for (int i = 0; i < t.alpn_size(); i++) {
    if (!tls::validAlpnName(t.alpn(i))) {
      errors->push_back({absl::StrCat(base, ".alpn[", i, "]"), "must be 1..255 bytes"});
    }
    o.alpn.push_back(t.alpn(i));
  }
  // HTTP/2 over TLS offers h2 unless told otherwise (validation checks a configured list); AUTO
  // lets the upstream choose.
  if (o.alpn.empty() && c.protocol() == gateway::v1::Cluster::H2) {
    o.alpn = {"h2"};
  } else if (o.alpn.empty() && c.protocol() == gateway::v1::Cluster::AUTO) {
    o.alpn = {"h2", "http/1.1"};
  }
  o.params = paramsOf(t.params(), base, errors);
  if (errors->size() != before || !resolvable) {
    return nullptr;
  }
  std::vector<tls::TlsError> tls_errors;
  auto ctx = tls::ClientContext::create(o, &tls_errors);
  addTlsErrors(base, tls_errors, errors);
  *fingerprint = tls::sha256Hex(absl::StrCat(o.ca_pem, "\n", o.cert_pem, "\n", o.key_pem));
  return ctx;
}

} // namespace gw::config
