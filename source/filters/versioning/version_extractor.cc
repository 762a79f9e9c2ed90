#include "source/filters/versioning/version_extractor.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/percent.h"

namespace gw::filters::versioning {
namespace {

bool versionChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// "v2" -> "2"; "2" stays; anything else as it is (then unknown to the version table).
std::string normalize(absl::string_view v) {
  v = absl::StripAsciiWhitespace(v);
  if (v.size() >= 2 && (v[0] == 'v' || v[0] == 'V') &&
      absl::ascii_isdigit(static_cast<unsigned char>(v[1]))) {
    v.remove_prefix(1);
  }
  return std::string(v);
}

bool fromPath(const Source& s, const http::RequestHead& head, Extracted& out) {
  const absl::string_view path = head.path;
  if (!absl::StartsWith(path, s.name)) {
    return false;
  }
  const absl::string_view rest = path.substr(s.name.size());
  const size_t slash = rest.find('/');
  const absl::string_view seg = rest.substr(0, slash);
  if (seg.size() < 2 || (seg[0] != 'v' && seg[0] != 'V') ||
      !absl::ascii_isdigit(static_cast<unsigned char>(seg[1]))) {
    return false;
  }
  for (char c : seg) {
    if (!versionChar(c)) {
      return false;
    }
  }
  out.version = std::string(seg.substr(1));
  out.stripped_path = absl::StrCat(
      s.name, slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash + 1));
  return true;
}

bool fromMediaType(const Source& s, const http::RequestHead& head, Extracted& out) {
  for (const auto& [name, value] : head.headers.entries()) {
    if (name != "accept") {
      continue;
    }
    for (absl::string_view range : absl::StrSplit(value, ',')) {
      range = absl::StripAsciiWhitespace(range.substr(0, range.find(';')));
      if (range.size() <= s.name.size() + 2 || !absl::StartsWithIgnoreCase(range, s.name) ||
          range[s.name.size()] != '.' ||
          (range[s.name.size() + 1] != 'v' && range[s.name.size() + 1] != 'V')) {
        continue;
      }
      absl::string_view v = range.substr(s.name.size() + 2);
      v = v.substr(0, v.find('+'));
      bool ok = !v.empty();
      for (char c : v) {
        ok = ok && versionChar(c);
      }
      if (ok) {
        out.version = std::string(v);
        return true;
      }
    }
  }
  return false;
}

} // namespace

std::string Source::describe() const {
  switch (kind) {
  case Kind::Header: return absl::StrCat("header ", name);
  case Kind::PathPrefix:
    return absl::StrCat("path ", name, "v<version>/", keep_path ? " (kept)" : " (stripped)");
  case Kind::Query: return absl::StrCat("query ", name);
  case Kind::MediaType: return absl::StrCat("media type ", name, ".v<version>+json");
  }
  return "";
}

Extracted extract(const std::vector<Source>& sources, const http::RequestHead& head) {
  Extracted out;
  for (const Source& s : sources) {
    bool found = false;
    switch (s.kind) {
    case Source::Kind::Header:
      if (const std::string* v = head.headers.get(s.name)) {
        out.version = normalize(*v);
        found = !out.version.empty();
      }
      break;
    case Source::Kind::PathPrefix:
      found = fromPath(s, head, out);
      if (s.keep_path) {
        out.stripped_path.clear();
      }
      break;
    case Source::Kind::Query:
      forEachQueryPair(head.query, [&](absl::string_view, absl::string_view k,
                                       absl::string_view v) {
        if (!queryKeyIs(k, s.name)) {
          return true;
        }
        out.version = normalize(percentDecode(v));
        found = !out.version.empty();
        return false;
      });
      break;
    case Source::Kind::MediaType: found = fromMediaType(s, head, out); break;
    }
    if (found) {
      out.source = &s;
      break;
    }
    out.version.clear();
  }
  // A version segment in the path is not the upstream's even when an earlier source decided.
  if (out.source != nullptr && out.source->kind != Source::Kind::PathPrefix) {
    for (const Source& s : sources) {
      Extracted path;
      if (s.kind == Source::Kind::PathPrefix && !s.keep_path && fromPath(s, head, path)) {
        out.stripped_path = std::move(path.stripped_path);
        break;
      }
    }
  }
  return out;
}

} // namespace gw::filters::versioning
