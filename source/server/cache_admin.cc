#include "source/server/cache_admin.h"

#include "absl/strings/str_cat.h"
#include "source/common/json.h"
#include "source/common/percent.h"
#include "source/filters/cache/store.h"

namespace gw::server {

using filters::cache::MemoryStore;
using filters::cache::PurgeKind;

absl::StatusOr<uint64_t> cachePurge(absl::string_view kind, absl::string_view value) {
  PurgeKind k;
  if (kind == "key") {
    k = PurgeKind::Key;
  } else if (kind == "prefix") {
    k = PurgeKind::Prefix;
  } else if (kind == "tag") {
    k = PurgeKind::Tag;
  } else if (kind == "all") {
    k = PurgeKind::All;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown purge kind '", kind, "' (key, prefix, tag or all)"));
  }
  if (k != PurgeKind::All && value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("purge by ", kind, " needs a value"));
  }
  if ((k == PurgeKind::Key || k == PurgeKind::Prefix) && value.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(kind, " must start with '/'"));
  }
  return MemoryStore::global().purge(k, std::string(value));
}

std::string cacheStatsJson() { return MemoryStore::global().statsJson(); }

bool handleCacheAdmin(absl::string_view method, absl::string_view path, absl::string_view query,
                      int& status, std::string& body) {
  if (path == "/cache/stats") {
    status = 200;
    body = cacheStatsJson() + "\n";
    return true;
  }
  if (path != "/cache/purge") {
    return false;
  }
  if (method != "POST") {
    status = 405;
    body = "{\"error\":\"method_not_allowed\",\"message\":\"POST /cache/purge\"}\n";
    return true;
  }
  std::string kind, value;
  forEachQueryPair(query, [&](absl::string_view, absl::string_view k, absl::string_view v) {
    const std::string key = percentDecode(k);
    if (key == "key" || key == "prefix" || key == "tag" || key == "all") {
      kind = key;
      value = percentDecode(v);
    }
    return true;
  });
  if (kind.empty()) {
    status = 400;
    body = "{\"error\":\"bad_request\",\"message\":\"POST /cache/purge?key=|prefix=|tag=|all=1\"}\n";
    return true;
  }
  absl::StatusOr<uint64_t> n = cachePurge(kind, value);
  if (!n.ok()) {
    status = 400;
    body = "{\"error\":\"bad_request\",\"message\":";
    appendJsonString(n.status().message(), body);
    body += "}\n";
    return true;
  }
  status = 200;
  body = absl::StrCat("{\"purged\":", *n, "}\n");
  return true;
}

} // namespace gw::server
