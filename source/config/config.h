#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "source/config/config_error.h"
#include "source/filters/filter.h"
#include "source/filters/filter_chain.h"
#include "source/router/route_table.h"
#include "source/policy/jwt.h"

namespace gw::tls {
class ServerContext;
class ClientContext;
} // namespace gw::tls

namespace gw::config {

// One problem in a config, with the field path in proto field-name form, e.g.
// "listeners[0].virtual_hosts[1].routes[3].route_filter.config.cluster".

// Parses YAML or JSON text (the protobuf JSON mapping of gateway.v1.Config). Text starting with '{'
// is JSON; anything else YAML 1.2, converted to JSON guided by the schema (string fields always get
// strings, bool fields only true/false, merge keys supported, duplicate keys rejected). Unknown
// fields are errors. On error: InvalidArgument naming the location ("line 3, column 5: " for YAML)
// and the field path. loadConfigFile's errors start with the file path.
absl::StatusOr<gateway::v1::Config> parseConfig(absl::string_view text);
absl::StatusOr<gateway::v1::Config> loadConfigFile(const std::string& path);

// What the validation walk hands over as it goes, so that compileConfig builds the running
// config from the walk's own compiled pieces instead of walking the config again.
class ConfigSink {
public:
  virtual ~ConfigSink() = default;
  // clusters[index], which passed every check. The sink may add errors (an endpoint name that
  // does not resolve).
  virtual void cluster(int index, const gateway::v1::Cluster& cluster,
                       std::vector<ConfigError>& errors) = 0;
  // listeners[index], which passed every check: its route table, and the compiled filter chain
  // of each route (the listener's default stages applied) in the table's order
  // (RouteTable::allRoutes: virtual hosts, then routes, as declared).
  virtual void listener(int index, const gateway::v1::Listener& listener,
                        std::unique_ptr<router::RouteTable> routes,
                        std::vector<std::shared_ptr<filters::FilterChain>> chains,
                        std::vector<ConfigError>& errors) = 0;
  // The TLS context compiled from listeners[index].tls / clusters[index].tls (called just before
  // listener() / cluster(), only for those with `tls`). `fingerprint`: a digest of what the
  // client context was built from (secrets read from files included).
  virtual void listenerTls(int index, std::shared_ptr<const tls::ServerContext> context) {}
  virtual void clusterTls(int index, std::shared_ptr<const tls::ClientContext> context,
                          std::string fingerprint) {}
};

// Every semantic problem of a config (all of them, not just the first), in one walk: duplicate
// names, unknown cluster references, unknown filters or filters in the wrong stage, invalid
// filter configs (each compiled once; the listener's default stages once per listener), invalid
// regexes / templates / rewrites (each listener's route table compiled once), bad addresses,
// missing route_filter, hash policy missing for hash LBs, empty clusters, negative durations.
// gatewayd --validate, the proxy before it applies a config and the control plane all use it;
// with a `sink` the walk also hands over each valid cluster and listener (compileConfig).
// `serving`: see buildValidationContext.
std::vector<ConfigError> validateConfig(const gateway::v1::Config& config,
                                        ConfigSink* sink = nullptr, bool serving = false);

// Fills `ctx` with what filter configs may reference: cluster names and the compiled policy
// resources (auth_providers, rate_limit_policies; an invalid one maps to nullptr). Returns the
// resources' problems with their field paths ("auth_providers[0].public_key_pem: ..."). With
// `serving`, rate-limit policies identical to ones alive in this process reuse them (and their
// bucket state) and new ones get their buckets; without it (validation, the control plane's
// checks) no bucket table is allocated.
std::vector<ConfigError> buildValidationContext(const gateway::v1::Config& config,
                                                filters::ValidationContext* ctx, bool serving);

// Replaces secret values (auth_providers[].secret, redis passwords) with "<redacted>", and inline
// TLS private keys (secrets[].private_key.inline) with "<redacted sha256:<12 hex digits>>": for
// everything that shows a config (/config_dump, gatewayctl get, the proxy admin's config).
void redactSecrets(gateway::v1::Config* config);
constexpr const char* kRedacted = policy::kRedactedSecret;

} // namespace gw::config
