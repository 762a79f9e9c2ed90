#pragma once
// Field paths of json_transform, in two forms:
// - JSON Pointer (RFC 6901), when the path starts with '/': "/user/first~1name", "/items/0/id".
//   A token selects an object's member by name; a token of digits also selects that element of
//   an array, and the token "*" every element of an array (on an object it is the member "*").
// - Dotted: "user.name", "items[*].price_cents", "items[0].id". A name is any run of characters
//   other than '.', '[' and ']' (use a JSON Pointer for names with those); "[N]" selects element
//   N of an array, "[*]" every element.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::filters::json {

struct Segment {
  std::string key;       // the member name (when by_key)
  bool by_key = true;    // selects an object member named `key`
  int64_t index = -1;    // >= 0: selects this array element
  bool all = false;      // selects every array element
  bool operator==(const Segment& o) const {
    return key == o.key && by_key == o.by_key && index == o.index && all == o.all;
  }
};

struct Path {
  std::vector<Segment> segments;  // never empty
  std::string text;               // as configured
  // The number of leading segments up to and including the last one that can select every
  // element ("[*]", or "*" in a pointer); 0 when there is none.
  size_t wildcardPrefix() const;
};

// Errors say what is wrong: "empty path", "unterminated '[' at 5", "invalid array index 'x'".
absl::StatusOr<Path> parsePath(absl::string_view text);

} // namespace gw::filters::json
