#include "source/server/grpc_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace gw::server {

bool isGrpcRequest(const HeaderMap& headers) {
  const std::string* ct = headers.get("content-type");
  if (ct == nullptr) {
    return false;
  }
  constexpr absl::string_view kGrpc = "application/grpc";
  if (!absl::StartsWithIgnoreCase(*ct, kGrpc)) {
    return false;
  }
  return ct->size() == kGrpc.size() || (*ct)[kGrpc.size()] == '+' || (*ct)[kGrpc.size()] == ';';
}

std::optional<std::chrono::milliseconds> parseGrpcTimeout(absl::string_view v) {
  if (v.size() < 2 || v.size() > 9) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); i++) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(v[i]))) {
      return std::nullopt;
    }
    n = n * 10 + static_cast<uint64_t>(v[i] - '0');
  }
  // At most 8 digits (99,999,999): hours fit in milliseconds without overflow.
  uint64_t ms = 0;
  switch (v.back()) {
  case 'H': ms = n * 3600 * 1000; break;
  case 'M': ms = n * 60 * 1000; break;
  case 'S': ms = n * 1000; break;
  case 'm': ms = n; break;
  case 'u': ms = (n + 999) / 1000; break;
  case 'n': ms = (n + 999999) / 1000000; break;
  default: return std::nullopt;
  }
  return std::chrono::milliseconds(ms);
}

std::chrono::milliseconds requestDeadline(std::chrono::milliseconds route_timeout,
                                          const HeaderMap& headers) {
  const std::string* t = headers.get("grpc-timeout");
  if (t == nullptr || !isGrpcRequest(headers)) {
    return route_timeout;
  }
  const std::optional<std::chrono::milliseconds> g = parseGrpcTimeout(*t);
  if (!g.has_value()) {
    return route_timeout;
  }
  // grpc-timeout 0 means the deadline has passed: 1 ms fires it at once.
  const std::chrono::milliseconds d = std::max(*g, std::chrono::milliseconds(1));
  return route_timeout.count() > 0 ? std::min(route_timeout, d) : d;
}

} // namespace gw::server
