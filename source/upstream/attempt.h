#pragma once

#include <cstdint>

namespace gw::upstream {

// How one attempt at an upstream request ended, as the breakers, outlier detection and retry
// policies classify it.
struct AttemptResult {
  enum class Kind : uint8_t {
    Response,        // a response head arrived (see status)
    ConnectFailure,  // no connection (refused, unreachable, connect timeout)
    Reset,           // the connection closed or broke before a complete response
    Timeout,         // the per-try or route timeout fired
    ProtocolError,   // the response could not be parsed
  };
  Kind kind = Kind::Response;
  int status = 0;  // Response only

  bool is5xx() const { return kind == Kind::Response && status >= 500 && status <= 599; }
  // Envoy's "gateway-error": 502, 503, 504, or no usable response at all.
  bool isGatewayError() const {
    return kind != Kind::Response || status == 502 || status == 503 || status == 504;
  }
};

} // namespace gw::upstream
