// Fuzzes gw::http::normalizeTarget (source/http/path.h). Byte 0 picks the options
// (reject_encoded_slashes, merge_slashes); the rest is the request-target. A normalized target
// is checked against an independent model written from RFC 3986 here: percent-decoding of the
// unreserved characters (section 2.3) and remove_dot_segments as the RFC spells it (section
// 5.2.4, on its input and output buffers), after merging runs of '/' when merge_slashes is set.
// Also: the path starts with '/', has no control character, backslash, '?', '#', dot segment
// or (merged) "//", every '%' starts an upper-case escape of a byte that must stay encoded,
// the query is the raw text between the first '?' and any '#', and normalizing the result
// again changes nothing, and normalizeTarget's one-pass shortcut agrees with
// normalizeTargetFull. Any violation abort()s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "source/http/path.h"

namespace gw::fuzz {
namespace {

[[noreturn]] void fail(const char* what, absl::string_view target, absl::string_view path) {
  fprintf(stderr, "path fuzz invariant violated: %s\n  target: [%.*s]\n  path: [%.*s]\n", what,
          static_cast<int>(target.size()), target.data(), static_cast<int>(path.size()),
          path.data());
  abort();
}

bool unreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The model's decoding; nullopt where the target must be refused.
std::optional<std::string> modelDecode(absl::string_view p, const http::PathOptions& o) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < p.size(); i++) {
    if (p[i] == '\\') {
      return std::nullopt;
    }
    if (p[i] != '%') {
      out.push_back(p[i]);
      continue;
    }
    if (p.size() - i < 3 || hexValue(p[i + 1]) < 0 || hexValue(p[i + 2]) < 0) {
      return std::nullopt;
    }
    const auto v = static_cast<unsigned char>(hexValue(p[i + 1]) * 16 + hexValue(p[i + 2]));
    i += 2;
    if (v == 0 || (o.reject_encoded_slashes && (v == '/' || v == '\\'))) {
      return std::nullopt;
    }
    if (unreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out += {'%', kHex[v >> 4], kHex[v & 15]};
    }
  }
  return out;
}

// RFC 3986 section 5.2.4, step by step (the input always starts with '/' here).
std::string removeDotSegments(std::string in) {
  std::string out;
  auto dropLastSegment = [&]() {
    const size_t cut = out.rfind('/');
    out.resize(cut == std::string::npos ? 0 : cut);
  };
  while (!in.empty()) {
    if (absl::StartsWith(in, "../")) {
      in.erase(0, 3);
    } else if (absl::StartsWith(in, "./")) {
      in.erase(0, 2);
    } else if (absl::StartsWith(in, "/./")) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (absl::StartsWith(in, "/../")) {
      in.erase(0, 3);
      dropLastSegment();
    } else if (in == "/..") {
      in = "/";
      dropLastSegment();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      const size_t next = in.find('/', in[0] == '/' ? 1 : 0);
      out.append(in, 0, next);
      in.erase(0, next == std::string::npos ? in.size() : next);
    }
  }
  return out.empty() ? "/" : out;
}

std::string mergeSlashes(absl::string_view p) {
  std::string out;
  for (const char c : p) {
    if (!(c == '/' && !out.empty() && out.back() == '/')) {
      out.push_back(c);
    }
  }
  return out;
}

void check(absl::string_view target, const http::PathOptions& opts) {
  const auto r = http::normalizeTarget(target, opts);
  // The one-pass shortcut and the full normalization give the same answer.
  const auto full = http::normalizeTargetFull(target, opts);
  if (r.ok() != full.ok() || (r.ok() && (r->path != full->path || r->query != full->query)) ||
      (!r.ok() && r.status() != full.status())) {
    fail("normalizeTarget and normalizeTargetFull disagree", target, r.ok() ? r->path : "");
  }

  // The model: control characters, absolute-form, asterisk, '/', fragment, query, decoding.
  std::optional<std::string> model_path;
  std::string model_query;
  bool control = false;
  for (const unsigned char c : target) {
    control = control || c < 0x21 || c == 0x7f;
  }
  if (!target.empty() && !control) {
    std::string origin(target);
    for (const absl::string_view scheme : {"http://", "https://"}) {
      if (absl::StartsWithIgnoreCase(origin, scheme)) {
        const std::string rest = origin.substr(scheme.size());
        const size_t end = rest.find_first_of("/?#");
        origin = end == std::string::npos ? "/"
                 : rest[end] == '/'       ? rest.substr(end)
                                          : "/" + rest.substr(end);
        break;
      }
    }
    if (origin[0] == '/') {
      origin = origin.substr(0, origin.find('#'));
      const size_t q = origin.find('?');
      if (q != std::string::npos) {
        model_query = origin.substr(q + 1);
        origin.resize(q);
      }
      if (auto decoded = modelDecode(origin, opts)) {
        model_path = removeDotSegments(opts.merge_slashes ? mergeSlashes(*decoded) : *decoded);
      }
    }
  }

  if (!r.ok()) {
    if (model_path) {
      fail("refused a target the model normalizes", target, *model_path);
    }
    return;
  }
  const std::string& path = r->path;
  if (!model_path) {
    fail("normalized a target the model refuses", target, path);
  }
  if (path != *model_path) {
    fail("differs from the RFC 3986 model", target, *model_path);
  }
  if (r->query != model_query) {
    fail("query differs from the raw text after '?'", target, r->query);
  }
  if (path.empty() || path[0] != '/') {
    fail("path does not start with '/'", target, path);
  }
  for (size_t i = 0; i < path.size(); i++) {
    const unsigned char c = path[i];
    if (c < 0x21 || c == 0x7f || c == '\\' || c == '?' || c == '#') {
      fail("path has a control character, backslash, '?' or '#'", target, path);
    }
    if (c == '%') {
      const int hi = i + 2 < path.size() ? hexValue(path[i + 1]) : -1;
      const int lo = hi >= 0 ? hexValue(path[i + 2]) : -1;
      if (lo < 0 || absl::ascii_islower(path[i + 1]) || absl::ascii_islower(path[i + 2]) ||
          unreserved(static_cast<unsigned char>(hi * 16 + lo)) || hi * 16 + lo == 0 ||
          (opts.reject_encoded_slashes && (hi * 16 + lo == '/' || hi * 16 + lo == '\\'))) {
        fail("path has a '%' that is not an upper-case escape of a reserved byte", target, path);
      }
    }
  }
  const std::string with_ends = path + "/";
  if (absl::StrContains(with_ends, "/./") || absl::StrContains(with_ends, "/../")) {
    fail("path has a dot segment", target, path);
  }
  if (opts.merge_slashes && absl::StrContains(path, "//")) {
    fail("merged path has '//'", target, path);
  }
  const auto again = http::normalizeTarget(path, opts);
  if (!again.ok() || again->path != path || !again->query.empty()) {
    fail("normalizing the result again changes it", target, path);
  }
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  gw::http::PathOptions opts;
  opts.reject_encoded_slashes = (data[0] & 1) != 0;
  opts.merge_slashes = (data[0] & 2) != 0;
  gw::fuzz::check(absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), opts);
  return 0;
}
