// The `cache` filter's factory: the config message parsed and checked once per config push
// (errors name the field), the route's stats and the store's budget.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/cache/v1/cache.pb.h"
#include "source/common/header_map.h"
#include "source/filters/cache/cache_filter.h"

namespace gw::filters::cache {
namespace {

constexpr uint64_t kMaxEntryLimit = 64u << 20;
constexpr uint64_t kDefaultEntry = 1u << 20;
constexpr uint64_t kDefaultMemory = 64u << 20;

absl::Status checkNames(const google::protobuf::RepeatedPtrField<std::string>& names,
                        absl::string_view field, std::vector<std::string>& out) {
  for (int i = 0; i < names.size(); i++) {
    const std::string& n = names[i];
    if (!isToken(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: '", n, "' is not a valid header name"));
    }
    out.push_back(absl::AsciiStrToLower(n));
  }
  return absl::OkStatus();
}

class CacheFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "cache"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::cache::v1::Cache::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::cache::v1::Cache p;
    if (auto st = structToMessage(config, &p); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<CacheConfig>();
    c->policy.default_ttl_s = p.default_ttl_seconds();
    c->policy.max_ttl_s = p.max_ttl_seconds();
    c->policy.force_ttl_s = p.force_ttl_seconds();
    c->policy.default_swr_s = p.stale_while_revalidate_seconds();
    c->policy.default_sie_s = p.stale_if_error_seconds();
    c->policy.cache_set_cookie = p.cache_set_cookie();
    c->policy.cache_authorized = p.cache_authorized();
    if (p.cacheable_statuses_size() > 0) {
      c->policy.cacheable_statuses.clear();
      for (int i = 0; i < p.cacheable_statuses_size(); i++) {
        const uint32_t s = p.cacheable_statuses(i);
        if (s < 200 || s > 599) {
          return absl::InvalidArgumentError(
              absl::StrCat("cacheable_statuses[", i, "]: must be 200..599 (got ", s, ")"));
        }
        c->policy.cacheable_statuses.push_back(static_cast<int>(s));
      }
    }
    if (auto st = checkNames(p.key_headers(), "key_headers", c->rules.headers); !st.ok()) {
      return st;
    }
    for (int i = 0; i < p.key_cookies_size(); i++) {
      const std::string& n = p.key_cookies(i);
      if (!isToken(n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("key_cookies[", i, "]: '", n, "' is not a valid cookie name"));
      }
      c->rules.cookies.push_back(n);
    }
    for (int i = 0; i < p.key_identity_size(); i++) {
      const std::string& n = p.key_identity(i);
      if (n != "subject" && n != "provider" && !(absl::StartsWith(n, "claim:") && n.size() > 6)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "key_identity[", i, "]: '", n, "' must be subject, provider or claim:<name>"));
      }
      c->rules.identity.push_back(n);
    }
    c->version = c->rules.version();
    c->max_entry_bytes = p.max_entry_bytes() == 0 ? kDefaultEntry : p.max_entry_bytes();
    if (c->max_entry_bytes > kMaxEntryLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_entry_bytes: must be 1..", kMaxEntryLimit, " (got ",
                       p.max_entry_bytes(), ")"));
    }
    const uint64_t memory = p.memory_max_bytes() == 0 ? kDefaultMemory : p.memory_max_bytes();
    if (memory < c->max_entry_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "memory_max_bytes: must be at least max_entry_bytes (", c->max_entry_bytes, ")"));
    }
    c->redis_max_entry_bytes =
        p.redis_max_entry_bytes() == 0 ? c->max_entry_bytes : p.redis_max_entry_bytes();
    if (c->redis_max_entry_bytes > kMaxEntryLimit * 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis_max_entry_bytes: must be at most ", kMaxEntryLimit * 2));
    }
    if (!p.redis().empty() && !ctx.redis_server_names.contains(p.redis())) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis: unknown redis server '", p.redis(), "'"));
    }
    c->redis = p.redis();
    if (!p.surrogate_key_header().empty()) {
      if (!isToken(p.surrogate_key_header())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "surrogate_key_header: '", p.surrogate_key_header(), "' is not a valid header name"));
      }
      c->surrogate_key_header = absl::AsciiStrToLower(p.surrogate_key_header());
    }
    const uint32_t timeout = p.has_coalesce_timeout_ms() ? p.coalesce_timeout_ms() : 5000;
    if (timeout > 60000) {
      return absl::InvalidArgumentError(
          absl::StrCat("coalesce_timeout_ms: must be 0..60000 (got ", timeout, ")"));
    }
    c->coalesce_timeout = std::chrono::milliseconds(timeout);
    c->route_name = ctx.route_name.empty() ? "-" : ctx.route_name;
    c->store->raiseCapacity(memory);
    c->stats = c->store->routeStats(c->route_name);
    return FilterConfigConstSharedPtr(std::move(c));
  }
};
const Register<CacheFactory> kRegister;

} // namespace
} // namespace gw::filters::cache
