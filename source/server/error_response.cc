#include "source/server/error_response.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace gw::server {

namespace {
void appendJsonString(const std::string& s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        snprintf(buf, sizeof(buf), "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
  }
  out.push_back('"');
}
} // namespace

std::string errorBody(const filters::ErrorInfo& error, const std::string& request_id) {
  std::string out = "{\"error\":";
  appendJsonString(error.code, out);
  out += ",\"message\":";
  appendJsonString(error.message, out);
  out += absl::StrCat(",\"status\":", error.status, ",\"request_id\":");
  appendJsonString(request_id, out);
  out += "}\n";
  return out;
}

} // namespace gw::server
