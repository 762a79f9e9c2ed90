#include "source/http/path.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/common/percent.h"

namespace gw::http {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";


// RFC 3986 section 2.3.
bool isUnreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool isControl(unsigned char c) { return c < 0x21 || c == 0x7F; }

// Reduces an absolute-form target ("http://host:port/p?q") to its origin-form ("/p?q"). Returns
// false when `target` is not absolute-form. An empty path becomes "/" (RFC 9112 section 3.2.2).
bool stripAbsoluteForm(absl::string_view target, std::string& origin) {
  AbsoluteForm parts;
  if (!splitAbsoluteForm(target, parts)) {
    return false;
  }
  if (parts.tail.empty()) {
    origin = "/";
  } else if (parts.tail[0] != '/') {
    origin = absl::StrCat("/", parts.tail);
  } else {
    origin = std::string(parts.tail);
  }
  return true;
}

// Decodes unreserved percent-escapes, upper-cases the others and rejects what cannot be forwarded
// safely. `path` has no query or fragment.
absl::Status decodePath(absl::string_view path, const PathOptions& opts, std::string& out) {
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); i++) {
    const char c = path[i];
    if (c == '\\') {
      return absl::InvalidArgumentError("backslash in path");
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= path.size()) {
      return absl::InvalidArgumentError("invalid percent-encoding in path");
    }
    const int hi = hexDigitValue(path[i + 1]);
    const int lo = hexDigitValue(path[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError("invalid percent-encoding in path");
    }
    const unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
    i += 2;
    if (v == 0) {
      return absl::InvalidArgumentError("encoded NUL in path");
    }
    if (v == '/' && opts.reject_encoded_slashes) {
      return absl::InvalidArgumentError("encoded slash in path");
    }
    if (v == '\\' && opts.reject_encoded_slashes) {
      return absl::InvalidArgumentError("encoded backslash in path");
    }
    if (isUnreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else {
      out.push_back('%');
      out.push_back(kHexDigits[v >> 4]);
      out.push_back(kHexDigits[v & 0xF]);
    }
  }
  return absl::OkStatus();
}

// RFC 3986 section 5.2.4 on a decoded path that starts with '/', segment by segment. With
// `merge_slashes`, empty segments (runs of '/') are dropped first, except a trailing one, so
// "/a//../b" is "/b" (as nginx sees it) rather than "/a/b". ".." at the root stays at the root.
std::string removeDotSegments(absl::string_view in, bool merge_slashes) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 1;  // skip the leading '/'
  while (true) {
    const size_t slash = in.find('/', pos);
    const bool last = slash == absl::string_view::npos;
    const absl::string_view seg = last ? in.substr(pos) : in.substr(pos, slash - pos);
    if (seg == ".") {
      if (last) {
        out.push_back('/');
      }
    } else if (seg == "..") {
      const size_t cut = out.rfind('/');
      if (cut != std::string::npos) {
        out.resize(cut);
      }
      if (last) {
        out.push_back('/');
      }
    } else if (seg.empty() && merge_slashes && !last) {
      // Merged into the next separator.
    } else {
      out.push_back('/');
      out.append(seg.data(), seg.size());
    }
    if (last) {
      break;
    }
    pos = slash + 1;
  }
  if (out.empty()) {
    out = "/";
  }
  return out;
}

// Bytes that send an origin-form target to the full normalization below: controls (refused),
// '%' (escapes to decode), '\\' (refused) and '#' (a fragment to drop).
struct SlowByteTable {
  bool slow[256] = {};
  constexpr SlowByteTable() {
    for (int c = 0; c < 0x21; c++) slow[c] = true;
    slow[0x7F] = true;
    slow[static_cast<unsigned char>('%')] = true;
    slow[static_cast<unsigned char>('\\')] = true;
    slow[static_cast<unsigned char>('#')] = true;
  }
};
constexpr SlowByteTable kSlowByte;

// The common case, in one pass: an origin-form target whose path normalization would leave as it
// is (no escapes, no backslash, no fragment, no "." or ".." segment, and no empty segment when
// they are merged). Sets `question` to the '?' (or npos). False sends it to the full path.
bool alreadyNormal(absl::string_view t, bool merge_slashes, size_t& question) {
  const size_t n = t.size();
  if (n == 0 || t[0] != '/') {
    return false;
  }
  size_t i = 0;
  for (; i < n; i++) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (kSlowByte.slow[c]) {
      return false;
    }
    if (c == '?') {
      break;
    }
    if (c != '/' || i + 1 == n) {
      continue;
    }
    const char next = t[i + 1];
    if (next == '/' && merge_slashes) {
      return false;
    }
    if (next == '.') {
      size_t j = i + 2;
      if (j < n && t[j] == '.') {
        j++;
      }
      if (j == n || t[j] == '/' || t[j] == '?') {
        return false;  // a dot segment
      }
    }
  }
  question = i == n ? absl::string_view::npos : i;
  for (i++; i < n; i++) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (c < 0x21 || c == 0x7F || c == '#') {
      return false;
    }
  }
  return true;
}

} // namespace

bool splitAbsoluteForm(absl::string_view target, AbsoluteForm& out) {
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(target, "http://")) {
    rest = target.substr(7);
  } else if (absl::StartsWithIgnoreCase(target, "https://")) {
    rest = target.substr(8);
  } else {
    return false;
  }
  const size_t end = std::min(rest.find_first_of("/?#"), rest.size());
  out.authority = rest.substr(0, end);
  out.tail = rest.substr(end);
  return true;
}

absl::StatusOr<NormalizedTarget> normalizeTarget(absl::string_view target,
                                                 const PathOptions& opts) {
  size_t question = 0;
  if (alreadyNormal(target, opts.merge_slashes, question)) {
    NormalizedTarget result;
    if (question == absl::string_view::npos) {
      result.path.assign(target.data(), target.size());
    } else {
      result.path.assign(target.data(), question);
      result.query.assign(target.data() + question + 1, target.size() - question - 1);
    }
    return result;
  }
  return normalizeTargetFull(target, opts);
}

absl::StatusOr<NormalizedTarget> normalizeTargetFull(absl::string_view target,
                                                     const PathOptions& opts) {
  if (target.empty()) {
    return absl::InvalidArgumentError("empty request target");
  }
  for (const char c : target) {
    if (isControl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("control character in request target");
    }
  }
  std::string origin;
  if (stripAbsoluteForm(target, origin)) {
    target = origin;
  }
  if (target == "*") {
    return absl::InvalidArgumentError("asterisk-form request target");
  }
  if (target[0] != '/') {
    return absl::InvalidArgumentError("path must start with '/'");
  }
  const size_t hash = target.find('#');
  if (hash != absl::string_view::npos) {
    target = target.substr(0, hash);
  }
  NormalizedTarget result;
  absl::string_view raw_path = target;
  const size_t question = target.find('?');
  if (question != absl::string_view::npos) {
    raw_path = target.substr(0, question);
    result.query = std::string(target.substr(question + 1));
  }
  std::string decoded;
  if (absl::Status s = decodePath(raw_path, opts, decoded); !s.ok()) {
    return s;
  }
  result.path = removeDotSegments(decoded, opts.merge_slashes);
  return result;
}

} // namespace gw::http
