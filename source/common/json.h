#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace gw {

// Appends `s` to `out` escaped for a JSON string body (no surrounding quotes). Control bytes and
// DEL become \u00XX; other bytes pass through unchanged.
void appendJsonEscaped(absl::string_view s, std::string& out);

// Appends `s` as a quoted JSON string.
inline void appendJsonString(absl::string_view s, std::string& out) {
  out.push_back('"');
  appendJsonEscaped(s, out);
  out.push_back('"');
}

} // namespace gw
