#include "source/filters/cache/key.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "source/filters/identity.h"

namespace gw::filters::cache {
namespace {

constexpr char kSep = '\x1f';

// FNV-1a 32: stable across processes and builds (absl::Hash is seeded per process).
uint32_t fnv1a(absl::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

} // namespace

std::string KeyRules::version() const {
  std::string desc = "gwc-key-1";
  for (const auto& h : headers) absl::StrAppend(&desc, "|h:", h);
  for (const auto& c : cookies) absl::StrAppend(&desc, "|c:", c);
  for (const auto& i : identity) absl::StrAppend(&desc, "|i:", i);
  return absl::StrFormat("k%08x", fnv1a(desc));
}

std::string sortedQuery(absl::string_view query) {
  if (query.empty()) {
    return "";
  }
  std::vector<absl::string_view> parts = absl::StrSplit(query, '&', absl::SkipEmpty());
  std::stable_sort(parts.begin(), parts.end(), [](absl::string_view a, absl::string_view b) {
    return a.substr(0, a.find('=')) < b.substr(0, b.find('='));
  });
  return absl::StrJoin(parts, "&");
}

std::string resourceOf(absl::string_view path, absl::string_view query) {
  std::string q = sortedQuery(query);
  return q.empty() ? std::string(path) : absl::StrCat(path, "?", q);
}

std::string keyHeaderValue(const HeaderMap& headers, absl::string_view name) {
  std::string out;
  for (const auto& [n, v] : headers.entries()) {
    if (n != name) {
      continue;
    }
    forEachListToken(v, [&out](absl::string_view t) {
      if (!out.empty()) out += ',';
      for (char c : t) {
        if (c != ' ' && c != '\t') out += absl::ascii_tolower(static_cast<unsigned char>(c));
      }
    });
  }
  return out;
}

std::string cookieValue(const HeaderMap& headers, absl::string_view name) {
  for (const auto& [n, v] : headers.entries()) {
    if (n != "cookie") {
      continue;
    }
    for (absl::string_view pair : absl::StrSplit(v, ';')) {
      pair = absl::StripAsciiWhitespace(pair);
      const size_t eq = pair.find('=');
      if (eq != absl::string_view::npos && pair.substr(0, eq) == name) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return "";
}

std::string baseKey(const KeyRules& rules, absl::string_view version, absl::string_view scheme,
                    absl::string_view host, absl::string_view resource, const HeaderMap& h,
                    const Identity* identity) {
  std::string k = absl::StrCat(version, std::string(1, kSep), scheme, "://", host, resource);
  for (const auto& name : rules.headers) {
    absl::StrAppend(&k, std::string(1, kSep), name, "=", keyHeaderValue(h, name));
  }
  for (const auto& name : rules.cookies) {
    absl::StrAppend(&k, std::string(1, kSep), "cookie:", name, "=", cookieValue(h, name));
  }
  for (const auto& part : rules.identity) {
    std::string v;
    if (identity != nullptr) {
      if (part == "subject") {
        v = identity->subject;
      } else if (part == "provider") {
        v = std::string(identity->provider);
      } else if (absl::StartsWith(part, "claim:")) {
        const absl::string_view claim = absl::string_view(part).substr(6);
        for (const auto& [cn, cv] : identity->claims) {
          if (cn == claim) v = cv;
        }
      }
    }
    absl::StrAppend(&k, std::string(1, kSep), "id:", part, "=", v);
  }
  return k;
}

std::string varyKey(absl::string_view base, const std::vector<std::string>& vary,
                    const HeaderMap& h) {
  std::string k(base);
  for (const auto& name : vary) {
    absl::StrAppend(&k, std::string(1, kSep), "vary:", name, "=", keyHeaderValue(h, name));
  }
  return k;
}

} // namespace gw::filters::cache
