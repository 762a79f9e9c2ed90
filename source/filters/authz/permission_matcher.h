#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::filters::authz {

// Permissions are `:`-separated segments, e.g. `orders:read`, `orders:items:write`, `*`.
//
// Grammar (docs/security.md, "Permission grammar"):
//   permission = segment *( ":" segment )        at most 8 segments, at most 256 bytes
//   segment    = "*" / 1*( ALPHA / DIGIT / "-" / "_" / "." / "/" )
//
// Matching is case-sensitive and segment by segment; a segment is never split, so `orders:*`
// does not match `orders-admin:read`. `*` is a whole segment only (`ord*` is not valid):
//   - `*` as the LAST segment matches one or more remaining segments (`orders:*` matches
//     `orders:read` and `orders:items:read`; `*` alone matches every permission);
//   - `*` elsewhere matches exactly one segment (`*:read` matches `orders:read`, not
//     `orders:items:read` and not `read`).
// Either side may hold wildcards: a granted and a required permission match when some concrete
// permission is matched by both (granted `orders:*` satisfies `orders:read`; granted
// `orders:read` satisfies a requirement `orders:*`, "some access to orders").

// OK, or an error naming what is wrong ("segment 2 is empty", ...).
absl::Status validatePermission(absl::string_view permission);

// Whether a granted and a required permission match, as above. Allocation-free. Text that does
// not follow the grammar (a token's claim may hold anything) is compared literally: a segment
// is a wildcard only when it is exactly `*`.
bool permissionMatches(absl::string_view granted, absl::string_view required);

// A permission of the config (a rule's any_of / all_of, a role's grants), validated and split
// into segments once when the config is built. Matching it allocates nothing and decides the
// same as permissionMatches on its text, against another compiled permission or against raw
// text (an identity's permission, which comes from a token and is not compiled).
class CompiledPermission {
public:
  static constexpr size_t kMaxSegments = 8;

  // The permission, or validatePermission's error.
  static absl::StatusOr<CompiledPermission> compile(absl::string_view text);

  const std::string& text() const { return text_; }
  size_t segments() const { return count_; }
  absl::string_view segment(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1] + 1;
    return absl::string_view(text_).substr(begin, ends_[i] - begin);
  }
  bool star(size_t i) const { return (stars_ >> i) & 1; }

  bool matches(const CompiledPermission& other) const;
  bool matches(absl::string_view other) const;

private:
  std::string text_;
  std::array<uint16_t, kMaxSegments> ends_{};  // end offset of each segment in text_
  uint8_t count_ = 0;
  uint8_t stars_ = 0;  // bit i: segment i is `*`
};

} // namespace gw::filters::authz
