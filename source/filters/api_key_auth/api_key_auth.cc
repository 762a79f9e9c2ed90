// `api_key_auth` (pre stage, sees responses): the caller's API key, found by its SHA-256 among
// the config's api_keys, and the key's usage plan.
//   no key / two keys          -> 401 api_key_missing / api_key_malformed
//   unknown, disabled, expired -> 401 api_key_unknown / api_key_disabled / api_key_expired
//   over the plan's rate       -> 429 rate_limited with Retry-After
//   over the plan's quota      -> 429 quota_exceeded with Retry-After and the reset time
//   Redis unreachable          -> the plan's failure_mode: pass, or 503 quota_unavailable
// The key is removed from the request (header and query parameter) before anything else. A valid
// key puts the consumer's Identity in the filter state (method api_key, roles). Responses of the
// request carry RateLimit-Limit / -Remaining / -Reset. One instance per request: a Redis quota
// count may be in flight.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/filters/api_key_auth/v1/api_key_auth.pb.h"
#include "source/common/percent.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/report_only.h"
#include "source/http/http1_codec.h"
#include "source/policy/api_keys.h"
#include "source/policy/ratelimit_headers.h"
#include "source/redis/redis_client.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

const FilterCounter kAllowed{"api_key_auth", "allowed", "Requests with a valid key within its plan."};
const FilterCounter kDenied{"api_key_auth", "denied",
                            "Requests refused with 401 (key missing, unknown, disabled, expired)."};
const FilterCounter kRateLimited{"api_key_auth", "rate_limited",
                                 "Requests refused with 429 over the plan's rate."};
const FilterCounter kQuotaExceeded{"api_key_auth", "quota_exceeded",
                                   "Requests refused with 429 over the plan's quota."};
const FilterLabeledCounter kRedisUnavailable{
    "api_key_auth", "quota_redis_unavailable",
    "Quota counts Redis could not make, by plan and the failure_mode decision (allow, deny).",
    {"plan", "decision"}};

struct Settings {
  std::shared_ptr<const policy::ApiKeyStore> store;
  std::string header = "x-api-key";
  std::string query_param;
  PolicyMode mode = PolicyMode::Enforce;
};

enum class KeyStatus { Ok, Missing, Malformed };

// RFC 3339 in UTC with a Z: "2027-01-01T00:00:00Z".
std::string utcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Takes the key out of the request: every copy of the header and of the query parameter is
// removed (so the upstream never sees it), and `key` gets the one presented.
KeyStatus takeKey(const Settings& s, http::RequestHead& req, std::string& key) {
  size_t found = 0;
  if (const std::string* v = req.headers.get(s.header)) {
    key = *v;
    found = req.headers.remove(s.header);
  }
  if (!s.query_param.empty() && !req.query.empty()) {
    std::string kept;
    forEachQueryPair(req.query,
                     [&](absl::string_view pair, absl::string_view k, absl::string_view v) {
                       if (queryKeyIs(k, s.query_param)) {
                         found++;
                         key = percentDecode(v);
                       } else {
                         absl::StrAppend(&kept, kept.empty() ? "" : "&", pair);
                       }
                       return true;
                     });
    req.query = std::move(kept);
  }
  if (found == 0 || key.empty()) {
    return found > 1 ? KeyStatus::Malformed : KeyStatus::Missing;
  }
  return found > 1 ? KeyStatus::Malformed : KeyStatus::Ok;
}

class ApiKeyFilter : public Filter {
public:
  explicit ApiKeyFilter(const Settings& s) : s_(s) {}

  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override {
    if (!rl_.empty()) {
      rl_.setOn(ctx.response().headers);
    }
    return FilterStatus::Continue;
  }
  void onDestroy(RequestContext&) override {
    if (redis_id_ != 0) {
      redis_->cancel(redis_id_);
      redis_id_ = 0;
    }
  }

private:
  FilterStatus reject(RequestContext& ctx, ErrorInfo e) {
    if (!rl_.empty()) {
      rl_.appendTo(e.headers);
    }
    return rejectOrReport(ctx, s_.mode, "api_key_auth", std::move(e));
  }
  FilterStatus unauthenticated(RequestContext& ctx, const char* code, std::string message) {
    kDenied.inc(ctx.worker());
    ErrorInfo e = ErrorInfo::make(ErrorKind::Unauthenticated, std::move(message), code);
    e.headers.emplace_back("www-authenticate", absl::StrCat("ApiKey header=\"", s_.header, "\""));
    return reject(ctx, std::move(e));
  }
  // The quota's verdict for a request counted as number `count` of the period.
  FilterStatus quotaDecided(RequestContext& ctx, bool admitted, uint64_t count);
  // Redis could not count: the plan's failure_mode.
  FilterStatus quotaUnavailable(RequestContext& ctx, const std::string& why);

  const Settings& s_;
  const policy::ApiKeyEntry* key_ = nullptr;
  const policy::PlanLimits* limits_ = nullptr;
  policy::QuotaPeriod period_;
  absl::Time now_;
  std::shared_ptr<redis::RedisClient> redis_;
  uint64_t redis_id_ = 0;
  policy::RateLimitHeaders rl_;  // RateLimit-* values (empty until known)
};

FilterStatus ApiKeyFilter::onRequestHeaders(RequestContext& ctx) {
  std::string presented;
  const KeyStatus ks = takeKey(s_, ctx.request(), presented);
  if (ks == KeyStatus::Missing) {
    return unauthenticated(ctx, "api_key_missing",
                           absl::StrCat("no API key in the ", s_.header, " header",
                                        s_.query_param.empty()
                                            ? ""
                                            : absl::StrCat(" or the ", s_.query_param,
                                                           " query parameter")));
  }
  if (ks == KeyStatus::Malformed) {
    return unauthenticated(ctx, "api_key_malformed", "more than one API key in the request");
  }
  key_ = s_.store->find(policy::ApiKeyStore::sha256(presented));
  if (key_ == nullptr) {
    return unauthenticated(ctx, "api_key_unknown", "the API key is not known");
  }
  now_ = absl::Now();
  if (!key_->enabled) {
    return unauthenticated(ctx, "api_key_disabled", "the API key is disabled");
  }
  if (key_->expires_at && *key_->expires_at <= now_) {
    return unauthenticated(ctx, "api_key_expired",
                           absl::StrCat("the API key expired at ",
                                        utcText(*key_->expires_at)));
  }
  Identity& id = ctx.filterState().emplace(kIdentity);
  id.method = "api_key";
  id.subject = key_->consumer_id;
  id.roles = key_->roles;
  id.provider = key_->id;
  if (key_->plan == nullptr) {
    kAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  const router::RouteEntry* route = ctx.route();
  limits_ = &key_->plan->limitsFor(route != nullptr ? absl::string_view(route->name()) : "",
                                   ctx.request().method);
  if (limits_->rate != nullptr) {
    const auto d = limits_->rate->take(key_->id, policy::RateLimiter::nowNs());
    const int64_t retry_s = policy::ceilSeconds(d.retry_after_ns);
    rl_.set(limits_->rate->burst(), d.remaining,
            d.allowed ? (d.remaining < limits_->rate->burst() ? 1 : 0)
                      : std::max<int64_t>(retry_s, 1));
    if (!d.allowed) {
      kRateLimited.inc(ctx.worker());
      ErrorInfo e = ErrorInfo::make(
          ErrorKind::RateLimited,
          absl::StrCat("over the rate of usage plan '", key_->plan->name, "' (",
                       limits_->rate->describeRate(), ")"),
          "rate_limited");
      e.headers.emplace_back("retry-after", rl_.reset);
      return reject(ctx, std::move(e));
    }
  }
  if (!limits_->has_quota) {
    kAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  period_ = policy::cachedQuotaPeriodAt(now_, limits_->period, limits_->time_zone);
  if (key_->plan->redis.empty()) {
    const auto r = key_->cells[limits_->index]->take(period_, limits_->quota_limit);
    return quotaDecided(ctx, r.admitted, r.count);
  }
  redis_ = ctx.worker().redis(key_->plan->redis);
  if (redis_ == nullptr) {
    return quotaUnavailable(ctx, "not configured on this worker");
  }
  // One counter per key, limits and period, shared by every node: INCR is atomic, so the
  // requests admitted never exceed the limit. It expires a day after its period.
  std::string counter = policy::quotaCounterKey(key_->plan->name, key_->id, limits_->index,
                                                period_.startUnix());
  const int64_t expire_at = absl::ToUnixSeconds(period_.end) + 86400;
  if (limits_->period != gateway::v1::UsagePlan::Quota::DAY) {
    // Today's count too, for `gatewayctl keys usage` (not waited for: it decides nothing).
    const policy::QuotaPeriod day = policy::cachedQuotaPeriodAt(
        now_, gateway::v1::UsagePlan::Quota::DAY, limits_->time_zone);
    const std::string daily =
        policy::dailyCounterKey(key_->plan->name, key_->id, limits_->index, day.startUnix());
    auto ignore = [](absl::StatusOr<redis::RedisReply>) {};
    redis_->command({"INCR", daily}, ignore);
    redis_->command({"EXPIREAT", daily, absl::StrCat(absl::ToUnixSeconds(day.end) + 86400)},
                    ignore);
  }
  RequestHandle h = ctx.handle();
  redis_id_ = redis_->command(
      {"INCR", counter}, [this, h, counter, expire_at](absl::StatusOr<redis::RedisReply> r) {
        RequestContext* c = h.context();
        if (c == nullptr) {
          return;
        }
        redis_id_ = 0;
        FilterStatus st;
        if (!r.ok()) {
          st = quotaUnavailable(*c, std::string(r.status().message()));
        } else if (r->type != redis::RedisReply::Type::Integer) {
          st = quotaUnavailable(*c, absl::StrCat("INCR answered ", r->str));
        } else {
          if (r->integer == 1) {
            redis_->command({"EXPIREAT", counter, absl::StrCat(expire_at)},
                            [](absl::StatusOr<redis::RedisReply>) {});
          }
          st = quotaDecided(*c, static_cast<uint64_t>(r->integer) <= limits_->quota_limit,
                            static_cast<uint64_t>(r->integer));
        }
        if (st == FilterStatus::Continue) {
          c->resume();
        }
      });
  return FilterStatus::Pause;
}

FilterStatus ApiKeyFilter::quotaDecided(RequestContext& ctx, bool admitted, uint64_t count) {
  const uint64_t limit = limits_->quota_limit;
  rl_.set(limit, count >= limit ? 0 : limit - count, period_.secondsLeft(now_));
  if (admitted) {
    kAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  kQuotaExceeded.inc(ctx.worker());
  const std::string reset_at = utcText(period_.end);
  ErrorInfo e = ErrorInfo::make(
      ErrorKind::RateLimited,
      absl::StrCat("the quota of usage plan '", key_->plan->name, "' (", limit, " per ",
                   gateway::v1::UsagePlan::Quota::Period_Name(limits_->period), ") is used up until ",
                   reset_at),
      "quota_exceeded");
  e.headers.emplace_back("retry-after", rl_.reset);
  e.details.emplace_back("limit", rl_.limit);
  e.details.emplace_back("reset", reset_at);
  return reject(ctx, std::move(e));
}

FilterStatus ApiKeyFilter::quotaUnavailable(RequestContext& ctx, const std::string& why) {
  const bool allow = key_->plan->fail_open;
  kRedisUnavailable.inc(ctx.worker(), {key_->plan->name, allow ? "allow" : "deny"});
  if (allow) {
    kAllowed.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  ErrorInfo e = ErrorInfo::make(
      ErrorKind::Unavailable,
      absl::StrCat("the quota of usage plan '", key_->plan->name, "' cannot be counted (redis '",
                   key_->plan->redis, "': ", why, ")"),
      "quota_unavailable");
  return reject(ctx, std::move(e));
}

class ApiKeyConfig : public FilterConfig {
public:
  explicit ApiKeyConfig(Settings s) : s_(std::move(s)) {}
  FilterPtr create() const override { return std::make_unique<ApiKeyFilter>(s_); }
  bool seesResponse() const override { return true; }
  std::string explain(ExplainContext& ctx) const override {
    http::RequestHead head = ctx.head;
    std::string presented;
    const KeyStatus ks = takeKey(s_, head, presented);
    if (ks != KeyStatus::Ok) {
      return ks == KeyStatus::Missing ? "401 api_key_missing" : "401 api_key_malformed";
    }
    const policy::ApiKeyEntry* k = s_.store->find(policy::ApiKeyStore::sha256(presented));
    if (k == nullptr) {
      return "401 api_key_unknown";
    }
    if (!k->enabled) {
      return absl::StrCat("key '", k->id, "': 401 api_key_disabled");
    }
    if (k->expires_at && *k->expires_at <= absl::Now()) {
      return absl::StrCat("key '", k->id, "': 401 api_key_expired");
    }
    Identity& id = ctx.state.emplace(kIdentity);
    id.method = "api_key";
    id.subject = k->consumer_id;
    id.roles = k->roles;
    id.provider = k->id;
    std::string out = absl::StrCat("key '", k->id, "' of consumer '", k->consumer_id, "'");
    if (k->plan == nullptr) {
      return absl::StrCat(out, ", no usage plan");
    }
    const policy::PlanLimits& l = k->plan->limits;
    absl::StrAppend(&out, " on plan '", k->plan->name, "'");
    if (l.rate != nullptr) {
      absl::StrAppend(&out, ", rate ", l.rate->describeRate());
    }
    if (l.has_quota) {
      absl::StrAppend(&out, ", quota ", l.quota_limit, " per ",
                      gateway::v1::UsagePlan::Quota::Period_Name(l.period), " (",
                      l.time_zone_name, ", ",
                      k->plan->redis.empty() ? "in memory per node"
                                             : absl::StrCat("shared in redis '", k->plan->redis,
                                                            "'"),
                      ")");
    }
    if (!k->plan->overrides.empty()) {
      absl::StrAppend(&out, ", ", k->plan->overrides.size(), " override(s)");
    }
    return out;
  }

private:
  Settings s_;
};

class ApiKeyFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "api_key_auth"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::api_key_auth::v1::ApiKeyAuth::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::api_key_auth::v1::ApiKeyAuth proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    Settings s;
    if (ctx.api_keys == nullptr) {
      return absl::InvalidArgumentError(
          "the config's api_keys or usage_plans are invalid (see their errors)");
    }
    s.store = ctx.api_keys;
    if (!proto.header().empty()) {
      s.header = absl::AsciiStrToLower(proto.header());
      for (char c : s.header) {
        if (!isTokenChar(c)) {
          return absl::InvalidArgumentError(
              absl::StrCat("header: '", proto.header(), "' is not a header name"));
        }
      }
    }
    s.query_param = proto.query_param();
    if (auto st = parsePolicyMode(proto.mode(), &s.mode); !st.ok()) {
      return st;
    }
    return FilterConfigConstSharedPtr(std::make_shared<ApiKeyConfig>(std::move(s)));
  }
};

const Register<ApiKeyFactory> kRegister;

} // namespace
} // namespace gw::filters
