// `router` (route filter): proxies the request to a cluster (checked against the config's
// clusters at load), with the route's retry policy, its own circuit breaker and its fallback
// (filters::ProxyPolicy). The stream does the I/O, the retries and the fallback; this filter only
// names the cluster and hands over the policy.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/router/v1/router.pb.h"
#include "source/common/header_map.h"
#include "source/config/resilience_validation.h"
#include "source/filters/filter.h"
#include "source/upstream/cluster_runtime.h"

namespace gw::filters {
namespace {

using RouterProto = gateway::filters::router::v1::Router;
constexpr uint32_t kMaxRetries = 10;
constexpr uint64_t kMaxReplayBytes = 16 * 1024 * 1024;

std::chrono::milliseconds toMs(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

class RouterFilter : public Filter {
public:
  RouterFilter(const std::string& cluster, const ProxyPolicy* policy)
      : cluster_(cluster), policy_(policy) {}
  FilterStatus onRoute(RequestContext&, Upstream& upstream) override {
    upstream.proxyTo(cluster_, policy_);
    return FilterStatus::Continue;
  }

private:
  const std::string& cluster_;
  const ProxyPolicy* policy_;  // nullptr: no retries, breaker or fallback of the route's own
};

class RouterConfig : public FilterConfig {
public:
  RouterConfig(std::string cluster, std::unique_ptr<RetryPolicy> retry,
               std::unique_ptr<ProxyPolicy> policy)
      : retry_(std::move(retry)), policy_(std::move(policy)) {
    route_.kind = StaticRoute::Kind::Proxy;
    route_.cluster = std::move(cluster);
    route_.policy = policy_.get();
  }
  Filter* shared() const override { return &shared_; }
  const StaticRoute* staticRoute() const override { return &route_; }
  std::string explain(ExplainContext&) const override {
    std::string out = absl::StrCat("proxy to cluster '", route_.cluster, "'");
    if (retry_ != nullptr) {
      absl::StrAppend(&out, ", up to ", retry_->num_retries, " retr",
                      retry_->num_retries == 1 ? "y" : "ies");
    }
    if (policy_ != nullptr && policy_->breaker != nullptr) {
      absl::StrAppend(&out, ", route breaker ",
                      upstream::CircuitBreaker::stateName(
                          policy_->breaker->state(upstream::monotonicNowNs())));
    }
    if (policy_ != nullptr) {
      switch (policy_->fallback.kind) {
      case Fallback::Kind::DirectResponse:
        absl::StrAppend(&out, ", fallback: direct response ", policy_->fallback.status);
        break;
      case Fallback::Kind::Cluster:
        absl::StrAppend(&out, ", fallback: cluster '", policy_->fallback.cluster, "'");
        break;
      case Fallback::Kind::Error:
        break;
      }
    }
    return out;
  }

private:
  std::unique_ptr<RetryPolicy> retry_;
  std::unique_ptr<ProxyPolicy> policy_;
  StaticRoute route_;
  mutable RouterFilter shared_{route_.cluster, policy_.get()};  // stateless: one for all requests
};

absl::Status firstError(const std::vector<config::ConfigError>& errors) {
  return errors.empty() ? absl::OkStatus()
                        : absl::InvalidArgumentError(errors.front().toString());
}

absl::StatusOr<std::unique_ptr<RetryPolicy>> compileRetry(
    const gateway::filters::router::v1::RetryPolicy& p) {
  auto r = std::make_unique<RetryPolicy>();
  if (p.retry_on_size() == 0) {
    return absl::InvalidArgumentError(
        "retry_policy.retry_on: required (connect-failure, reset, 5xx, gateway-error, "
        "retriable-status-codes)");
  }
  bool statuses = false;
  for (int i = 0; i < p.retry_on_size(); i++) {
    const std::string& on = p.retry_on(i);
    if (on == "connect-failure") {
      r->on_connect_failure = true;
    } else if (on == "reset") {
      r->on_reset = true;
    } else if (on == "5xx") {
      r->on_5xx = true;
    } else if (on == "gateway-error") {
      r->on_gateway_error = true;
    } else if (on == "retriable-status-codes") {
      statuses = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "retry_policy.retry_on[", i, "]: unknown condition '", on,
          "' (expected connect-failure, reset, 5xx, gateway-error, retriable-status-codes)"));
    }
  }
  if (statuses != (p.retriable_status_codes_size() > 0)) {
    return absl::InvalidArgumentError(
        statuses ? "retry_policy.retriable_status_codes: required with retriable-status-codes"
                 : "retry_policy.retry_on: add retriable-status-codes to use "
                   "retriable_status_codes");
  }
  for (int i = 0; i < p.retriable_status_codes_size(); i++) {
    const uint32_t code = p.retriable_status_codes(i);
    if (code < 100 || code > 599) {
      return absl::InvalidArgumentError(
          absl::StrCat("retry_policy.retriable_status_codes[", i, "]: must be 100..599"));
    }
    r->statuses.push_back(static_cast<uint16_t>(code));
  }
  if (p.num_retries() > kMaxRetries) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry_policy.num_retries: must be at most ", kMaxRetries));
  }
  r->num_retries = p.num_retries() == 0 ? 1 : p.num_retries();
  std::vector<config::ConfigError> errors;
  if (p.has_per_try_timeout()) {
    config::validatePositiveDuration(p.per_try_timeout(), "retry_policy.per_try_timeout", errors);
    r->per_try_timeout = toMs(p.per_try_timeout());
  }
  if (p.has_backoff_base_interval()) {
    config::validatePositiveDuration(p.backoff_base_interval(),
                                     "retry_policy.backoff_base_interval", errors);
    r->backoff_base = toMs(p.backoff_base_interval());
  }
  r->backoff_max = r->backoff_base * 10;
  if (p.has_backoff_max_interval()) {
    config::validatePositiveDuration(p.backoff_max_interval(),
                                     "retry_policy.backoff_max_interval", errors);
    r->backoff_max = toMs(p.backoff_max_interval());
    if (errors.empty() && r->backoff_max < r->backoff_base) {
      return absl::InvalidArgumentError(
          "retry_policy.backoff_max_interval: must not be less than backoff_base_interval");
    }
  }
  if (auto st = firstError(errors); !st.ok()) {
    return st;
  }
  r->retry_non_idempotent = p.retry_non_idempotent();
  if (p.has_replay_buffer_bytes()) {
    if (p.replay_buffer_bytes() > kMaxReplayBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("retry_policy.replay_buffer_bytes: must be at most ", kMaxReplayBytes));
    }
    r->replay_buffer_bytes = p.replay_buffer_bytes();
  }
  return r;
}

absl::Status compileFallback(const gateway::filters::router::v1::Fallback& p,
                             const ValidationContext& ctx, Fallback& out) {
  if (p.has_response() && !p.cluster().empty()) {
    return absl::InvalidArgumentError("fallback: set at most one of response and cluster");
  }
  if (p.has_response()) {
    out.kind = Fallback::Kind::DirectResponse;
    const auto& r = p.response();
    if (r.status() != 0 && (r.status() < 200 || r.status() > 599)) {
      return absl::InvalidArgumentError("fallback.response.status: must be 200..599");
    }
    out.status = r.status() == 0 ? 200 : static_cast<int>(r.status());
    std::vector<std::string> names;
    for (const auto& [name, value] : r.headers()) {
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());  // the map has no order: make the response stable
    for (const std::string& name : names) {
      if (!isToken(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("fallback.response.headers: invalid header name '", name, "'"));
      }
      const std::string& value = r.headers().at(name);
      if (absl::string_view(value).find_first_of(absl::string_view("\r\n\0", 3)) !=
          absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("fallback.response.headers[", name, "]: invalid header value"));
      }
      out.headers.emplace_back(absl::AsciiStrToLower(name), value);
    }
    out.body = r.body();
  } else if (!p.cluster().empty()) {
    if (!ctx.cluster_names.contains(p.cluster())) {
      return absl::InvalidArgumentError(
          absl::StrCat("fallback.cluster: unknown cluster '", p.cluster(), "'"));
    }
    out.kind = Fallback::Kind::Cluster;
    out.cluster = p.cluster();
  }
  for (int i = 0; i < p.on_size(); i++) {
    if (p.on(i) == "no_healthy_upstream") {
      out.on_no_healthy_upstream = true;
    } else if (p.on(i) == "upstream_failure") {
      out.on_upstream_failure = true;
    } else if (p.on(i) != "circuit_open") {
      return absl::InvalidArgumentError(
          absl::StrCat("fallback.on[", i, "]: unknown reason '", p.on(i),
                       "' (expected circuit_open, no_healthy_upstream, upstream_failure)"));
    }
  }
  return absl::OkStatus();
}

class RouterFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "router"; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return RouterProto::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    RouterProto proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    if (proto.cluster().empty()) {
      return absl::InvalidArgumentError("cluster: required");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster: unknown cluster '", proto.cluster(), "'"));
    }
    std::unique_ptr<RetryPolicy> retry;
    if (proto.has_retry_policy()) {
      auto r = compileRetry(proto.retry_policy());
      if (!r.ok()) {
        return r.status();
      }
      retry = *std::move(r);
    }
    std::unique_ptr<ProxyPolicy> policy;
    if (retry != nullptr || proto.has_circuit_breaker() || proto.has_fallback()) {
      policy = std::make_unique<ProxyPolicy>();
      policy->route_name = ctx.route_name;
      policy->retry = retry.get();
      policy->add_attempt_count = retry != nullptr;
      if (proto.has_circuit_breaker()) {
        std::vector<config::ConfigError> errors;
        config::validateCircuitBreaker(proto.circuit_breaker(), "circuit_breaker", errors);
        if (auto st = firstError(errors); !st.ok()) {
          return st;
        }
        policy->breaker = upstream::sharedBreaker(
            absl::StrCat(proto.cluster(), "/", ctx.route_name), proto.circuit_breaker());
      }
      if (proto.has_fallback()) {
        if (auto st = compileFallback(proto.fallback(), ctx, policy->fallback); !st.ok()) {
          return st;
        }
      }
    }
    return FilterConfigConstSharedPtr(
        std::make_shared<RouterConfig>(proto.cluster(), std::move(retry), std::move(policy)));
  }
};

const Register<RouterFactory> kRegister;

} // namespace
} // namespace gw::filters
