#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::server {

class Server;

// The admin HTTP endpoint on the main loop: /ready, /metrics, /config_dump, /clusters.
class AdminServer {
public:
  explicit AdminServer(Server& server);
  ~AdminServer();
  absl::Status listen(const std::string& address);
  std::string boundAddress() const { return bound_; }
  Server& server() { return server_; }
  uv_tcp_t* handle() { return &handle_; }

private:
  Server& server_;
  uv_tcp_t handle_;
  std::string bound_;
};

// Prometheus text exposition of every worker's stats.
std::string renderMetrics(Server& server);

// True when `address` ("host:port", resolved like every other address) is a loopback address
// (127.0.0.0/8 or ::1). The admin services need a token anywhere else.
absl::StatusOr<bool> isLoopbackAddress(absl::string_view address);

// True when `authorization` is "Bearer <token>" (scheme case-insensitive; the token compared in
// constant time). False for an empty `token`.
bool bearerTokenMatches(absl::string_view authorization, absl::string_view token);

} // namespace gw::server
