#include "source/ctl/keys.h"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/config/address.h"
#include "source/policy/api_keys.h"
#include "source/policy/quota_period.h"

namespace gw::ctl {
namespace {

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    abort();  // no randomness: never make a guessable key
  }
  return out;
}

std::string formatTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

} // namespace

absl::StatusOr<NewKey> addKey(gateway::v1::Config& cfg, const KeySpec& spec, absl::Time now) {
  if (spec.consumer.empty()) {
    return absl::InvalidArgumentError("--consumer is required");
  }
  NewKey out;
  out.id = spec.id.empty()
               ? absl::StrCat(spec.consumer, "-", absl::BytesToHexString(randomBytes(4)))
               : spec.id;
  for (const auto& k : cfg.api_keys()) {
    if (k.id() == out.id) {
      return absl::AlreadyExistsError(absl::StrCat("a key with id '", out.id, "' exists"));
    }
  }
  std::string b64;
  absl::WebSafeBase64Escape(randomBytes(32), &b64);
  out.key = absl::StrCat("gwk_", b64);
  gateway::v1::ApiKey* k = cfg.add_api_keys();
  k->set_id(out.id);
  k->set_key_sha256(policy::ApiKeyStore::sha256Hex(out.key));
  k->mutable_consumer()->set_id(spec.consumer);
  for (const auto& r : spec.roles) {
    k->mutable_consumer()->add_roles(r);
  }
  k->set_plan(spec.plan);
  if (spec.expires_in) {
    k->mutable_expires_at()->set_seconds(absl::ToUnixSeconds(now + *spec.expires_in));
  }
  return out;
}

absl::Status revokeKey(gateway::v1::Config& cfg, const std::string& id) {
  for (auto& k : *cfg.mutable_api_keys()) {
    if (k.id() == id) {
      if (k.has_enabled() && !k.enabled()) {
        return absl::FailedPreconditionError(absl::StrCat("key '", id, "' is already revoked"));
      }
      k.set_enabled(false);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no API key with id '", id, "'"));
}

std::optional<absl::Duration> parseExpiry(const std::string& text) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t.size() < 2) {
    return std::nullopt;
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(t.substr(0, t.size() - 1), &n) || n <= 0 || n > 100000) {
    return std::nullopt;
  }
  absl::Duration d;
  switch (t.back()) {
  case 'd': d = absl::Hours(24 * n); break;
  case 'h': d = absl::Hours(n); break;
  case 'm': d = absl::Minutes(n); break;
  case 's': d = absl::Seconds(n); break;
  default: return std::nullopt;
  }
  if (d < absl::Minutes(1)) {
    return std::nullopt;
  }
  return d;
}

namespace {

struct KeyRow {
  std::string id, consumer, plan, expires, state;
  std::vector<std::string> roles;
};

std::vector<KeyRow> keyRows(const gateway::v1::Config& cfg, absl::Time now) {
  std::vector<KeyRow> out;
  for (const auto& k : cfg.api_keys()) {
    KeyRow r{k.id(), k.consumer().id().empty() ? k.id() : k.consumer().id(), k.plan(), "never",
             "active", {k.consumer().roles().begin(), k.consumer().roles().end()}};
    if (k.has_expires_at()) {
      const absl::Time at = absl::FromUnixSeconds(k.expires_at().seconds());
      r.expires = formatTime(at);
      if (at <= now) {
        r.state = "expired";
      }
    }
    if (k.has_enabled() && !k.enabled()) {
      r.state = "revoked";
    }
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace

Doc keysDoc(const gateway::v1::Config& cfg, absl::Time now) {
  Doc list = Doc::list();
  for (const KeyRow& r : keyRows(cfg, now)) {
    Doc roles = Doc::list();
    for (const auto& role : r.roles) {
      roles.push(Doc::string(role));
    }
    Doc d = Doc::map();
    d.set("id", Doc::string(r.id));
    d.set("consumer", Doc::string(r.consumer));
    d.set("roles", std::move(roles));
    d.set("plan", Doc::string(r.plan));
    d.set("expires", Doc::string(r.expires));
    d.set("state", Doc::string(r.state));
    list.push(std::move(d));
  }
  return list;
}

Doc usageDoc(const KeyUsage& u, absl::Time now) {
  Doc d = Doc::map();
  d.set("id", Doc::string(u.id));
  d.set("plan", Doc::string(u.plan));
  d.set("period", Doc::string(u.period));
  d.set("limit", Doc::number(u.limit));
  d.set("today", Doc::number(u.today_count));
  d.set("this_period", Doc::number(u.period_count));
  d.set("remaining", Doc::number(std::max<int64_t>(
                         0, static_cast<int64_t>(u.limit) - u.period_count)));
  d.set("period_start", Doc::string(formatTime(u.period_start)));
  d.set("resets_at", Doc::string(formatTime(u.period_end)));
  d.set("resets_in_seconds", Doc::number(absl::ToInt64Seconds(u.period_end - now)));
  d.set("redis", Doc::string(u.redis));
  return d;
}

std::string renderKeys(const gateway::v1::Config& cfg, absl::Time now) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "CONSUMER", "ROLES", "PLAN", "EXPIRES", "STATE"}};
  for (const KeyRow& r : keyRows(cfg, now)) {
    rows.push_back({r.id, r.consumer, r.roles.empty() ? "-" : absl::StrJoin(r.roles, ","),
                    r.plan.empty() ? "-" : r.plan, r.expires, r.state});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); i++) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); i++) {
      out += r[i];
      if (i + 1 < r.size()) {
        out += std::string(width[i] - r[i].size() + 2, ' ');
      }
    }
    out += '\n';
  }
  if (cfg.api_keys().empty()) {
    out += "(no API keys)\n";
  }
  return out;
}

absl::StatusOr<KeyUsage> readUsage(const gateway::v1::Config& cfg, const std::string& id,
                                   absl::Time now) {
  const gateway::v1::ApiKey* key = nullptr;
  for (const auto& k : cfg.api_keys()) {
    if (k.id() == id) {
      key = &k;
    }
  }
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("no API key with id '", id, "'"));
  }
  const gateway::v1::UsagePlan* plan = nullptr;
  for (const auto& p : cfg.usage_plans()) {
    if (p.name() == key->plan()) {
      plan = &p;
    }
  }
  if (plan == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("key '", id, "' has no usage plan"));
  }
  if (!plan->has_quota()) {
    return absl::FailedPreconditionError(
        absl::StrCat("plan '", plan->name(), "' has no quota (only a rate)"));
  }
  if (plan->redis().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan '", plan->name(), "' counts its quota in memory on each proxy, not in Redis, so "
        "there is no one count to read (give the plan a `redis` to share and read it)"));
  }
  const gateway::v1::RedisServer* server = nullptr;
  for (const auto& r : cfg.redis_servers()) {
    if (r.name() == plan->redis()) {
      server = &r;
    }
  }
  if (server == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("plan '", plan->name(), "' names an unknown redis server"));
  }
  auto hp = config::parseHostPort(server->address());
  if (!hp.ok()) {
    return hp.status();
  }
  absl::TimeZone tz = absl::UTCTimeZone();
  if (!plan->quota().time_zone().empty() && !absl::LoadTimeZone(plan->quota().time_zone(), &tz)) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown time zone '", plan->quota().time_zone(), "'"));
  }
  KeyUsage u;
  u.id = id;
  u.plan = plan->name();
  u.limit = plan->quota().limit();
  u.period = gateway::v1::UsagePlan::Quota::Period_Name(plan->quota().period());
  u.redis = absl::StrCat(server->name(), " (", server->address(), ")");
  const policy::QuotaPeriod period = policy::quotaPeriodAt(now, plan->quota().period(), tz);
  const policy::QuotaPeriod day =
      policy::quotaPeriodAt(now, gateway::v1::UsagePlan::Quota::DAY, tz);
  u.period_start = period.start;
  u.period_end = period.end;

  const struct timeval tv = {2, 0};
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(
      redisConnectWithTimeout(hp->host.c_str(), hp->port, tv), redisFree);
  if (c == nullptr || c->err != 0) {
    return absl::UnavailableError(absl::StrCat("redis ", u.redis, ": ",
                                               c == nullptr ? "out of memory" : c->errstr));
  }
  redisSetTimeout(c.get(), tv);
  std::string password = server->password();
  if (!server->password_env().empty()) {
    const char* v = getenv(server->password_env().c_str());
    if (v == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("redis ", u.redis, " takes its password from $", server->password_env(),
                       ", which is not set here"));
    }
    password = v;
  }
  auto get = [&](const std::string& counter) -> absl::StatusOr<int64_t> {
    auto* r = static_cast<redisReply*>(redisCommand(c.get(), "GET %b", counter.data(),
                                                    counter.size()));
    if (r == nullptr) {
      return absl::UnavailableError(absl::StrCat("redis ", u.redis, ": ", c->errstr));
    }
    std::unique_ptr<redisReply, void (*)(redisReply*)> guard(
        r, [](redisReply* x) { freeReplyObject(x); });
    if (r->type == REDIS_REPLY_NIL) {
      return 0;
    }
    int64_t n = 0;
    if (r->type != REDIS_REPLY_STRING ||
        !absl::SimpleAtoi(absl::string_view(r->str, r->len), &n)) {
      return absl::UnavailableError(absl::StrCat("redis ", u.redis, ": GET ", counter, ": ",
                                                 r->type == REDIS_REPLY_ERROR
                                                     ? std::string(r->str, r->len)
                                                     : "not a count"));
    }
    return n;
  };
  if (password != "<redacted>" && !password.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c.get(), "AUTH %s", password.c_str()));
    if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
      if (r != nullptr) {
        freeReplyObject(r);
      }
      return absl::PermissionDeniedError(absl::StrCat("redis ", u.redis, ": AUTH refused"));
    }
    freeReplyObject(r);
  }
  if (server->database() != 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c.get(), "SELECT %u", server->database()));
    const bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) {
      freeReplyObject(r);
    }
    if (!ok) {
      return absl::UnavailableError(
          absl::StrCat("redis ", u.redis, ": SELECT ", server->database(), " failed"));
    }
  }
  auto in_period = get(policy::quotaCounterKey(u.plan, id, 0, period.startUnix()));
  if (!in_period.ok()) {
    return in_period.status();
  }
  u.period_count = *in_period;
  if (plan->quota().period() == gateway::v1::UsagePlan::Quota::DAY) {
    u.today_count = u.period_count;
  } else {
    auto today = get(policy::dailyCounterKey(u.plan, id, 0, day.startUnix()));
    if (!today.ok()) {
      return today.status();
    }
    u.today_count = *today;
  }
  return u;
}

std::string renderUsage(const KeyUsage& u, absl::Time now) {
  const int64_t used = std::min<int64_t>(u.period_count, static_cast<int64_t>(u.limit));
  return absl::StrCat("key:        ", u.id, "\nplan:       ", u.plan, " (", u.limit, " per ",
                      u.period, ")\ntoday:      ", u.today_count, " requests\nthis ",
                      absl::AsciiStrToLower(u.period), ":  ", u.period_count, " requests (since ",
                      formatTime(u.period_start), ")\nremaining:  ",
                      static_cast<int64_t>(u.limit) - used, "\nresets:     ",
                      formatTime(u.period_end), " (in ",
                      absl::ToInt64Seconds(u.period_end - now), " s)\nfrom:       redis ",
                      u.redis, "\n");
}

} // namespace gw::ctl
