#include "source/filters/cache/rules.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace gw::filters::cache {
namespace {

constexpr int64_t kLargeSeconds = int64_t{1} << 40;

std::optional<int64_t> deltaSeconds(absl::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
  }
  int64_t n = 0;
  if (v.empty() || !absl::SimpleAtoi(v, &n) || n < 0) {
    // RFC 9111 1.2.2: an overflowing delta-seconds means "very large"; garbage means invalid.
    if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return kLargeSeconds;
    }
    return std::nullopt;
  }
  return std::min(n, kLargeSeconds);
}

} // namespace

CacheControl parseCacheControl(const HeaderMap& headers) {
  CacheControl cc;
  for (const auto& [name, value] : headers.entries()) {
    if (name != "cache-control") {
      continue;
    }
    forEachListToken(value, [&cc](absl::string_view d) {
      absl::string_view arg;
      const size_t eq = d.find('=');
      absl::string_view dn = d;
      if (eq != absl::string_view::npos) {
        dn = absl::StripAsciiWhitespace(d.substr(0, eq));
        arg = absl::StripAsciiWhitespace(d.substr(eq + 1));
      }
      if (equalsLowerAscii(dn, "no-store")) cc.no_store = true;
      else if (equalsLowerAscii(dn, "no-cache")) cc.no_cache = true;
      else if (equalsLowerAscii(dn, "private")) cc.priv = true;
      else if (equalsLowerAscii(dn, "public")) cc.pub = true;
      else if (equalsLowerAscii(dn, "must-revalidate") || equalsLowerAscii(dn, "proxy-revalidate"))
        cc.must_revalidate = true;
      else if (equalsLowerAscii(dn, "only-if-cached")) cc.only_if_cached = true;
      else if (equalsLowerAscii(dn, "max-age")) {
        // RFC 9111 4.2.1: an invalid value makes the response stale.
        cc.max_age = deltaSeconds(arg).value_or(0);
      } else if (equalsLowerAscii(dn, "s-maxage")) {
        cc.s_maxage = deltaSeconds(arg).value_or(0);
      } else if (equalsLowerAscii(dn, "stale-while-revalidate")) {
        if (auto v = deltaSeconds(arg)) cc.stale_while_revalidate = *v;
      } else if (equalsLowerAscii(dn, "stale-if-error")) {
        if (auto v = deltaSeconds(arg)) cc.stale_if_error = *v;
      } else if (equalsLowerAscii(dn, "min-fresh")) {
        if (auto v = deltaSeconds(arg)) cc.min_fresh = *v;
      } else if (equalsLowerAscii(dn, "max-stale")) {
        cc.max_stale = arg.empty() ? kLargeSeconds : deltaSeconds(arg).value_or(0);
      }
    });
  }
  return cc;
}

std::optional<int64_t> parseHttpDate(absl::string_view s) {
  static const char* const kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %e %H:%M:%S %Y",       // asctime
  };
  const std::string str(absl::StripAsciiWhitespace(s));
  for (const char* f : kFormats) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(f, str, absl::UTCTimeZone(), &t, &err)) {
      return absl::ToUnixSeconds(t);
    }
  }
  return std::nullopt;
}

std::string formatHttpDate(int64_t epoch_seconds) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromUnixSeconds(epoch_seconds),
                          absl::UTCTimeZone());
}

std::string whyNotServable(const RoutePolicy& policy, absl::string_view method,
                           const HeaderMap& request_headers, const CacheControl& request_cc) {
  if (method != "GET" && method != "HEAD") {
    return "method";
  }
  if (request_headers.has("authorization") && !policy.cache_authorized) {
    return "authorization";
  }
  if (request_cc.no_store) {
    return "request no-store";
  }
  if (request_cc.no_cache || (request_cc.max_age && *request_cc.max_age == 0)) {
    return "request no-cache";
  }
  if (!request_headers.has("cache-control")) {
    if (const std::string* p = request_headers.get("pragma"); p != nullptr) {
      bool nc = false;
      forEachListToken(*p, [&nc](absl::string_view t) { nc = nc || equalsLowerAscii(t, "no-cache"); });
      if (nc) {
        return "request no-cache";
      }
    }
  }
  return "";
}

std::string whyNotStorable(const RoutePolicy& policy, absl::string_view method,
                           bool request_has_authorization, const CacheControl& request_cc,
                           int status, const HeaderMap& response_headers,
                           const CacheControl& response_cc) {
  if (method != "GET") {
    return "method";
  }
  if (std::find(policy.cacheable_statuses.begin(), policy.cacheable_statuses.end(), status) ==
      policy.cacheable_statuses.end()) {
    return absl::StrCat("status ", status);
  }
  if (request_cc.no_store) {
    return "request no-store";
  }
  if (response_cc.no_store) {
    return "no-store";
  }
  if (response_cc.priv) {
    return "private";
  }
  if (request_has_authorization && !policy.cache_authorized && !response_cc.pub &&
      !response_cc.s_maxage && !response_cc.must_revalidate) {
    return "authorization";
  }
  if (response_headers.has("set-cookie") && !policy.cache_set_cookie) {
    return "set-cookie";
  }
  for (const std::string& v : varyNames(response_headers)) {
    if (v == "*") {
      return "vary *";
    }
  }
  return "";
}

int64_t freshnessLifetime(const RoutePolicy& policy, const HeaderMap& h, const CacheControl& cc,
                          int64_t response_time_ms) {
  if (policy.force_ttl_s > 0) {
    return policy.force_ttl_s;
  }
  if (cc.no_cache) {
    return 0;
  }
  int64_t life = policy.default_ttl_s;
  if (cc.s_maxage) {
    life = *cc.s_maxage;
  } else if (cc.max_age) {
    life = *cc.max_age;
  } else if (const std::string* exp = h.get("expires"); exp != nullptr) {
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
    const std::optional<int64_t> e = parseHttpDate(*exp);
    int64_t date = response_time_ms / 1000;
    if (const std::string* d = h.get("date"); d != nullptr) {
      if (auto dv = parseHttpDate(*d)) date = *dv;
    }
    life = e ? std::max<int64_t>(0, *e - date) : 0;
  }
  if (policy.max_ttl_s > 0) {
    life = std::min(life, policy.max_ttl_s);
  }
  return life;
}

int64_t correctedInitialAge(const HeaderMap& h, int64_t request_time_ms, int64_t response_time_ms) {
  const int64_t response_time = response_time_ms / 1000;
  int64_t apparent = 0;
  if (const std::string* d = h.get("date"); d != nullptr) {
    if (auto dv = parseHttpDate(*d)) apparent = std::max<int64_t>(0, response_time - *dv);
  }
  int64_t age_value = 0;
  if (const std::string* a = h.get("age"); a != nullptr) {
    age_value = deltaSeconds(*a).value_or(0);
  }
  const int64_t delay = std::max<int64_t>(0, (response_time_ms - request_time_ms) / 1000);
  return std::max(apparent, age_value + delay);
}

std::vector<std::string> varyNames(const HeaderMap& h) {
  std::vector<std::string> out;
  for (const auto& [name, value] : h.entries()) {
    if (name != "vary") {
      continue;
    }
    forEachListToken(value, [&out](absl::string_view t) {
      std::string n = absl::AsciiStrToLower(t);
      if (std::find(out.begin(), out.end(), n) == out.end()) {
        out.push_back(std::move(n));
      }
    });
  }
  return out;
}

bool hasConditionals(const HeaderMap& h) {
  return h.has("if-none-match") || h.has("if-modified-since");
}

namespace {
absl::string_view opaque(absl::string_view tag) {
  if (tag.size() >= 2 && (tag[0] == 'W' || tag[0] == 'w') && tag[1] == '/') {
    tag.remove_prefix(2);
  }
  return tag;
}
} // namespace

bool conditionalMatches(const HeaderMap& h, const CacheEntry& e) {
  if (const std::string* inm = h.get("if-none-match"); inm != nullptr) {
    // RFC 9110 13.1.2: weak comparison; If-Modified-Since is ignored when If-None-Match is sent.
    bool match = false;
    forEachListToken(*inm, [&](absl::string_view t) {
      match = match || t == "*" || (!e.etag.empty() && opaque(t) == opaque(e.etag));
    });
    return match;
  }
  if (const std::string* ims = h.get("if-modified-since"); ims != nullptr) {
    const std::optional<int64_t> since = parseHttpDate(*ims);
    if (!since) {
      return false;
    }
    std::optional<int64_t> lm;
    if (!e.last_modified.empty()) {
      lm = parseHttpDate(e.last_modified);
    }
    if (!lm) {
      for (const auto& [k, v] : e.headers) {
        if (k == "date") lm = parseHttpDate(v);
      }
    }
    if (!lm) {
      lm = e.response_time_ms / 1000;
    }
    return *lm <= *since;
  }
  return false;
}

bool isUnstoredField(absl::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "te" || n == "trailer" || n == "upgrade" ||
         n == "proxy-authenticate" || n == "age" || n == "x-cache" || n == "content-length";
}

void fillEntry(CacheEntry& e, const RoutePolicy& policy, int status, const HeaderMap& h,
               int64_t request_time_ms, int64_t response_time_ms) {
  const CacheControl cc = parseCacheControl(h);
  e.status = status;
  e.headers.clear();
  for (const auto& [k, v] : h.entries()) {
    if (!isUnstoredField(k)) {
      e.headers.emplace_back(k, v);
    }
  }
  e.request_time_ms = request_time_ms;
  e.response_time_ms = response_time_ms;
  e.initial_age_s = correctedInitialAge(h, request_time_ms, response_time_ms);
  e.fresh_lifetime_s = freshnessLifetime(policy, h, cc, response_time_ms);
  e.stale_while_revalidate_s = cc.stale_while_revalidate.value_or(policy.default_swr_s);
  e.stale_if_error_s = cc.stale_if_error.value_or(policy.default_sie_s);
  e.must_revalidate = cc.must_revalidate || cc.no_cache;
  const std::string* etag = h.get("etag");
  e.etag = etag ? *etag : "";
  const std::string* lm = h.get("last-modified");
  e.last_modified = lm ? *lm : "";
  e.vary = varyNames(h);
}

CacheEntry refreshedEntry(const CacheEntry& stored, const RoutePolicy& policy,
                          const HeaderMap& nm, int64_t request_time_ms, int64_t response_time_ms) {
  CacheEntry e = stored;
  HeaderMap merged;
  for (const auto& [k, v] : stored.headers) {
    if (!nm.has(k) || k == "content-length" || k == "content-type" || k == "content-encoding") {
      merged.add(k, v);
    }
  }
  for (const auto& [k, v] : nm.entries()) {
    if (!isUnstoredField(k) && k != "content-type" && k != "content-encoding") {
      merged.add(k, v);
    }
  }
  const std::vector<std::string> vary = stored.vary;  // the variant stays the same
  fillEntry(e, policy, stored.status, merged, request_time_ms, response_time_ms);
  e.vary = vary;
  return e;
}

} // namespace gw::filters::cache
