#pragma once

// The TLS parts of a config: secrets (certificate chains and private keys, inline, from files or
// from environment variables), listeners' `tls`, clusters' `tls`. Checked with exact field paths
// and compiled into the immutable TLS contexts the running config holds. Internal to
// source/config (and the runtime builder).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/v1/config.pb.h"
#include "source/config/config_error.h"
#include "source/tls/client_context.h"
#include "source/tls/server_context.h"

namespace gw::config {

// Whether a listener speaks HTTP/2 (`http2.enabled`), and so offers "h2" by ALPN before
// http/1.1.
bool listenerSpeaksHttp2(const gateway::v1::Listener& listener);

// The config's secrets, resolved once per walk.
class SecretTable {
public:
  // Checks every secret (names, the sources, redaction placeholders). With `serving`, file and
  // env sources are read (a missing file or variable is an error); without it (the control plane,
  // --validate on another host) only inline ones are, and TLS contexts depending on the others
  // are not built.
  SecretTable(const gateway::v1::Config& config, bool serving, std::vector<ConfigError>* errors);

  struct Entry {
    std::string path;  // "secrets[3]"
    std::string chain_pem;
    std::string key_pem;
    std::string ocsp_der;
    bool resolved = false;  // false: not readable here (see above) or invalid
    bool valid = true;
  };
  const Entry* find(const std::string& name) const;
  bool serving() const { return serving_; }

private:
  std::map<std::string, Entry> entries_;
  bool serving_;
};

// Reads a DataSource (inline / file / env). False when it is not readable here: with an error
// when it should have been (serving, or inline and empty), without one when reading is skipped.
bool resolveDataSource(const gateway::v1::DataSource& src, const std::string& path, bool serving,
                       std::string* out, std::vector<ConfigError>* errors);

// Checks listeners[i].tls (at `base`, e.g. "listeners[1].tls") and builds its context; nullptr
// when there are errors or something is unreadable here.
std::shared_ptr<const tls::ServerContext> compileListenerTls(const gateway::v1::Listener& listener,
                                                             const std::string& base,
                                                             const SecretTable& secrets,
                                                             std::vector<ConfigError>* errors);

// Checks clusters[i].tls (at `base`) and builds its context. `fingerprint` gets a digest of
// everything the context was built from (to tell whether pools can be kept across a push).
std::shared_ptr<const tls::ClientContext> compileUpstreamTls(const gateway::v1::Cluster& cluster,
                                                             const std::string& base,
                                                             const SecretTable& secrets,
                                                             std::string* fingerprint,
                                                             std::vector<ConfigError>* errors);

// "<redacted sha256:0123456789ab>": the first 12 hex digits of the SHA-256 of the key text.
std::string redactedKey(const std::string& key_pem);
bool isRedactedKey(const std::string& value);

} // namespace gw::config
