#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <string>

namespace gw::ctl {

// gatewayctl's exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;  // refused, NACKed, not found, timed out waiting for nodes
inline constexpr int kExitUsage = 2;    // usage error, or the server cannot be reached / used

// The server a call went to, for messages that say what to do.
struct Endpoint {
  std::string what;     // "gateway-control" or "gatewayd's admin"
  std::string address;  // as given, e.g. "127.0.0.1:18000"
  std::string flag;     // the flag that changes it: "--server" or "--proxy"
};

struct RpcFailure {
  int exit_code;
  std::string message;  // one or more lines, no trailing newline, no "error: " prefix
};

// The one place a gRPC status becomes an exit code: UNAVAILABLE, DEADLINE_EXCEEDED,
// UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED and CANCELLED are connection/usage problems
// (2); everything else is the server refusing or not finding something (1). OK is 0.
int exitCodeFor(grpc::StatusCode code);

// A message for a failed call that names the server and says what to do.
RpcFailure describeRpcError(const grpc::Status& status, const Endpoint& endpoint,
                            std::chrono::milliseconds timeout, bool token_sent);

// "UNAVAILABLE", "NOT_FOUND", ...
const char* statusCodeName(grpc::StatusCode code);

} // namespace gw::ctl
