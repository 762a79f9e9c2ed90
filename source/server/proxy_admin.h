#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace grpc {
class Server;
}

namespace gw::server {

class Server;

struct ProxyAdminOptions {
  std::string address = "127.0.0.1:9902";  // gRPC listening address, "host:port"
  // When set, every call needs metadata "authorization: Bearer <token>" (else UNAUTHENTICATED,
  // counted in gateway_admin_unauthenticated_total{endpoint="grpc"}).
  std::string token;
  // How long a call waits for the main loop (and the workers) to answer.
  std::chrono::milliseconds call_timeout{5000};
};

// The proxy's gRPC admin service (gateway.v1.ProxyAdmin in api/gateway/v1/admin.proto):
// GetConfig, GetClusters, GetStats, Drain, Explain. Calls run on gRPC's threads; whatever touches
// server state is posted to the main loop (Server::postMain; worker state through
// Server::collect) and the call waits for the answer, at most `call_timeout`. Explain only takes
// the running config's pointer on the main loop and computes on the gRPC thread (the config is
// immutable), so it never blocks the main loop or a worker.
class ProxyAdminServer {
public:
  ProxyAdminServer(Server& server, ProxyAdminOptions options);
  ~ProxyAdminServer();  // shutdown()

  // Binds and starts serving. Fails when the address cannot be bound (no SO_REUSEPORT: a second
  // process on the same port is an error, not a silent split).
  absl::Status start();
  // "127.0.0.1:PORT" once started (the port resolved when 0 was asked for).
  const std::string& boundAddress() const { return bound_; }
  // Stops accepting calls; calls waiting for the main loop give up at once. Idempotent.
  void shutdown();

private:
  class Service;
  Server& server_;
  ProxyAdminOptions options_;
  std::string bound_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
};

} // namespace gw::server
