#include "source/filters/cache/redis_tier.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gw::filters::cache {
namespace {

constexpr char kMagic[] = "GWC1";
constexpr char kVaryMagic[] = "GWCV";

void putU64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; i++) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}
void putStr(std::string& out, absl::string_view s) {
  putU64(out, s.size());
  out.append(s.data(), s.size());
}

class Reader {
public:
  explicit Reader(absl::string_view d) : d_(d) {}
  bool u64(uint64_t& v) {
    if (d_.size() < 8) return fail();
    v = 0;
    for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(static_cast<unsigned char>(d_[i])) << (8 * i);
    d_.remove_prefix(8);
    return true;
  }
  bool i64(int64_t& v) {
    uint64_t u;
    if (!u64(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool str(std::string& s) {
    uint64_t n;
    if (!u64(n) || n > d_.size()) return fail();
    s.assign(d_.data(), n);
    d_.remove_prefix(n);
    return true;
  }
  bool strs(std::vector<std::string>& v) {
    uint64_t n;
    if (!u64(n) || n > d_.size()) return fail();
    v.resize(n);
    for (auto& s : v) {
      if (!str(s)) return false;
    }
    return true;
  }
  bool ok() const { return ok_; }
  bool done() const { return d_.empty(); }

private:
  bool fail() {
    ok_ = false;
    return false;
  }
  absl::string_view d_;
  bool ok_ = true;
};

} // namespace

std::string redisKey(absl::string_view key) { return absl::StrCat("gwc:", key); }

std::string encodeEntry(const CacheEntry& e) {
  std::string out(kMagic);
  out.reserve(e.body.size() + 512);
  putU64(out, static_cast<uint64_t>(e.status));
  putU64(out, e.headers.size());
  for (const auto& [k, v] : e.headers) {
    putStr(out, k);
    putStr(out, v);
  }
  putStr(out, e.body);
  putU64(out, static_cast<uint64_t>(e.request_time_ms));
  putU64(out, static_cast<uint64_t>(e.response_time_ms));
  putU64(out, static_cast<uint64_t>(e.initial_age_s));
  putU64(out, static_cast<uint64_t>(e.fresh_lifetime_s));
  putU64(out, static_cast<uint64_t>(e.stale_while_revalidate_s));
  putU64(out, static_cast<uint64_t>(e.stale_if_error_s));
  putU64(out, e.must_revalidate ? 1 : 0);
  putStr(out, e.etag);
  putStr(out, e.last_modified);
  putU64(out, e.vary.size());
  for (const auto& s : e.vary) putStr(out, s);
  putStr(out, e.route);
  putStr(out, e.path);
  putStr(out, e.resource);
  putU64(out, e.tags.size());
  for (const auto& s : e.tags) putStr(out, s);
  return out;
}

std::shared_ptr<CacheEntry> decodeEntry(absl::string_view data) {
  if (data.size() < 4 || data.substr(0, 4) != kMagic) {
    return nullptr;
  }
  Reader r(data.substr(4));
  auto e = std::make_shared<CacheEntry>();
  uint64_t status = 0, n = 0, mr = 0;
  if (!r.u64(status) || status < 100 || status > 599 || !r.u64(n) || n > 10000) {
    return nullptr;
  }
  e->status = static_cast<int>(status);
  e->headers.resize(n);
  for (auto& [k, v] : e->headers) {
    if (!r.str(k) || !r.str(v)) return nullptr;
  }
  if (!r.str(e->body) || !r.i64(e->request_time_ms) || !r.i64(e->response_time_ms) ||
      !r.i64(e->initial_age_s) || !r.i64(e->fresh_lifetime_s) ||
      !r.i64(e->stale_while_revalidate_s) || !r.i64(e->stale_if_error_s) || !r.u64(mr) ||
      !r.str(e->etag) || !r.str(e->last_modified) || !r.strs(e->vary) || !r.str(e->route) ||
      !r.str(e->path) || !r.str(e->resource) || !r.strs(e->tags) || !r.done()) {
    return nullptr;
  }
  e->must_revalidate = mr != 0;
  return e;
}

std::string encodeVary(const std::vector<std::string>& names) {
  return absl::StrCat(kVaryMagic, absl::StrJoin(names, ","));
}

std::optional<std::vector<std::string>> decodeVary(absl::string_view data) {
  if (data.size() < 4 || data.substr(0, 4) != kVaryMagic) {
    return std::nullopt;
  }
  return std::vector<std::string>(absl::StrSplit(data.substr(4), ',', absl::SkipEmpty()));
}

int64_t redisTtlMs(const CacheEntry& e, int64_t now_ms) {
  int64_t left_s = e.fresh_lifetime_s - e.ageAt(now_ms);
  left_s += std::max(e.stale_while_revalidate_s, e.stale_if_error_s);
  if (!e.etag.empty() || !e.last_modified.empty()) {
    left_s = std::max<int64_t>(left_s, 0) + std::max<int64_t>(e.fresh_lifetime_s, 60);
  }
  return std::max<int64_t>(left_s, 1) * 1000;
}

} // namespace gw::filters::cache
