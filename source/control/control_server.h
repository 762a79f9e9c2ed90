#pragma once

#include "source/common/auth.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/control/control_plane.h"

namespace gw::control {

struct ControlServerOptions {
  // "host:port" (port 0: ephemeral, see ControlServer::port()).
  std::string listen = "127.0.0.1:18000";
  // Non-empty: every call of both services must carry `authorization: Bearer <token>`; others
  // are refused with UNAUTHENTICATED, logged and counted.
  std::string token;
  // Transport keepalive: the server pings every connection this often and drops it when a ping
  // is not answered in time, so a vanished peer is noticed within seconds even when its stream
  // is blocked (the heartbeats of ControlPlane are the application-level check).
  std::chrono::milliseconds keepalive_time{4000};
  std::chrono::milliseconds keepalive_timeout{4000};
  LogFn log;  // default: stderr, prefixed "gateway-control: "
};

// gateway-control's gRPC server: gateway.v1.DiscoveryService (for gatewayd; one thread per
// stream plus one reader thread) and gateway.v1.ControlAdmin (for gatewayctl), both around one
// ControlPlane. The plane must outlive the server.
class ControlServer {
public:
  ControlServer(ControlPlane& plane, ControlServerOptions options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and starts serving. Fails when the address cannot be bound.
  absl::Status start();
  int port() const { return port_; }
  // Ends every discovery stream, then stops the server (in-flight admin calls get up to 2 s).
  // Idempotent; also done by the destructor.
  void shutdown();
  // Calls refused for a missing or wrong token since start.
  uint64_t unauthenticatedCalls() const { return unauthenticated_.load(); }

  // OK when the call may proceed; otherwise UNAUTHENTICATED (logged, counted).
  grpc::Status authorize(const grpc::ServerContext& ctx, absl::string_view method);
  ControlPlane& plane() { return plane_; }
  void log(const std::string& line) const;

private:
  ControlPlane& plane_;
  const ControlServerOptions options_;
  std::unique_ptr<grpc::Service> discovery_;
  std::unique_ptr<grpc::Service> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
  std::atomic<uint64_t> unauthenticated_{0};
};

using gw::isLoopbackListenAddress;

using gw::bearerTokenMatches;

} // namespace gw::control
