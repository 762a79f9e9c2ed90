#include "source/server/error_response.h"

#include "absl/strings/str_cat.h"
#include "source/common/json.h"

namespace gw::server {


std::string errorBody(const filters::ErrorInfo& error, absl::string_view request_id) {
  std::string out = "{\"error\":";
  appendJsonString(error.code, out);
  out += ",\"message\":";
  appendJsonString(error.message, out);
  out += absl::StrCat(",\"status\":", error.status, ",\"request_id\":");
  appendJsonString(request_id, out);
  if (!error.details.empty()) {
    out += ",\"details\":{";
    for (size_t i = 0; i < error.details.size(); i++) {
      if (i > 0) {
        out += ',';
      }
      appendJsonString(error.details[i].first, out);
      out += ':';
      appendJsonString(error.details[i].second, out);
    }
    out += '}';
  }
  out += "}\n";
  return out;
}

} // namespace gw::server
