// `local_ratelimit` (pre stage): takes one token from a named rate-limit policy's bucket
// (Config.rate_limit_policies); without one -> the policy's status (429) with code `rate_limited`
// and Retry-After. The buckets live in the compiled policy, shared by every worker (lock-free,
// source/policy/rate_limiter.h). Also usable in post_filters: then, with response_headers, it adds
// X-RateLimit-Limit / X-RateLimit-Remaining to responses (read without taking a token).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gateway/filters/local_ratelimit/v1/local_ratelimit.pb.h"
#include "source/filters/filter.h"
#include "source/policy/rate_limiter.h"

namespace gw::filters {
namespace {

const FilterCounter kAllowed{"local_ratelimit", "allowed", "Requests that took a token."};
const FilterCounter kLimited{"local_ratelimit", "limited",
                             "Requests refused because the bucket was empty."};

class RateLimitConfig;

class RateLimitFilter : public Filter {
public:
  explicit RateLimitFilter(const RateLimitConfig& c) : config_(c) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;

private:
  const RateLimitConfig& config_;
};

class RateLimitConfig : public FilterConfig {
public:
  explicit RateLimitConfig(std::shared_ptr<const policy::RateLimiter> l)
      : limiter(std::move(l)),
        exceeded_message(absl::StrCat("rate limit '", limiter->name(), "' exceeded")),
        burst_text(absl::StrCat(limiter->burst())) {}
  FilterPtr create() const override { return std::make_unique<RateLimitFilter>(*this); }
  Filter* shared() const override { return &shared_; }
  std::string explain(ExplainContext& ctx) const override;

  absl::string_view keyOf(const http::RequestHead& head, absl::string_view client_ip) const {
    switch (limiter->keyKind()) {
    case policy::RateLimiter::KeyKind::None:
      return {};
    case policy::RateLimiter::KeyKind::ClientIp:
      return client_ip;
    case policy::RateLimiter::KeyKind::Header: {
      const std::string* v = head.headers.get(limiter->keyHeader());
      return v == nullptr ? absl::string_view() : absl::string_view(*v);
    }
    }
    return {};
  }

  const std::shared_ptr<const policy::RateLimiter> limiter;
  // Formatted once: a rejection (the path an abusive client hammers) and the response headers
  // format only the numbers that change.
  const std::string exceeded_message;
  const std::string burst_text;

private:
  mutable RateLimitFilter shared_{*this};  // stateless: the state is in the limiter's atomics
};

FilterStatus RateLimitFilter::onRequestHeaders(RequestContext& ctx) {
  const policy::RateLimiter& l = *config_.limiter;
  const auto d = l.take(config_.keyOf(ctx.request(), ctx.clientAddress()),
                        policy::RateLimiter::nowNs());
  if (d.allowed) {
    kAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  kLimited.inc(ctx.worker());
  ErrorInfo e = ErrorInfo::make(ErrorKind::RateLimited, config_.exceeded_message, {},
                                static_cast<int>(l.status()));
  const int64_t secs = std::max<int64_t>(1, (d.retry_after_ns + 999999999) / 1000000000);
  e.headers.emplace_back("retry-after", absl::StrCat(secs));
  if (l.responseHeaders()) {
    e.headers.emplace_back("x-ratelimit-limit", config_.burst_text);
    e.headers.emplace_back("x-ratelimit-remaining", "0");
  }
  ctx.fail(std::move(e));
  return FilterStatus::StopAndRespond;
}

FilterStatus RateLimitFilter::onResponseHeaders(RequestContext& ctx) {
  const policy::RateLimiter& l = *config_.limiter;
  if (!l.responseHeaders() || ctx.response().headers.has("x-ratelimit-limit")) {
    return FilterStatus::Continue;
  }
  const auto d = l.peek(config_.keyOf(ctx.request(), ctx.clientAddress()),
                        policy::RateLimiter::nowNs());
  ctx.response().headers.set("x-ratelimit-limit", config_.burst_text);
  ctx.response().headers.set("x-ratelimit-remaining", absl::StrCat(d.remaining));
  return FilterStatus::Continue;
}

std::string RateLimitConfig::explain(ExplainContext& ctx) const {
  const http::RequestHead& head = ctx.head;
  const policy::RateLimiter& l = *limiter;
  std::string out = absl::StrCat("policy '", l.name(), "' (", l.describeRate(), ")");
  switch (l.keyKind()) {
  case policy::RateLimiter::KeyKind::None:
    absl::StrAppend(&out, ", one bucket");
    break;
  case policy::RateLimiter::KeyKind::ClientIp:
    // The client address is not part of an explained request.
    return absl::StrCat(out, ", keyed by client ip (decided per client; nothing taken)");
  case policy::RateLimiter::KeyKind::Header: {
    const std::string* v = head.headers.get(l.keyHeader());
    absl::StrAppend(&out, ", key ", l.keyHeader(), "=", v == nullptr ? "(absent: shared bucket)"
                                                                     : absl::StrCat("'", *v, "'"));
    break;
  }
  }
  const auto d = l.peek(keyOf(head, {}), policy::RateLimiter::nowNs());
  if (d.allowed) {
    absl::StrAppend(&out, ": would allow (", d.remaining, " tokens now; nothing taken)");
  } else {
    absl::StrAppend(&out, ": would reject with ", l.status(), " rate_limited (next token in ",
                    (d.retry_after_ns + 999999) / 1000000, " ms)");
  }
  return out;
}

class RateLimitFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "local_ratelimit"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::local_ratelimit::v1::LocalRateLimitConfig::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::local_ratelimit::v1::LocalRateLimitConfig proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto policy = findNamedResource(ctx.rate_limit_policies, proto.policy(), "policy",
                                    "rate-limit policy", "a");
    if (!policy.ok()) {
      return policy.status();
    }
    return FilterConfigConstSharedPtr(std::make_shared<RateLimitConfig>(*std::move(policy)));
  }
};

const Register<RateLimitFactory> kRegister;

} // namespace
} // namespace gw::filters
