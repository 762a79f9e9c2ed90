// `global_ratelimit` (pre stage, sees responses): rate limits held in Redis, shared by every
// gateway process that uses the same Redis server. docs/global-rate-limits.md is the full story.
//   each limit: a rate (GCRA, requests per period with a burst) over a descriptor (client_ip,
//     user, api_key_consumer, route, method, header:<name>; descriptor.h)
//   per request: the limits whose descriptor the request has (the others are skipped, or share
//     one counter with when_missing: shared), checked together by ONE script call in Redis
//     (EVALSHA; EVAL when Redis answers NOSCRIPT, which also loads it); the strictest decides:
//     any limit over  -> its status (429) rate_limited, Retry-After, RateLimit-*; the one with
//                        the longest Retry-After decides
//     all within      -> the request goes on; RateLimit-* of the limit with the least remaining
//                        on the response when response_headers
//   local pre-check: a descriptor Redis rejected is rejected by this worker until its Retry-After
//     without a Redis call (precheck.h)
//   Redis down or slower than its command_timeout -> failure_mode: allow (counted) or 503
//     ratelimit_unavailable
//   mode: report -> nothing is rejected; would-be rejections are counted and logged
// One instance per request: a Redis command may be in flight.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/global_ratelimit/v1/global_ratelimit.pb.h"
#include "source/filters/filter.h"
#include "source/filters/global_ratelimit/descriptor.h"
#include "source/filters/global_ratelimit/gcra_script.h"
#include "source/filters/global_ratelimit/precheck.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/policy/ratelimit_headers.h"
#include "source/redis/redis_client.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

using global_ratelimit::DescriptorPart;
using global_ratelimit::Precheck;
using global_ratelimit::RequestFacts;
using global_ratelimit::Verdicts;

constexpr absl::string_view kName = "global_ratelimit";

const FilterCounter kAllowed{"global_ratelimit", "allowed",
                             "Requests every applicable limit admitted (Redis answered)."};
const FilterCounter kLimited{"global_ratelimit", "limited",
                             "Requests refused because a limit was over (by Redis or the local "
                             "pre-check; report mode: would have been refused)."};
const FilterLabeledCounter kLimitedBy{
    "global_ratelimit", "limited_by",
    "Refusals by the limit that decided them and where: redis or local_precheck.",
    {"limit", "source"}};
const FilterCounter kPrecheckRejected{
    "global_ratelimit", "local_precheck_rejected",
    "Requests refused by the worker's pre-check without a Redis call."};
const FilterCounter kSkipped{"global_ratelimit", "skipped",
                             "Limits not applied to a request that lacked a descriptor part "
                             "(when_missing: skip)."};
const FilterCounter kRedisCalls{"global_ratelimit", "redis_calls",
                                "Script calls sent to Redis (EVALSHA, and EVAL after NOSCRIPT)."};
const FilterCounter kScriptLoads{"global_ratelimit", "script_loads",
                                 "NOSCRIPT answers: the script was sent again with EVAL."};
const FilterCounter kRedisErrors{"global_ratelimit", "redis_errors",
                                 "Requests Redis could not decide: down, past command_timeout, "
                                 "an error reply, or not configured."};
const FilterCounter kFailureAllowed{"global_ratelimit", "failure_mode_allowed",
                                    "Requests let through by failure_mode: allow."};
const FilterCounter kFailureDenied{"global_ratelimit", "failure_mode_denied",
                                   "Requests refused with 503 by failure_mode: deny."};
const FilterCounter kCancelled{"global_ratelimit", "cancelled",
                               "Requests that ended with a script call in flight."};

// Worker slots for the per-worker pre-check tables; a worker of a higher index runs without one.
constexpr size_t kMaxWorkers = 256;
constexpr size_t kMaxLimits = 16;

int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct LimitSpec {
  std::string name;
  uint32_t requests = 0;
  uint32_t burst = 0;
  int64_t period_ms = 1000;
  std::string t_us;        // ARGV: microseconds per request
  std::string burst_text;  // ARGV: the burst
  std::vector<DescriptorPart> parts;
  bool missing_shared = false;
  int status = 429;
  std::string rate_text;         // "10 per 1s, burst 50"
  std::string exceeded_message;  // "rate limit 'x' exceeded (10 per 1s, burst 50)"
};

struct Settings {
  std::string redis;
  std::string prefix = "gw:grl:";
  std::vector<LimitSpec> limits;
  bool fail_open = true;
  PolicyMode mode = PolicyMode::Enforce;
  bool response_headers = false;
  uint32_t precheck_max = 4096;
};

std::string periodText(int64_t ms) {
  if (ms % 1000 == 0) {
    return absl::StrCat(ms / 1000, "s");
  }
  return absl::StrCat(ms, "ms");
}

class GlobalRateLimitConfig;

// A limit that applies to the request: its index and descriptor digest.
struct Applied {
  uint32_t limit;
  global_ratelimit::Digest digest;
};

class GlobalRateLimitFilter : public Filter {
public:
  explicit GlobalRateLimitFilter(const GlobalRateLimitConfig& c);
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;
  void onDestroy(RequestContext& ctx) override {
    if (redis_id_ != 0) {
      kCancelled.inc(ctx.worker());
      redis_->cancel(redis_id_);
      redis_id_ = 0;
    }
  }

private:
  void send(RequestContext& ctx, bool eval);
  void onReply(RequestContext& ctx, absl::StatusOr<redis::RedisReply> r);
  FilterStatus decide(RequestContext& ctx, const Verdicts& v);
  FilterStatus limited(RequestContext& ctx, uint32_t limit, int64_t retry_ms, int64_t remaining,
                       int64_t reset_ms, absl::string_view source);
  FilterStatus failure(RequestContext& ctx, absl::string_view why);

  const GlobalRateLimitConfig& config_;
  const Settings& s_;
  absl::InlinedVector<Applied, 4> applied_;
  std::shared_ptr<redis::RedisClient> redis_;
  uint64_t redis_id_ = 0;
  bool eval_sent_ = false;
  bool rejected_ = false;
  policy::RateLimitHeaders rl_;
};

class GlobalRateLimitConfig : public FilterConfig {
public:
  explicit GlobalRateLimitConfig(Settings s) : s_(std::move(s)), prechecks_(kMaxWorkers) {}
  FilterPtr create() const override { return std::make_unique<GlobalRateLimitFilter>(*this); }
  bool seesResponse() const override { return true; }
  std::string explain(ExplainContext& ctx) const override;

  const Settings& settings() const { return s_; }
  // The worker's own pre-check table, or nullptr when the pre-check is off or (without `create`)
  // the worker has not refused anything yet. Made on that worker, at its first refusal.
  Precheck* precheck(WorkerContext& worker, bool create) const {
    const int i = worker.index();
    if (s_.precheck_max == 0 || i < 0 || static_cast<size_t>(i) >= prechecks_.size()) {
      return nullptr;
    }
    auto& slot = prechecks_[static_cast<size_t>(i)];  // only worker i touches slot i
    if (slot == nullptr && create) {
      slot = std::make_unique<Precheck>(s_.precheck_max);
    }
    return slot.get();
  }

private:
  Settings s_;
  mutable std::vector<std::unique_ptr<Precheck>> prechecks_;  // sized once, never resized
};

GlobalRateLimitFilter::GlobalRateLimitFilter(const GlobalRateLimitConfig& c)
    : config_(c), s_(c.settings()) {}

RequestFacts factsOf(const http::RequestHead& head, absl::string_view client_ip,
                     const router::RouteEntry* route, FilterState& state) {
  RequestFacts f;
  f.client_ip = client_ip;
  f.identity = state.get(kIdentity);
  f.route = route != nullptr ? absl::string_view(route->name()) : absl::string_view();
  f.method = head.method;
  f.headers = &head.headers;
  return f;
}

FilterStatus GlobalRateLimitFilter::onRequestHeaders(RequestContext& ctx) {
  const RequestFacts facts =
      factsOf(ctx.request(), ctx.clientAddress(), ctx.route(), ctx.filterState());
  for (uint32_t i = 0; i < s_.limits.size(); i++) {
    const LimitSpec& l = s_.limits[i];
    global_ratelimit::Digest digest;
    if (!global_ratelimit::descriptorDigest(l.parts, facts, l.missing_shared, &digest)) {
      kSkipped.inc(ctx.worker());
      continue;
    }
    applied_.push_back({i, digest});
  }
  if (applied_.empty()) {
    return FilterStatus::Continue;
  }
  // The local pre-check: a descriptor known to be over stays over until its Retry-After.
  if (Precheck* pc = config_.precheck(ctx.worker(), /*create=*/false)) {
    const int64_t now = steadyMs();
    int64_t until = 0;
    uint32_t by = 0;
    for (const Applied& a : applied_) {
      const int64_t u = pc->blockedUntil(a.limit, global_ratelimit::digestTag(a.digest), now);
      if (u > until) {
        until = u;
        by = a.limit;
      }
    }
    if (until != 0) {
      kPrecheckRejected.inc(ctx.worker());
      return limited(ctx, by, until - now, 0, until - now, "local_precheck");
    }
  }
  redis_ = ctx.worker().redis(s_.redis);
  if (redis_ == nullptr) {
    return failure(ctx, "not configured on this worker");
  }
  send(ctx, /*eval=*/false);
  return FilterStatus::Pause;
}

void GlobalRateLimitFilter::send(RequestContext& ctx, bool eval) {
  std::vector<std::string> args;
  args.reserve(3 + 3 * applied_.size());
  if (eval) {
    args.emplace_back("EVAL");
    args.emplace_back(global_ratelimit::kGcraScript);
  } else {
    args.emplace_back("EVALSHA");
    args.push_back(global_ratelimit::gcraScriptSha1());
  }
  args.push_back(absl::StrCat(applied_.size()));
  for (const Applied& a : applied_) {
    args.push_back(global_ratelimit::redisKey(s_.prefix, s_.limits[a.limit].name, a.digest));
  }
  for (const Applied& a : applied_) {
    args.push_back(s_.limits[a.limit].t_us);
    args.push_back(s_.limits[a.limit].burst_text);
  }
  kRedisCalls.inc(ctx.worker());
  RequestHandle h = ctx.handle();
  redis_id_ = redis_->command(std::move(args), [this, h](absl::StatusOr<redis::RedisReply> r) {
    RequestContext* c = h.context();
    if (c == nullptr) {
      return;
    }
    redis_id_ = 0;
    onReply(*c, std::move(r));
  });
}

void GlobalRateLimitFilter::onReply(RequestContext& ctx, absl::StatusOr<redis::RedisReply> r) {
  FilterStatus st;
  if (!r.ok()) {
    st = failure(ctx, r.status().message());
  } else if (r->isError()) {
    if (!eval_sent_ && absl::StartsWith(r->str, "NOSCRIPT")) {
      // A Redis that restarted or was flushed: EVAL runs the script and caches it again.
      eval_sent_ = true;
      kScriptLoads.inc(ctx.worker());
      send(ctx, /*eval=*/true);
      return;
    }
    st = failure(ctx, r->str);
  } else {
    auto v = global_ratelimit::parseGcraReply(*r, applied_.size());
    st = v.ok() ? decide(ctx, *v) : failure(ctx, v.status().message());
  }
  if (st == FilterStatus::Continue) {
    ctx.resume();
  }
}

FilterStatus GlobalRateLimitFilter::decide(RequestContext& ctx, const Verdicts& v) {
  // Over: the limit with the longest wait decides. Within: the one with the least left (then
  // the longest reset) gives the headers.
  size_t pick = 0;
  bool over = false;
  for (size_t i = 0; i < v.size(); i++) {
    if (!v[i].fits) {
      if (!over || v[i].retry_after_ms > v[pick].retry_after_ms) {
        pick = i;
      }
      over = true;
    } else if (!over && (v[i].remaining < v[pick].remaining ||
                         (v[i].remaining == v[pick].remaining &&
                          v[i].reset_ms > v[pick].reset_ms))) {
      pick = i;
    }
  }
  const uint32_t limit = applied_[pick].limit;
  if (!over) {
    kAllowed.inc(ctx.worker());
    rl_.set(s_.limits[limit].burst, static_cast<uint64_t>(v[pick].remaining),
            policy::ceilSecondsMs(v[pick].reset_ms));
    return FilterStatus::Continue;
  }
  if (Precheck* pc = config_.precheck(ctx.worker(), /*create=*/true)) {
    const int64_t now = steadyMs();
    for (size_t i = 0; i < v.size(); i++) {
      if (!v[i].fits) {
        pc->block(applied_[i].limit, global_ratelimit::digestTag(applied_[i].digest),
                  now + v[i].retry_after_ms, now);
      }
    }
  }
  return limited(ctx, limit, v[pick].retry_after_ms, 0, v[pick].reset_ms, "redis");
}

FilterStatus GlobalRateLimitFilter::limited(RequestContext& ctx, uint32_t limit, int64_t retry_ms,
                                            int64_t remaining, int64_t reset_ms,
                                            absl::string_view source) {
  const LimitSpec& l = s_.limits[limit];
  kLimited.inc(ctx.worker());
  kLimitedBy.inc(ctx.worker(), {l.name, source});
  const int64_t retry_s = std::max<int64_t>(1, policy::ceilSecondsMs(retry_ms));
  rl_.set(l.burst, static_cast<uint64_t>(remaining),
          std::max(retry_s, policy::ceilSecondsMs(reset_ms)));
  ErrorInfo e = ErrorInfo::make(ErrorKind::RateLimited, l.exceeded_message, "rate_limited",
                                l.status);
  e.headers.emplace_back("retry-after", absl::StrCat(retry_s));
  rl_.appendTo(e.headers);
  e.details.emplace_back("limit", l.name);
  rejected_ = s_.mode == PolicyMode::Enforce;
  return rejectOrReport(ctx, s_.mode, kName, std::move(e));
}

FilterStatus GlobalRateLimitFilter::failure(RequestContext& ctx, absl::string_view why) {
  kRedisErrors.inc(ctx.worker());
  if (s_.fail_open) {
    kFailureAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  kFailureDenied.inc(ctx.worker());
  rejected_ = s_.mode == PolicyMode::Enforce;
  return rejectOrReport(
      ctx, s_.mode, kName,
      ErrorInfo::make(ErrorKind::Unavailable,
                      absl::StrCat("rate limits cannot be checked (redis '", s_.redis, "': ", why,
                                   ")"),
                      "ratelimit_unavailable"));
}

FilterStatus GlobalRateLimitFilter::onResponseHeaders(RequestContext& ctx) {
  // A 429 of this filter carries its headers already; allowed responses get them when asked.
  if (!rejected_ && s_.response_headers && !rl_.empty()) {
    rl_.setOn(ctx.response().headers);
  }
  return FilterStatus::Continue;
}

std::string GlobalRateLimitConfig::explain(ExplainContext& ctx) const {
  // The client address and the route are not part of an explained request: parts that need
  // them are shown as decided per request.
  RequestFacts facts = factsOf(ctx.head, {}, nullptr, ctx.state);
  std::vector<std::string> out;
  for (const LimitSpec& l : s_.limits) {
    std::vector<std::string> parts;
    bool missing = false;
    for (const DescriptorPart& p : l.parts) {
      absl::string_view v;
      if (p.kind == DescriptorPart::Kind::ClientIp || p.kind == DescriptorPart::Kind::Route) {
        parts.push_back(absl::StrCat(global_ratelimit::partName(p), "=(per request)"));
      } else if (global_ratelimit::partValue(p, facts, &v)) {
        parts.push_back(absl::StrCat(global_ratelimit::partName(p), "='", v, "'"));
      } else {
        missing = true;
        parts.push_back(absl::StrCat(global_ratelimit::partName(p), "=(absent)"));
      }
    }
    std::string one = absl::StrCat("'", l.name, "' (", l.rate_text, ") by ",
                                   parts.empty() ? "nothing (one counter)"
                                                 : absl::StrJoin(parts, ", "));
    if (missing) {
      absl::StrAppend(&one, l.missing_shared ? ": shared counter of requests without it"
                                             : ": skipped (descriptor incomplete)");
    }
    out.push_back(std::move(one));
  }
  return absl::StrCat("redis '", s_.redis, "', failure_mode ", s_.fail_open ? "allow" : "deny",
                      s_.mode == PolicyMode::Report ? ", mode report" : "", "; limits ",
                      absl::StrJoin(out, "; "), " (nothing sent)");
}

absl::Status invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

bool validName(absl::string_view n) {
  if (n.empty() || n.size() > 64) {
    return false;
  }
  for (char c : n) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
        c != '.') {
      return false;
    }
  }
  return true;
}

class GlobalRateLimitFactory : public FilterFactory {
public:
  absl::string_view name() const override { return kName; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::global_ratelimit::v1::GlobalRateLimit::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::global_ratelimit::v1::GlobalRateLimit proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    Settings s;
    if (proto.redis().empty()) {
      return invalid("redis", "required (the name of a redis_servers entry)");
    }
    if (!ctx.redis_server_names.contains(proto.redis())) {
      return invalid("redis", absl::StrCat("unknown redis server '", proto.redis(), "'"));
    }
    s.redis = proto.redis();
    if (!proto.key_prefix().empty()) {
      if (proto.key_prefix().size() > 64) {
        return invalid("key_prefix", "at most 64 characters");
      }
      for (char c : proto.key_prefix()) {
        if (c <= ' ' || c > '~') {
          return invalid("key_prefix", "printable ASCII without spaces only");
        }
      }
      s.prefix = proto.key_prefix();
    }
    if (proto.limits().empty()) {
      return invalid("limits", "at least one limit is required");
    }
    if (static_cast<size_t>(proto.limits_size()) > kMaxLimits) {
      return invalid("limits", absl::StrCat("at most ", kMaxLimits, " limits per filter"));
    }
    absl::flat_hash_set<std::string> names;
    for (int i = 0; i < proto.limits_size(); i++) {
      const auto& pl = proto.limits(i);
      const std::string base = absl::StrCat("limits[", i, "]");
      LimitSpec l;
      if (!validName(pl.name())) {
        return invalid(absl::StrCat(base, ".name"),
                       pl.name().empty() ? "required"
                                         : absl::StrCat("'", pl.name(),
                                                        "': 1 to 64 of [A-Za-z0-9_.-]"));
      }
      if (!names.insert(pl.name()).second) {
        return invalid(absl::StrCat(base, ".name"),
                       absl::StrCat("'", pl.name(), "' is used by another limit"));
      }
      l.name = pl.name();
      if (pl.requests() == 0) {
        return invalid(absl::StrCat(base, ".requests"), "must be at least 1");
      }
      l.requests = pl.requests();
      if (pl.has_period()) {
        const int64_t ms = pl.period().seconds() * 1000 + pl.period().nanos() / 1000000;
        if (pl.period().seconds() < 0 || pl.period().nanos() < 0 || ms < 1 ||
            pl.period().seconds() > 86400 || (ms == 86400000 && pl.period().nanos() != 0)) {
          return invalid(absl::StrCat(base, ".period"), "must be between 1ms and 86400s");
        }
        if (pl.period().nanos() % 1000000 != 0) {
          return invalid(absl::StrCat(base, ".period"), "whole milliseconds only");
        }
        l.period_ms = ms;
      }
      const int64_t t_us = l.period_ms * 1000 / l.requests;
      if (t_us < 1) {
        return invalid(absl::StrCat(base, ".requests"),
                       "more than one request per microsecond of the period");
      }
      l.t_us = absl::StrCat(t_us);
      l.burst = pl.burst() == 0 ? l.requests : pl.burst();
      if (l.burst > 1000000) {
        return invalid(absl::StrCat(base, ".burst"), "at most 1000000");
      }
      l.burst_text = absl::StrCat(l.burst);
      absl::flat_hash_set<std::string> seen;
      for (int j = 0; j < pl.by_size(); j++) {
        const std::string field = absl::StrCat(base, ".by[", j, "]");
        auto part = global_ratelimit::parsePart(pl.by(j));
        if (!part.ok()) {
          return invalid(field, part.status().message());
        }
        if (!seen.insert(global_ratelimit::partName(*part)).second) {
          return invalid(field, absl::StrCat("'", pl.by(j), "' appears twice"));
        }
        l.parts.push_back(*std::move(part));
      }
      if (pl.when_missing() == "shared") {
        l.missing_shared = true;
      } else if (!pl.when_missing().empty() && pl.when_missing() != "skip") {
        return invalid(absl::StrCat(base, ".when_missing"),
                       absl::StrCat("must be 'skip' or 'shared', not '", pl.when_missing(), "'"));
      }
      if (pl.status() != 0) {
        if (pl.status() < 400 || pl.status() > 599) {
          return invalid(absl::StrCat(base, ".status"), "must be 400..599");
        }
        l.status = static_cast<int>(pl.status());
      }
      l.rate_text = absl::StrCat(l.requests, " per ", periodText(l.period_ms), ", burst ",
                                 l.burst);
      l.exceeded_message = absl::StrCat("rate limit '", l.name, "' exceeded (", l.rate_text, ")");
      s.limits.push_back(std::move(l));
    }
    if (proto.failure_mode() == "deny") {
      s.fail_open = false;
    } else if (!proto.failure_mode().empty() && proto.failure_mode() != "allow") {
      return invalid("failure_mode",
                     absl::StrCat("must be 'allow' or 'deny', not '", proto.failure_mode(), "'"));
    }
    if (auto st = parsePolicyMode(proto.mode(), &s.mode); !st.ok()) {
      return st;
    }
    s.response_headers = proto.response_headers();
    if (proto.has_local_precheck_max_entries()) {
      if (proto.local_precheck_max_entries() > (1u << 20)) {
        return invalid("local_precheck_max_entries", "at most 1048576");
      }
      s.precheck_max = proto.local_precheck_max_entries();
    }
    return FilterConfigConstSharedPtr(std::make_shared<GlobalRateLimitConfig>(std::move(s)));
  }
};

const Register<GlobalRateLimitFactory> kRegister;

} // namespace
} // namespace gw::filters
