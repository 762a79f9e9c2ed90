#include "source/control/control_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/v1/admin.grpc.pb.h"
#include "gateway/v1/discovery.grpc.pb.h"

namespace gw::control {
namespace {

using gateway::v1::DiscoveryRequest;
using gateway::v1::DiscoveryResponse;
using ServerStream = grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>;

grpc::Status toGrpc(const absl::Status& st) {
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

// gateway.v1.DiscoveryService: one gRPC thread per stream writes (ControlPlane::next decides
// what), one thread of ours reads.
class DiscoveryServiceImpl final : public gateway::v1::DiscoveryService::Service {
public:
  explicit DiscoveryServiceImpl(ControlServer& server) : server_(server) {}

  grpc::Status StreamSnapshots(grpc::ServerContext* ctx, ServerStream* rw) override {
    if (auto st = server_.authorize(*ctx, "DiscoveryService/StreamSnapshots"); !st.ok()) {
      return st;
    }
    ControlPlane& plane = server_.plane();
    DiscoveryRequest hello;
    if (!rw->Read(&hello)) {
      return grpc::Status::OK;  // closed before saying anything
    }
    auto opened = plane.openStream(hello, ctx->peer());
    if (!opened.ok()) {
      return toGrpc(opened.status());
    }
    ControlPlane::StreamSharedPtr stream = *std::move(opened);
    std::thread reader([&plane, stream, rw] {
      DiscoveryRequest req;
      while (rw->Read(&req)) {
        plane.onRequest(*stream, req);
        req.Clear();
      }
      plane.onReadEnd(*stream);
    });
    std::string reason;
    grpc::Status result = grpc::Status::OK;
    for (;;) {
      ControlPlane::Next next = plane.next(*stream);
      if (next.kind == ControlPlane::Next::Kind::kSend) {
        if (!rw->Write(next.response)) {
          reason = "write failed: the stream broke";
          result = grpc::Status(grpc::StatusCode::UNAVAILABLE, reason);
          break;
        }
        continue;
      }
      if (next.kind == ControlPlane::Next::Kind::kPeerClosed) {
        reason = ctx->IsCancelled() ? "stream broken or cancelled" : "closed by the node";
      } else if (next.kind == ControlPlane::Next::Kind::kDead) {
        reason = "nothing heard from the node in time";
        result = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "gateway-control heard nothing from this node in time");
      } else {
        reason = "gateway-control is shutting down";
        result = grpc::Status(grpc::StatusCode::UNAVAILABLE, reason);
      }
      break;
    }
    if (!result.ok()) {
      ctx->TryCancel();  // unblocks the reader
    }
    reader.join();
    plane.closeStream(*stream, reason);
    return result;
  }

private:
  ControlServer& server_;
};

// gateway.v1.ControlAdmin, for gatewayctl.
class ControlAdminImpl final : public gateway::v1::ControlAdmin::Service {
public:
  explicit ControlAdminImpl(ControlServer& server) : server_(server) {}

  grpc::Status Apply(grpc::ServerContext* ctx, const gateway::v1::ApplyRequest* req,
                     gateway::v1::ApplyResponse* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/Apply"); !st.ok()) {
      return st;
    }
    if (req->author().empty()) {
      gateway::v1::ApplyRequest copy = *req;
      copy.set_author(absl::StrCat("anonymous@", ctx->peer()));
      *resp = server_.plane().apply(copy);
    } else {
      *resp = server_.plane().apply(*req);
    }
    return grpc::Status::OK;
  }

  grpc::Status DiffConfig(grpc::ServerContext* ctx, const gateway::v1::DiffRequest* req,
                          gateway::v1::Diff* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/DiffConfig"); !st.ok()) {
      return st;
    }
    *resp = server_.plane().diff(req->config(), req->target());
    return grpc::Status::OK;
  }

  grpc::Status GetSnapshot(grpc::ServerContext* ctx, const gateway::v1::GetSnapshotRequest* req,
                           gateway::v1::StoredSnapshot* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/GetSnapshot"); !st.ok()) {
      return st;
    }
    auto s = server_.plane().snapshot(req->version());
    if (!s.ok()) {
      return toGrpc(s.status());
    }
    *resp = **s;
    return grpc::Status::OK;
  }

  grpc::Status History(grpc::ServerContext* ctx, const gateway::v1::HistoryRequest* req,
                       gateway::v1::HistoryResponse* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/History"); !st.ok()) {
      return st;
    }
    *resp = server_.plane().history(req->limit());
    return grpc::Status::OK;
  }

  grpc::Status Rollback(grpc::ServerContext* ctx, const gateway::v1::RollbackRequest* req,
                        gateway::v1::ApplyResponse* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/Rollback"); !st.ok()) {
      return st;
    }
    gateway::v1::RollbackRequest copy = *req;
    if (copy.author().empty()) {
      copy.set_author(absl::StrCat("anonymous@", ctx->peer()));
    }
    auto r = server_.plane().rollback(copy);
    if (!r.ok()) {
      return toGrpc(r.status());
    }
    *resp = *std::move(r);
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const gateway::v1::StatusRequest*,
                      gateway::v1::StatusResponse* resp) override {
    if (auto st = server_.authorize(*ctx, "ControlAdmin/Status"); !st.ok()) {
      return st;
    }
    *resp = server_.plane().status();
    return grpc::Status::OK;
  }

private:
  ControlServer& server_;
};

} // namespace

ControlServer::ControlServer(ControlPlane& plane, ControlServerOptions options)
    : plane_(plane), options_(std::move(options)) {}

ControlServer::~ControlServer() { shutdown(); }

void ControlServer::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  fprintf(stderr, "gateway-control: %s\n", line.c_str());
  fflush(stderr);
}

grpc::Status ControlServer::authorize(const grpc::ServerContext& ctx, absl::string_view method) {
  if (options_.token.empty()) {
    return grpc::Status::OK;
  }
  const auto range = ctx.client_metadata().equal_range("authorization");
  bool present = false;
  for (auto it = range.first; it != range.second; ++it) {
    present = true;
    if (bearerTokenMatches(absl::string_view(it->second.data(), it->second.size()),
                           options_.token)) {
      return grpc::Status::OK;
    }
  }
  const uint64_t n = ++unauthenticated_;
  log(absl::StrCat("refused ", method, " from ", ctx.peer(), ": ",
                   present ? "wrong bearer token" : "no authorization metadata",
                   " (unauthenticated calls refused so far: ", n, ")"));
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "gateway-control requires 'authorization: Bearer <token>' metadata "
                      "(gatewayctl --token-file; gatewayd --control-plane-token-file)");
}

absl::Status ControlServer::start() {
  discovery_ = std::make_unique<DiscoveryServiceImpl>(*this);
  admin_ = std::make_unique<ControlAdminImpl>(*this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
  // gRPC sets SO_REUSEPORT by default: a second control plane on the same port would then start
  // and share the proxies' connections with the first. Fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(discovery_.get());
  builder.RegisterService(admin_.get());
  // Dead peers: ping every connection, drop it when a ping goes unanswered.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(options_.keepalive_time.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(options_.keepalive_timeout.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gatewayd pings every 30 s; accept client pings down to every 5 s without calling it abuse.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  // Whole configs travel in one message.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen,
                                               " (address in use, or not a local address?)"));
  }
  return absl::OkStatus();
}

void ControlServer::shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  plane_.stop();  // every stream's writer returns; its reader is cancelled
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
  }
}

} // namespace gw::control
