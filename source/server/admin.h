#pragma once

#include "source/common/auth.h"

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

inline absl::StatusOr<bool> isLoopbackAddress(absl::string_view address) {
  return isLoopbackListenAddress(address);
}

using gw::bearerTokenMatches;

} // namespace gw::server
