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

std::string grpcPercentEncode(absl::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (const char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void grpcErrorHead(const filters::ErrorInfo& error, http::ResponseHead& out) {
  out = http::ResponseHead();
  out.status = 200;
  out.headers.add("content-type", "application/grpc");
  out.headers.add("grpc-status", absl::StrCat(filters::grpcStatusFor(error)));
  out.headers.add("grpc-message", grpcPercentEncode(error.message));
  out.headers.add("x-gateway-error", error.code);
  out.headers.add("content-length", "0");
  for (const auto& [name, value] : error.headers) {
    out.headers.add(name, value);
  }
}

} // namespace gw::server
