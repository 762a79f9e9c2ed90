// A scriptable discovery server for gatewayd's integration tests. Not gateway-control: it does
// not validate (so a test can force a bad snapshot onto a proxy), stores nothing, and pushes only
// when told to.
//
//   fake_control_plane --listen 127.0.0.1:0
//
// Commands on stdin, one per line:
//   set VERSION FILE          FILE (YAML/JSON config, parsed, not validated) becomes the snapshot;
//                             streams that open later get it unless they report VERSION already
//   push VERSION FILE         set, and send it to every connected proxy now
//   burst N PREFIX FILE       N pushes of FILE as versions PREFIX1..PREFIXN, each after every proxy
//                             answered the previous one; then prints "burst done ..."
//   mute | unmute             stop / resume answering heartbeats (a muted stream looks dead)
//   quit                      exit (also on EOF)
// Events on stdout, one per line, flushed:
//   listening PORT
//   connected node=ID version=V labels=K=V,... auth=VALUE|-
//   push node=ID version=V nonce=N
//   ack node=ID version=V nonce=N
//   nack node=ID version=V nonce=N detail=JSON
//   disconnected node=ID
//   burst done pushed=N acked=A nacked=B
//   error MESSAGE
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gateway/v1/discovery.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"

namespace {

using gateway::v1::DiscoveryRequest;
using gateway::v1::DiscoveryResponse;
using ServerStream = grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>;

std::mutex out_mu;
void emit(const std::string& line) {
  std::lock_guard<std::mutex> lock(out_mu);
  fputs(line.c_str(), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

struct Peer {
  ServerStream* stream;
  std::mutex write_mu;
  std::string node;
};

class FakeDiscovery final : public gateway::v1::DiscoveryService::Service {
public:
  grpc::Status StreamSnapshots(grpc::ServerContext* ctx, ServerStream* stream) override {
    DiscoveryRequest req;
    if (!stream->Read(&req)) {
      return grpc::Status::OK;
    }
    auto peer = std::make_shared<Peer>();
    peer->stream = stream;
    peer->node = req.node().id();
    std::string labels;
    for (const auto& [k, v] : req.node().labels()) {
      absl::StrAppend(&labels, labels.empty() ? "" : ",", k, "=", v);
    }
    std::string auth = "-";
    auto it = ctx->client_metadata().find("authorization");
    if (it != ctx->client_metadata().end()) {
      auth = std::string(it->second.data(), it->second.size());
    }
    emit(absl::StrCat("connected node=", peer->node, " version=", req.version_info(),
                      " labels=", labels, " auth=", auth));
    {
      std::lock_guard<std::mutex> lock(mu_);
      peers_.insert(peer);
      if (have_snapshot_ && version_ != req.version_info()) {
        sendLocked(*peer);
      }
    }
    while (stream->Read(&req)) {
      if (req.heartbeat()) {
        bool muted;
        {
          std::lock_guard<std::mutex> lock(mu_);
          muted = muted_;
        }
        if (!muted) {
          DiscoveryResponse hb;
          hb.set_heartbeat(true);
          std::lock_guard<std::mutex> lock(peer->write_mu);
          stream->Write(hb);
        }
        continue;
      }
      if (req.has_error_detail()) {
        std::string json;
        (void)google::protobuf::util::MessageToJsonString(req.error_detail(), &json);
        emit(absl::StrCat("nack node=", peer->node, " version=", req.version_info(),
                          " nonce=", req.response_nonce(), " detail=", json));
      } else {
        emit(absl::StrCat("ack node=", peer->node, " version=", req.version_info(),
                          " nonce=", req.response_nonce()));
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (outstanding_.erase(req.response_nonce()) > 0) {
        (req.has_error_detail() ? nacked_ : acked_)++;
      }
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      peers_.erase(peer);
    }
    emit(absl::StrCat("disconnected node=", peer->node));
    return grpc::Status::OK;
  }

  void set(const std::string& version, const gateway::v1::Config& config) {
    std::lock_guard<std::mutex> lock(mu_);
    version_ = version;
    snapshot_ = config;
    have_snapshot_ = true;
  }

  // Sends the current snapshot to every peer; returns how many were sent.
  int pushAll() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& p : peers_) {
      sendLocked(*p);
      n++;
    }
    return n;
  }

  void setMuted(bool m) {
    std::lock_guard<std::mutex> lock(mu_);
    muted_ = m;
  }

  // Waits until every pushed nonce was answered (or the timeout); true if all were.
  bool waitAnswered(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return outstanding_.empty(); });
  }

  void resetCounts() {
    std::lock_guard<std::mutex> lock(mu_);
    acked_ = nacked_ = 0;
    outstanding_.clear();
  }
  int acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int nacked() {
    std::lock_guard<std::mutex> lock(mu_);
    return nacked_;
  }

private:
  void sendLocked(Peer& p) {
    DiscoveryResponse r;
    r.set_version_info(version_);
    const std::string nonce = absl::StrCat("n", ++nonce_counter_);
    r.set_nonce(nonce);
    *r.mutable_snapshot() = snapshot_;
    outstanding_.insert(nonce);
    emit(absl::StrCat("push node=", p.node, " version=", version_, " nonce=", nonce));
    std::lock_guard<std::mutex> lock(p.write_mu);
    if (!p.stream->Write(r)) {
      outstanding_.erase(nonce);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::shared_ptr<Peer>> peers_;
  std::string version_;
  gateway::v1::Config snapshot_;
  bool have_snapshot_ = false;
  bool muted_ = false;
  uint64_t nonce_counter_ = 0;
  std::set<std::string> outstanding_;
  int acked_ = 0;
  int nacked_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else {
      fprintf(stderr, "usage: fake_control_plane [--listen HOST:PORT]  (commands on stdin)\n");
      return 2;
    }
  }
  FakeDiscovery service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    fprintf(stderr, "fake_control_plane: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  emit(absl::StrCat("listening ", port));

  auto load = [](const std::string& file) -> std::unique_ptr<gateway::v1::Config> {
    auto parsed = gw::config::loadConfigFile(file);
    if (!parsed.ok()) {
      emit(absl::StrCat("error ", absl::StrReplaceAll(parsed.status().message(), {{"\n", " "}})));
      return nullptr;
    }
    return std::make_unique<gateway::v1::Config>(*std::move(parsed));
  };
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (w.empty()) {
      continue;
    }
    if ((w[0] == "set" || w[0] == "push") && w.size() == 3) {
      auto config = load(w[2]);
      if (config == nullptr) {
        continue;
      }
      service.set(w[1], *config);
      if (w[0] == "push") {
        service.pushAll();
      }
    } else if (w[0] == "burst" && w.size() == 4) {
      auto config = load(w[3]);
      int n = 0;
      if (config == nullptr || !absl::SimpleAtoi(w[1], &n)) {
        continue;
      }
      service.resetCounts();
      int pushed = 0;
      for (int i = 1; i <= n; i++) {
        service.set(absl::StrCat(w[2], i), *config);
        pushed += service.pushAll();
        if (!service.waitAnswered(std::chrono::seconds(10))) {
          emit("error burst: a proxy did not answer within 10 s");
          break;
        }
      }
      emit(absl::StrCat("burst done pushed=", pushed, " acked=", service.acked(),
                        " nacked=", service.nacked()));
    } else if (w[0] == "mute") {
      service.setMuted(true);
    } else if (w[0] == "unmute") {
      service.setMuted(false);
    } else if (w[0] == "quit") {
      break;
    } else {
      emit(absl::StrCat("error unknown command: ", line));
    }
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
