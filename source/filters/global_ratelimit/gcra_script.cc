#include "source/filters/global_ratelimit/gcra_script.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gw::filters::global_ratelimit {

const char kGcraScript[] = R"lua(-- gateway global_ratelimit GCRA v1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local out = {1}
local tats = {}
for i = 1, n do
  local T = tonumber(ARGV[2 * i - 1])
  local tau = T * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local nt = tat + T
  local allow_at = nt - tau
  tats[i] = nt
  local j = #out
  if allow_at > now then
    out[1] = 0
    out[j + 1] = 0
    out[j + 2] = 0
    out[j + 3] = math.ceil((allow_at - now) / 1000)
    out[j + 4] = math.ceil((tat - now) / 1000)
  else
    out[j + 1] = 1
    out[j + 2] = math.floor((now - allow_at) / T)
    out[j + 3] = 0
    out[j + 4] = math.ceil((nt - now) / 1000)
  end
end
if out[1] == 1 then
  for i = 1, n do
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX',
               math.ceil((tats[i] - now) / 1000) + 1)
  end
end
return out
)lua";

const std::string& gcraScriptSha1() {
  static const std::string hex = [] {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(kGcraScript, sizeof(kGcraScript) - 1, md, &len, EVP_sha1(), nullptr) != 1) {
      abort();  // SHA-1 is always there: failing here means a broken OpenSSL
    }
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(md), len));
  }();
  return hex;
}

absl::StatusOr<Verdicts> parseGcraReply(const redis::RedisReply& r, size_t n) {
  if (r.type != redis::RedisReply::Type::Array || r.elements.size() != 1 + 4 * n) {
    return absl::InternalError(
        absl::StrCat("the rate-limit script answered ", redis::describe(r)));
  }
  for (const redis::RedisReply& e : r.elements) {
    if (e.type != redis::RedisReply::Type::Integer) {
      return absl::InternalError(
          absl::StrCat("the rate-limit script answered ", redis::describe(r)));
    }
  }
  Verdicts v(n);
  for (size_t i = 0; i < n; i++) {
    const auto* e = &r.elements[1 + 4 * i];
    v[i].fits = e[0].integer != 0;
    v[i].remaining = std::max<int64_t>(e[1].integer, 0);
    v[i].retry_after_ms = std::max<int64_t>(e[2].integer, 0);
    v[i].reset_ms = std::max<int64_t>(e[3].integer, 0);
  }
  return v;
}

} // namespace gw::filters::global_ratelimit
