// Fuzzes the versioning filter's version extractor (source/filters/versioning/
// version_extractor.h). The input is "path\nquery\napi-version\naccept\nsources" where each byte
// of `sources` picks one source (header api-version, path /api/ stripped, path /v/ kept, query
// version, media type application/vnd.example), in order. Invariants (abort() on violation):
// extract never crashes; a found version is not empty, and comes from one of the sources; a
// header or query version equals the value with whitespace and one leading 'v' before a digit
// removed; a path or media type version is 'v'-less and made of letters, digits, '.', '_', '-';
// a stripped path is the request path without one "v<version>/" segment after the prefix.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "source/filters/versioning/version_extractor.h"

namespace {

using gw::filters::versioning::Source;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  fprintf(stderr, "version extractor fuzz invariant violated: %s\n  %s\n", what, detail.c_str());
  abort();
}

bool versionText(const std::string& v) {
  if (v.empty()) {
    return false;
  }
  for (char c : v) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Source kAll[] = {
      {Source::Kind::Header, "api-version", false},
      {Source::Kind::PathPrefix, "/api/", false},
      {Source::Kind::PathPrefix, "/v/", true},
      {Source::Kind::Query, "version", false},
      {Source::Kind::MediaType, "application/vnd.example", false},
  };
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = absl::StrSplit(input, absl::MaxSplits('\n', 4));
  parts.resize(5);
  gw::http::RequestHead head;
  head.method = "GET";
  head.path = parts[0];
  head.query = parts[1];
  if (!parts[2].empty()) {
    head.headers.add("api-version", parts[2]);
  }
  if (!parts[3].empty()) {
    head.headers.add("accept", parts[3]);
  }
  std::vector<Source> sources;
  for (unsigned char c : parts[4]) {
    if (sources.size() < 8) {
      sources.push_back(kAll[c % 5]);
    }
  }
  if (sources.empty()) {
    sources.assign(std::begin(kAll), std::end(kAll));
  }
  const auto e = gw::filters::versioning::extract(sources, head);
  if (e.source == nullptr) {
    if (!e.version.empty()) {
      fail("a version without a source", e.version);
    }
    return 0;
  }
  if (e.source < sources.data() || e.source >= sources.data() + sources.size()) {
    fail("the source is not one of the configured ones", e.version);
  }
  if (e.version.empty()) {
    fail("an empty version", input);
  }
  switch (e.source->kind) {
  case Source::Kind::Header: {
    std::string v(absl::StripAsciiWhitespace(parts[2]));
    if (v.size() >= 2 && (v[0] == 'v' || v[0] == 'V') &&
        absl::ascii_isdigit(static_cast<unsigned char>(v[1]))) {
      v.erase(0, 1);
    }
    if (v != e.version) {
      fail("a header version differs from the header", e.version + " vs " + parts[2]);
    }
    break;
  }
  case Source::Kind::PathPrefix:
  case Source::Kind::MediaType:
    if (!versionText(e.version)) {
      fail("a path or media type version with other characters", e.version);
    }
    break;
  case Source::Kind::Query: break;
  }
  if (!e.stripped_path.empty()) {
    // prefix + rest, where the path is prefix + "v" + version-ish segment + "/" + rest.
    bool ok = false;
    for (const char* prefix : {"/api/"}) {
      if (absl::StartsWith(head.path, prefix) && absl::StartsWith(e.stripped_path, prefix)) {
        const std::string rest = e.stripped_path.substr(strlen(prefix));
        const std::string tail = head.path.substr(strlen(prefix));
        const size_t slash = tail.find('/');
        const std::string seg = tail.substr(0, slash);
        ok = seg.size() >= 2 && (seg[0] == 'v' || seg[0] == 'V') &&
             (slash == std::string::npos ? rest.empty() : tail.substr(slash + 1) == rest);
      }
    }
    if (!ok) {
      fail("the stripped path is not the path without its version segment",
           head.path + " -> " + e.stripped_path);
    }
  }
  return 0;
}
