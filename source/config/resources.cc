// The config's named resources compiled once per config (auth providers, rate-limit policies,
// redis servers, API keys and usage plans), and secret redaction for everything that shows a config.
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "source/config/config.h"
#include "source/config/address.h"
#include "source/config/field_path.h"
#include "source/config/tls_config.h"
#include "source/policy/api_keys.h"
#include "source/policy/jwt.h"
#include "source/policy/rate_limiter.h"

namespace gw::config {
namespace {

// Rate-limit key tables of one config, all policies together (one policy's largest is 256 MiB).
constexpr size_t kMaxRateLimitTableBytes = size_t{1} << 30;

} // namespace

std::vector<ConfigError> buildValidationContext(const gateway::v1::Config& config,
                                                filters::ValidationContext* ctx, bool serving) {
  std::vector<ConfigError> errors;
  for (const auto& c : config.clusters()) {
    if (!c.name().empty()) {
      ctx->cluster_names.insert(c.name());
    }
  }
  // Duplicate / missing names; then each resource compiled (keys parsed once, here).
  auto checkName = [&](const std::string& name, const std::string& base, absl::string_view what,
                       std::map<std::string, std::string>& seen) {
    return uniqueName(name, base, what, seen, /*required=*/true, &errors);
  };
  std::map<std::string, std::string> seen;
  for (int i = 0; i < config.auth_providers_size(); i++) {
    const std::string base = absl::StrCat("auth_providers[", i, "]");
    const auto& p = config.auth_providers(i);
    const bool named = checkName(p.name(), base, "auth provider", seen);
    std::vector<policy::FieldError> errs;
    auto compiled = policy::JwtProvider::create(p, &errs);
    for (auto& e : errs) {
      errors.push_back({joinPath(base, e.field), std::move(e.message)});
    }
    if (named) {
      ctx->auth_providers[p.name()] = std::move(compiled);
    }
  }
  seen.clear();
  size_t table_bytes = 0;
  for (int i = 0; i < config.rate_limit_policies_size(); i++) {
    const std::string base = absl::StrCat("rate_limit_policies[", i, "]");
    const auto& p = config.rate_limit_policies(i);
    const bool named = checkName(p.name(), base, "rate-limit policy", seen);
    std::vector<policy::FieldError> errs;
    auto compiled = serving ? policy::RateLimiter::createShared(p, &errs)
                            : policy::RateLimiter::create(p, &errs, /*buckets=*/false);
    for (auto& e : errs) {
      errors.push_back({joinPath(base, e.field), std::move(e.message)});
    }
    if (compiled != nullptr) {
      table_bytes += compiled->tableBytes();
    }
    if (named) {
      ctx->rate_limit_policies[p.name()] = std::move(compiled);
    }
  }
  seen.clear();
  for (int i = 0; i < config.redis_servers_size(); i++) {
    const std::string base = absl::StrCat("redis_servers[", i, "]");
    const auto& r = config.redis_servers(i);
    const size_t before = errors.size();
    const bool named = checkName(r.name(), base, "redis server", seen);
    if (r.address().empty()) {
      errors.push_back({base + ".address", "required (host:port)"});
    } else if (auto hp = parseHostPort(r.address()); !hp.ok()) {
      errors.push_back({base + ".address", absl::StrCat("invalid address '", r.address(), "': ",
                                                        hp.status().message())});
    } else if (hp->port == 0) {
      errors.push_back({base + ".address",
                        absl::StrCat("invalid address '", r.address(), "': port must be 1..65535")});
    }
    auto duration = [&](bool has, const google::protobuf::Duration& d, const char* field,
                        int64_t max_ms) {
      if (!has) {
        return;
      }
      const int64_t ms = d.seconds() * 1000 + d.nanos() / 1000000;
      if (d.seconds() < 0 || d.nanos() < 0 || ms <= 0) {
        errors.push_back({absl::StrCat(base, ".", field), "must be at least 1ms"});
      } else if (ms > max_ms) {
        errors.push_back({absl::StrCat(base, ".", field),
                          absl::StrCat("must be at most ", max_ms / 1000, "s")});
      }
    };
    duration(r.has_connect_timeout(), r.connect_timeout(), "connect_timeout", 60000);
    duration(r.has_command_timeout(), r.command_timeout(), "command_timeout", 60000);
    if (r.max_pending() > 65536) {
      errors.push_back({base + ".max_pending", "must be at most 65536"});
    }
    if (r.password() == kRedacted) {
      errors.push_back({base + ".password", "'<redacted>' is the placeholder shown instead of a "
                                            "password: set the real password (or password_env)"});
    } else if (!r.password().empty() && !r.password_env().empty()) {
      errors.push_back({base + ".password_env", "set password or password_env, not both"});
    } else if (serving && !r.password_env().empty() && getenv(r.password_env().c_str()) == nullptr) {
      errors.push_back({base + ".password_env", absl::StrCat("environment variable ",
                                                             r.password_env(), " is not set")});
    }
    if (named && errors.size() == before) {
      ctx->redis_server_names.insert(r.name());
    }
  }
  // API keys and usage plans (after redis_servers: plans name them).
  std::vector<policy::FieldError> key_errors;
  ctx->api_keys = policy::ApiKeyStore::create(config, serving, ctx->redis_server_names,
                                              &key_errors);
  for (auto& e : key_errors) {
    errors.push_back({std::move(e.field), std::move(e.message)});
  }
  if (table_bytes > kMaxRateLimitTableBytes) {
    errors.push_back({"rate_limit_policies",
                      absl::StrCat("the key tables of all policies together would take ",
                                   table_bytes >> 20, " MiB (at most ",
                                   kMaxRateLimitTableBytes >> 20, " MiB): lower max_keys")});
  }
  return errors;
}

void redactSecrets(gateway::v1::Config* config) {
  for (auto& p : *config->mutable_auth_providers()) {
    if (!p.secret().empty()) {
      p.set_secret(kRedacted);
    }
    // An inline key set with an oct (HMAC) key holds a secret: the whole set is hidden.
    std::vector<policy::Jwk> keys;
    std::vector<std::string> skipped;
    std::string error;
    if (!p.jwks().empty() && policy::parseJwks(p.jwks(), keys, skipped, error)) {
      for (const auto& k : keys) {
        if (k.type == policy::JwkType::Oct) {
          p.set_jwks(kRedacted);
          break;
        }
      }
    }
  }
  for (auto& r : *config->mutable_redis_servers()) {
    if (!r.password().empty()) {
      r.set_password(kRedacted);
    }
  }
  // TLS private keys: a fingerprint tells two keys apart without showing either. Keys from files
  // and environment variables show only where they come from.
  for (auto& s : *config->mutable_secrets()) {
    auto* key = s.mutable_private_key();
    if (key->has_inline_() && !isRedactedKey(key->inline_())) {
      key->set_inline_(redactedKey(key->inline_()));
    }
  }
}

} // namespace gw::config
