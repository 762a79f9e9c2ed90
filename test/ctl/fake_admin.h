#pragma once

// In-process fakes of gateway-control's ControlAdmin and gatewayd's ProxyAdmin, serving canned
// responses on 127.0.0.1:0 and recording what they were sent, so gatewayctl's tests run against
// real gRPC without the real servers.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/v1/admin.grpc.pb.h"

namespace gw::ctl::testing {

// What every fake records about a call.
struct CallLog {
  std::mutex mu;
  std::map<std::string, int> calls;    // by method name
  std::string last_authorization;      // "" when none was sent
  std::string required_token;          // when set, calls without "Bearer <it>" get UNAUTHENTICATED
  std::chrono::milliseconds delay{0};  // each call waits this long (or until cancelled)

  // Records the call; returns a non-OK status when the call must fail.
  grpc::Status enter(grpc::ServerContext* ctx, const std::string& method) {
    std::string token;
    std::chrono::milliseconds delay_copy;
    {
      std::lock_guard<std::mutex> lock(mu);
      calls[method]++;
      auto it = ctx->client_metadata().find("authorization");
      last_authorization = it == ctx->client_metadata().end()
                               ? ""
                               : std::string(it->second.data(), it->second.size());
      token = required_token;
      delay_copy = delay;
    }
    auto until = std::chrono::steady_clock::now() + delay_copy;
    while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!token.empty() && last_authorization != "Bearer " + token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or bad token");
    }
    return grpc::Status::OK;
  }
  int count(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu);
    return calls[method];
  }
  std::string authorization() {
    std::lock_guard<std::mutex> lock(mu);
    return last_authorization;
  }
};

class FakeControlAdmin final : public gateway::v1::ControlAdmin::Service {
public:
  CallLog log;
  // Canned answers; set before the CLI runs (guarded by `mu` for the handler threads).
  std::mutex mu;
  gateway::v1::ApplyResponse apply_response;
  gateway::v1::Diff diff_response;
  std::map<uint64_t, gateway::v1::StoredSnapshot> snapshots;  // GetSnapshot; 0 = latest
  gateway::v1::HistoryResponse history_response;
  gateway::v1::ApplyResponse rollback_response;
  // Status: called with the number of Status calls so far (0 for the first).
  std::function<gateway::v1::StatusResponse(int)> status_fn = [](int) {
    return gateway::v1::StatusResponse();
  };
  // Recorded requests.
  gateway::v1::ApplyRequest last_apply;
  gateway::v1::DiffRequest last_diff;
  gateway::v1::GetSnapshotRequest last_get;
  gateway::v1::HistoryRequest last_history;
  gateway::v1::RollbackRequest last_rollback;

  grpc::Status Apply(grpc::ServerContext* ctx, const gateway::v1::ApplyRequest* req,
                     gateway::v1::ApplyResponse* resp) override {
    if (auto st = log.enter(ctx, "Apply"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_apply = *req;
    *resp = apply_response;
    return grpc::Status::OK;
  }
  grpc::Status DiffConfig(grpc::ServerContext* ctx, const gateway::v1::DiffRequest* req,
                          gateway::v1::Diff* resp) override {
    if (auto st = log.enter(ctx, "DiffConfig"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_diff = *req;
    *resp = diff_response;
    return grpc::Status::OK;
  }
  grpc::Status GetSnapshot(grpc::ServerContext* ctx, const gateway::v1::GetSnapshotRequest* req,
                           gateway::v1::StoredSnapshot* resp) override {
    if (auto st = log.enter(ctx, "GetSnapshot"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_get = *req;
    auto it = snapshots.find(req->version());
    if (it == snapshots.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such version");
    }
    *resp = it->second;
    return grpc::Status::OK;
  }
  grpc::Status History(grpc::ServerContext* ctx, const gateway::v1::HistoryRequest* req,
                       gateway::v1::HistoryResponse* resp) override {
    if (auto st = log.enter(ctx, "History"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_history = *req;
    *resp = history_response;
    return grpc::Status::OK;
  }
  grpc::Status Rollback(grpc::ServerContext* ctx, const gateway::v1::RollbackRequest* req,
                        gateway::v1::ApplyResponse* resp) override {
    if (auto st = log.enter(ctx, "Rollback"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_rollback = *req;
    *resp = rollback_response;
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext* ctx, const gateway::v1::StatusRequest*,
                      gateway::v1::StatusResponse* resp) override {
    int n = log.count("Status");
    if (auto st = log.enter(ctx, "Status"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    *resp = status_fn(n);
    return grpc::Status::OK;
  }
};

class FakeProxyAdmin final : public gateway::v1::ProxyAdmin::Service {
public:
  CallLog log;
  std::mutex mu;
  gateway::v1::ProxyConfigResponse config_response;
  gateway::v1::ProxyClustersResponse clusters_response;
  gateway::v1::ProxyStatsResponse stats_response;
  gateway::v1::ProxyDrainResponse drain_response;
  gateway::v1::ExplainResponse explain_response;
  gateway::v1::ExplainRequest last_explain;

  grpc::Status GetConfig(grpc::ServerContext* ctx, const gateway::v1::ProxyConfigRequest*,
                         gateway::v1::ProxyConfigResponse* resp) override {
    if (auto st = log.enter(ctx, "GetConfig"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    *resp = config_response;
    return grpc::Status::OK;
  }
  grpc::Status GetClusters(grpc::ServerContext* ctx, const gateway::v1::ProxyClustersRequest*,
                           gateway::v1::ProxyClustersResponse* resp) override {
    if (auto st = log.enter(ctx, "GetClusters"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    *resp = clusters_response;
    return grpc::Status::OK;
  }
  grpc::Status GetStats(grpc::ServerContext* ctx, const gateway::v1::ProxyStatsRequest*,
                        gateway::v1::ProxyStatsResponse* resp) override {
    if (auto st = log.enter(ctx, "GetStats"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    *resp = stats_response;
    return grpc::Status::OK;
  }
  grpc::Status Drain(grpc::ServerContext* ctx, const gateway::v1::ProxyDrainRequest*,
                     gateway::v1::ProxyDrainResponse* resp) override {
    if (auto st = log.enter(ctx, "Drain"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    *resp = drain_response;
    return grpc::Status::OK;
  }
  grpc::Status Explain(grpc::ServerContext* ctx, const gateway::v1::ExplainRequest* req,
                       gateway::v1::ExplainResponse* resp) override {
    if (auto st = log.enter(ctx, "Explain"); !st.ok()) {
      return st;
    }
    std::lock_guard<std::mutex> lock(mu);
    last_explain = *req;
    *resp = explain_response;
    return grpc::Status::OK;
  }
};

// Serves a fake on 127.0.0.1:0 until destroyed.
class FakeServer {
public:
  explicit FakeServer(grpc::Service* service) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(service);
    server_ = b.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

} // namespace gw::ctl::testing
