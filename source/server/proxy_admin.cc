#include "source/server/proxy_admin.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/v1/admin.grpc.pb.h"
#include "source/config/config.h"
#include "source/server/admin.h"
#include "source/server/cache_admin_grpc.h"
#include "source/server/explain.h"
#include "source/server/health_status.h"
#include "source/server/server.h"

namespace gw::server {
namespace {

using namespace std::chrono_literals;

// A one-shot answer handed from the main loop (or a worker) to the waiting gRPC thread. Shared:
// an answer that comes after the call gave up lands here and is dropped with it.
template <class T> class Answer {
public:
  void set(T value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!value_.has_value()) {
      value_ = std::move(value);
      cv_.notify_all();
    }
  }
  // Waits until set, `timeout` passed or `stopping` was raised (checked every 50 ms).
  std::optional<T> wait(std::chrono::milliseconds timeout, const std::atomic<bool>& stopping) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    while (!value_.has_value() && !stopping.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        break;
      }
      cv_.wait_until(lock, std::min(deadline, now + 50ms));
    }
    return std::move(value_);
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// Sums the workers' views of one endpoint.
void addEndpoint(const EndpointSnapshot& e, gateway::v1::EndpointStatus& out) {
  out.set_healthy(out.healthy() && e.healthy);  // unhealthy on any worker shows
  out.set_active_requests(out.active_requests() + e.active_requests);
  out.set_total_requests(out.total_requests() + e.total_requests);
  out.set_connections(out.connections() + e.connections);
}

} // namespace

class ProxyAdminServer::Service final : public gateway::v1::ProxyAdmin::Service {
public:
  Service(Server& server, const ProxyAdminOptions& options, const std::atomic<bool>& stopping)
      : server_(server), options_(options), stopping_(stopping) {}

  grpc::Status GetConfig(grpc::ServerContext* ctx, const gateway::v1::ProxyConfigRequest*,
                         gateway::v1::ProxyConfigResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    struct Snapshot {
      RuntimeConfigConstSharedPtr config;
      BoundListeners bound;
    };
    std::optional<Snapshot> snap = onMain<Snapshot>([](Server& s, auto reply) {
      reply(Snapshot{s.config(), s.boundListeners()});
    });
    if (!snap.has_value()) {
      return unavailable();
    }
    out->set_version(snap->config->version);
    *out->mutable_config() = snap->config->proto;
    config::redactSecrets(out->mutable_config());
    for (const auto& [name, addr] : snap->bound) {
      (*out->mutable_bound_listeners())[name] =
          formatAddress(reinterpret_cast<const sockaddr*>(&addr));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetClusters(grpc::ServerContext* ctx, const gateway::v1::ProxyClustersRequest*,
                           gateway::v1::ProxyClustersResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    struct Snapshot {
      RuntimeConfigConstSharedPtr config;
      std::vector<std::vector<ClusterSnapshot>> workers;  // by worker index
    };
    std::optional<Snapshot> snap = onMain<Snapshot>([](Server& s, auto reply) {
      auto snap = std::make_shared<Snapshot>();
      snap->config = s.config();
      snap->workers.resize(s.workers().size());
      if (s.workers().empty()) {
        reply(std::move(*snap));
        return;
      }
      // Each worker fills its own slot on its loop; `collect` calls back on the main loop once
      // all have (its mutex orders their writes before this read).
      s.collect(
          [snap](Worker& w) {
            const size_t i = static_cast<size_t>(w.index());
            if (i < snap->workers.size()) {
              snap->workers[i] = w.clusterSnapshots();
            }
            return std::string();
          },
          [snap, reply](std::vector<std::string>) { reply(std::move(*snap)); });
    });
    if (!snap.has_value()) {
      return unavailable();
    }
    std::vector<const ClusterConfig*> clusters;
    for (const auto& [name, c] : snap->config->clusters) {
      clusters.push_back(c.get());
    }
    std::sort(clusters.begin(), clusters.end(),
              [](const ClusterConfig* a, const ClusterConfig* b) { return a->name < b->name; });
    for (const ClusterConfig* c : clusters) {
      auto* cs = out->add_clusters();
      cs->set_name(c->name);
      cs->set_lb_policy(absl::AsciiStrToLower(
          gateway::v1::Cluster::LbPolicy_Name(c->proto.lb_policy())));
      if (const upstream::CircuitBreaker* b =
              c->runtime != nullptr ? c->runtime->breaker() : nullptr) {
        const int64_t now = upstream::monotonicNowNs();
        cs->set_circuit_state(std::string(upstream::CircuitBreaker::stateName(b->state(now))));
        cs->set_circuit_open_remaining_ms(
            static_cast<uint64_t>(b->openRemainingNs(now) / 1000000));
      }
      const upstream::ClusterRuntime* rt = c->runtime.get();
      const int64_t now = upstream::monotonicNowNs();
      cs->set_panic(rt != nullptr && rt->panic());
      for (size_t i = 0; i < c->endpoints.size(); i++) {
        auto* es = cs->add_endpoints();
        es->set_address(c->endpoints[i].address);
        es->set_weight(c->endpoints[i].weight);
        es->set_healthy(true);
        // Health is the process's (shared flags of the cluster's runtime), not a worker's.
        if (rt != nullptr && i < rt->hostCount()) {
          for (const std::string& r : unhealthyReasons(rt->health(i).reasons())) {
            es->add_unhealthy_reasons(r);
          }
          es->set_healthy(rt->health(i).healthy());
          if (rt->outlier() != nullptr) {
            es->set_outlier_ejections(rt->outlier()->ejections(i));
            es->set_ejected_remaining_ms(ejectedRemainingMs(*rt, i, now));
          }
        }
        for (const auto& worker : snap->workers) {
          for (const ClusterSnapshot& wc : worker) {
            if (wc.name != c->name) {
              continue;
            }
            // Same position when the worker runs this config (the usual case), else by address
            // (a worker between two configs).
            if (i < wc.endpoints.size() && wc.endpoints[i].address == c->endpoints[i].address) {
              addEndpoint(wc.endpoints[i], *es);
            } else {
              for (const EndpointSnapshot& e : wc.endpoints) {
                if (e.address == c->endpoints[i].address) {
                  addEndpoint(e, *es);
                  break;
                }
              }
            }
          }
        }
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status GetStats(grpc::ServerContext* ctx, const gateway::v1::ProxyStatsRequest*,
                        gateway::v1::ProxyStatsResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    std::optional<std::string> text =
        onMain<std::string>([](Server& s, auto reply) { reply(renderMetrics(s)); });
    if (!text.has_value()) {
      return unavailable();
    }
    out->set_prometheus_text(std::move(*text));
    return grpc::Status::OK;
  }

  grpc::Status Drain(grpc::ServerContext* ctx, const gateway::v1::ProxyDrainRequest*,
                     gateway::v1::ProxyDrainResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    std::optional<bool> draining = onMain<bool>([](Server& s, auto reply) {
      fprintf(stderr, "gatewayd: drain requested through the admin gRPC service\n");
      fflush(stderr);
      s.startDrain();
      reply(s.draining());
    });
    if (!draining.has_value()) {
      return unavailable();
    }
    out->set_draining(*draining);
    return grpc::Status::OK;
  }

  // The response cache: the store is process-wide and thread-safe, so no loop is involved.
  grpc::Status CachePurge(grpc::ServerContext* ctx, const gateway::v1::CachePurgeRequest* request,
                          gateway::v1::CachePurgeResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    const int given = !request->key().empty() + !request->prefix().empty() +
                      !request->tag().empty() + request->all();
    if (given != 1) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "give exactly one of key, prefix, tag or all");
    }
    absl::StatusOr<uint64_t> n =
        !request->key().empty()      ? cachePurge("key", request->key())
        : !request->prefix().empty() ? cachePurge("prefix", request->prefix())
        : !request->tag().empty()    ? cachePurge("tag", request->tag())
                                     : cachePurge("all", "");
    if (!n.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(n.status().message()));
    }
    out->set_purged(*n);
    return grpc::Status::OK;
  }

  grpc::Status CacheStats(grpc::ServerContext* ctx, const gateway::v1::CacheStatsRequest*,
                          gateway::v1::CacheStatsResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    fillCacheStats(*out);
    return grpc::Status::OK;
  }

  grpc::Status Explain(grpc::ServerContext* ctx, const gateway::v1::ExplainRequest* request,
                       gateway::v1::ExplainResponse* out) override {
    if (grpc::Status st = authorize(ctx); !st.ok()) {
      return st;
    }
    // Only the pointer is taken on the main loop; the config is immutable, so the explaining
    // runs here and nothing on the main loop or a worker waits for it.
    std::optional<RuntimeConfigConstSharedPtr> config = onMain<RuntimeConfigConstSharedPtr>(
        [](Server& s, auto reply) { reply(s.config()); });
    if (!config.has_value()) {
      return unavailable();
    }
    *out = explainRequest(**config, *request);
    return grpc::Status::OK;
  }

private:
  grpc::Status authorize(grpc::ServerContext* ctx) {
    if (options_.token.empty()) {
      return grpc::Status::OK;
    }
    bool present = false;
    auto range = ctx->client_metadata().equal_range("authorization");
    for (auto it = range.first; it != range.second; ++it) {
      present = true;
      if (bearerTokenMatches(absl::string_view(it->second.data(), it->second.size()),
                             options_.token)) {
        return grpc::Status::OK;
      }
    }
    server_.adminAuthStats().grpc_unauthenticated++;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        present ? "invalid admin token"
                                : "this admin service needs metadata "
                                  "'authorization: Bearer <token>'");
  }

  grpc::Status unavailable() const {
    return grpc::Status(stopping_.load() ? grpc::StatusCode::UNAVAILABLE
                                         : grpc::StatusCode::DEADLINE_EXCEEDED,
                        stopping_.load() ? "gatewayd is shutting down"
                                         : "gatewayd's main loop did not answer in time");
  }

  // Runs `start(server, reply)` on the main loop and waits for `reply(value)` (called on any
  // thread, e.g. from a collect() callback). nullopt on timeout or shutdown.
  template <class T>
  std::optional<T> onMain(std::function<void(Server&, std::function<void(T)>)> start) {
    auto answer = std::make_shared<Answer<T>>();
    Server* s = &server_;
    server_.postMain([s, start = std::move(start), answer] {
      start(*s, [answer](T value) { answer->set(std::move(value)); });
    });
    return answer->wait(options_.call_timeout, stopping_);
  }

  Server& server_;
  const ProxyAdminOptions& options_;
  const std::atomic<bool>& stopping_;
};

ProxyAdminServer::ProxyAdminServer(Server& server, ProxyAdminOptions options)
    : server_(server), options_(std::move(options)),
      service_(std::make_unique<Service>(server_, options_, stopping_)) {}

ProxyAdminServer::~ProxyAdminServer() { shutdown(); }

absl::Status ProxyAdminServer::start() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.address, grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second gatewayd on the same port would silently get half
  // the admin calls. Fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("admin gRPC: cannot listen on ", options_.address,
                     " (in use or not a local address; --admin-grpc-address HOST:PORT|off)"));
  }
  const size_t colon = options_.address.rfind(':');
  bound_ = absl::StrCat(options_.address.substr(0, colon), ":", port);
  return absl::OkStatus();
}

void ProxyAdminServer::shutdown() {
  if (grpc_server_ == nullptr) {
    return;
  }
  stopping_ = true;
  // Calls in progress return within 50 ms (Answer::wait sees `stopping_`); the deadline only
  // bounds a stuck one.
  grpc_server_->Shutdown(std::chrono::system_clock::now() + 2s);
  grpc_server_->Wait();
  grpc_server_.reset();
}

} // namespace gw::server
