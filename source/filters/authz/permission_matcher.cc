#include "source/filters/authz/permission_matcher.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gw::filters::authz {
namespace {

constexpr size_t kMaxSegments = CompiledPermission::kMaxSegments;
constexpr size_t kMaxBytes = 256;

bool segmentChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
         c == '.' || c == '/';
}

// Splits off the first segment of `rest` into `seg`; `rest` keeps what follows the `:` (empty
// and `more` false after the last segment).
void nextSegment(absl::string_view& rest, absl::string_view& seg, bool& more) {
  const size_t colon = rest.find(':');
  if (colon == absl::string_view::npos) {
    seg = rest;
    rest = {};
    more = false;
  } else {
    seg = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
    more = true;
  }
}

} // namespace

absl::Status validatePermission(absl::string_view permission) {
  if (permission.empty()) {
    return absl::InvalidArgumentError("a permission must not be empty");
  }
  if (permission.size() > kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("permission is ", permission.size(), " bytes, at most ", kMaxBytes));
  }
  absl::string_view rest = permission, seg;
  bool more = true;
  size_t n = 0;
  while (more) {
    nextSegment(rest, seg, more);
    n++;
    if (n > kMaxSegments) {
      return absl::InvalidArgumentError(absl::StrCat("permission '", permission, "' has more than ",
                                                     kMaxSegments, " segments"));
    }
    if (seg.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("permission '", permission, "': segment ", n, " is empty"));
    }
    if (seg == "*") {
      continue;
    }
    for (char c : seg) {
      if (!segmentChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "permission '", permission, "': segment ", n, " ('", seg, "') ",
            c == '*' ? "may be '*' alone, not contain it"
                     : "may hold only letters, digits and - _ . /"));
      }
    }
  }
  return absl::OkStatus();
}

bool permissionMatches(absl::string_view granted, absl::string_view required) {
  absl::string_view g = granted, r = required, gs, rs;
  bool g_more = true, r_more = true;
  while (g_more && r_more) {
    nextSegment(g, gs, g_more);
    nextSegment(r, rs, r_more);
    // A trailing `*` takes this segment and everything after it on the other side.
    if ((gs == "*" && !g_more) || (rs == "*" && !r_more)) {
      return true;
    }
    if (gs != rs && gs != "*" && rs != "*") {
      return false;
    }
  }
  return g_more == r_more;  // both ran out together
}

absl::StatusOr<CompiledPermission> CompiledPermission::compile(absl::string_view text) {
  if (auto st = validatePermission(text); !st.ok()) {
    return st;
  }
  CompiledPermission p;
  p.text_ = std::string(text);
  absl::string_view rest = text, seg;
  bool more = true;
  size_t end = 0;
  while (more) {
    nextSegment(rest, seg, more);
    end += seg.size();
    if (seg == "*") {
      p.stars_ |= static_cast<uint8_t>(1u << p.count_);
    }
    p.ends_[p.count_++] = static_cast<uint16_t>(end);
    end++;  // the ':'
  }
  return p;
}

bool CompiledPermission::matches(const CompiledPermission& other) const {
  const size_t n = count_, m = other.count_;
  for (size_t i = 0; i < n && i < m; i++) {
    const bool a_star = star(i), b_star = other.star(i);
    // A trailing `*` takes this segment and everything after it on the other side.
    if ((a_star && i + 1 == n) || (b_star && i + 1 == m)) {
      return true;
    }
    if (!a_star && !b_star && segment(i) != other.segment(i)) {
      return false;
    }
  }
  return n == m;
}

bool CompiledPermission::matches(absl::string_view other) const {
  const size_t n = count_;
  absl::string_view rest = other, seg;
  bool more = true;
  size_t i = 0;
  for (; i < n && more; i++) {
    nextSegment(rest, seg, more);
    const bool a_star = star(i), b_star = seg == "*";
    if ((a_star && i + 1 == n) || (b_star && !more)) {
      return true;
    }
    if (!a_star && !b_star && segment(i) != seg) {
      return false;
    }
  }
  return i == n && !more;  // both ran out together
}

} // namespace gw::filters::authz
