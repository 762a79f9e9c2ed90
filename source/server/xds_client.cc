#include "source/server/xds_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "source/server/config_reaper.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/server/runtime_config.h"
#include "source/server/server.h"

namespace gw::server {

namespace {

using Clock = std::chrono::steady_clock;

void logf(const std::string& line) {
  fprintf(stderr, "gatewayd: control plane: %s\n", line.c_str());
  fflush(stderr);
}

std::string firstLine(absl::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

} // namespace

gateway::v1::ErrorDetail errorDetailFromMessage(absl::string_view message) {
  gateway::v1::ErrorDetail detail;
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n', absl::SkipWhitespace());
  for (absl::string_view line : lines) {
    auto* e = detail.add_errors();
    const size_t colon = line.find(": ");
    // A field path never contains whitespace: "cannot resolve 'x y': ..." is all message.
    const absl::string_view path = colon == absl::string_view::npos ? "" : line.substr(0, colon);
    if (!path.empty() && path.find_first_of(" \t") == absl::string_view::npos) {
      e->set_path(std::string(path));
      e->set_message(std::string(line.substr(colon + 2)));
    } else {
      e->set_message(std::string(line));
    }
  }
  if (lines.empty()) {
    detail.set_message("config rejected");
  } else if (lines.size() == 1) {
    detail.set_message(std::string(lines[0]));
  } else {
    detail.set_message(absl::StrCat(lines.size(), " problems, first: ", lines[0]));
  }
  return detail;
}

std::chrono::milliseconds backoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds max, uint64_t random) {
  int64_t ceiling = std::max<int64_t>(base.count(), 1);
  for (int i = 0; i < attempt && ceiling < max.count(); i++) {
    ceiling *= 2;
  }
  ceiling = std::min<int64_t>(ceiling, max.count());
  return std::chrono::milliseconds(
      static_cast<int64_t>(random % static_cast<uint64_t>(ceiling + 1)));
}

// State shared between the client thread, the current stream's reader thread and the main loop.
struct DiscoveryClient::Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  grpc::ClientContext* ctx = nullptr;  // the current stream's, for requestStop()

  // The current stream: the reader thread fills these.
  std::deque<gateway::v1::DiscoveryResponse> responses;
  bool stream_ended = false;
  bool received_any = false;
  Clock::time_point last_received;

  // The snapshot being published: the main loop sets `applied` once every worker has switched
  // (or publishing failed).
  bool applying = false;
  std::optional<absl::Status> applied;

  // Client thread only.
  uint64_t stream_id = 0;
  std::string pending_version;
  std::string pending_nonce;
  uint64_t pending_stream = 0;
  Clock::time_point pending_received;  // when the snapshot being applied arrived
  double pending_compile_s = 0;        // how long validating and compiling it took
};

DiscoveryClient::DiscoveryClient(Server& server, DiscoveryClientOptions options,
                                 std::string running_version)
    : server_(server), options_(std::move(options)),
      running_version_(std::move(running_version)), shared_(std::make_shared<Shared>()) {}

DiscoveryClient::~DiscoveryClient() {
  requestStop();
  join();
}

void DiscoveryClient::start() {
  thread_ = std::thread([this] { run(); });
}

void DiscoveryClient::requestStop() {
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->stopping = true;
  if (shared_->ctx != nullptr) {
    shared_->ctx->TryCancel();
  }
  shared_->cv.notify_all();
}

void DiscoveryClient::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void DiscoveryClient::run() {
  lowerThreadPriority();  // snapshots are validated and compiled here, beside the workers
  grpc::ChannelArguments args;
  // Transport keepalive is the backstop; the application heartbeat notices a dead stream sooner.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // The channel's own reconnect backoff stays below ours so it does not add to it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel =
      grpc::CreateCustomChannel(options_.address, grpc::InsecureChannelCredentials(), args);
  auto stub = gateway::v1::DiscoveryService::NewStub(channel);
  std::mt19937_64 rng(std::random_device{}());
  Shared& sh = *shared_;
  int attempt = 0;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(sh.mu);
      if (sh.stopping) {
        break;
      }
    }
    if (runStream(*stub)) {
      attempt = 0;
    }
    const auto delay =
        backoffDelay(attempt, options_.backoff_base, options_.backoff_max, rng());
    attempt = std::min(attempt + 1, 30);
    // Wait out the backoff. A publish still in flight completes first, so that the next stream
    // reports the version that really runs.
    const auto until = Clock::now() + delay;
    std::unique_lock<std::mutex> lock(sh.mu);
    while (!sh.stopping) {
      if (sh.applied.has_value()) {
        const absl::Status st = *sh.applied;
        sh.applied.reset();
        sh.applying = false;
        lock.unlock();
        finishApply(st, nullptr);
        lock.lock();
        continue;
      }
      if (!sh.applying && Clock::now() >= until) {
        break;
      }
      auto pred = [&] { return sh.stopping || sh.applied.has_value(); };
      if (sh.applying) {
        sh.cv.wait(lock, pred);
      } else {
        sh.cv.wait_until(lock, until, pred);
      }
    }
  }
  server_.controlPlaneStats().connected = false;
}

bool DiscoveryClient::runStream(gateway::v1::DiscoveryService::Stub& stub) {
  Shared& sh = *shared_;
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + options_.token);
  }
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    if (sh.stopping) {
      return false;
    }
    sh.ctx = ctx.get();
    sh.responses.clear();
    sh.stream_ended = false;
    sh.received_any = false;
    sh.last_received = Clock::now();
  }
  const uint64_t stream_id = ++sh.stream_id;
  std::unique_ptr<Stream> stream = stub.StreamSnapshots(ctx.get());
  std::thread reader([&sh, s = stream.get()] {
    gateway::v1::DiscoveryResponse r;
    while (s->Read(&r)) {
      std::lock_guard<std::mutex> lock(sh.mu);
      sh.last_received = Clock::now();
      sh.received_any = true;
      if (!r.heartbeat()) {  // a heartbeat only proves liveness
        sh.responses.push_back(std::move(r));
        sh.cv.notify_all();
      }
      r.Clear();
    }
    std::lock_guard<std::mutex> lock(sh.mu);
    sh.stream_ended = true;
    sh.cv.notify_all();
  });

  gateway::v1::DiscoveryRequest hello;
  auto* node = hello.mutable_node();
  node->set_id(options_.node_id);
  node->set_build_version(options_.build_version);
  for (const auto& [k, v] : options_.labels) {
    (*node->mutable_labels())[k] = v;
  }
  hello.set_version_info(running_version_);
  bool ok = stream->Write(hello);
  std::string why = "the stream could not be opened";
  if (ok) {
    server_.controlPlaneStats().connected = true;
    logf(absl::StrCat("connected to ", options_.address, " as node '", options_.node_id,
                      "', running version '", running_version_, "'"));
  }
  auto next_heartbeat = Clock::now() + options_.heartbeat_interval;
  while (ok) {
    std::unique_lock<std::mutex> lock(sh.mu);
    const auto dead_at = sh.last_received + options_.liveness_timeout;
    sh.cv.wait_until(lock, std::min(next_heartbeat, dead_at), [&] {
      return sh.stopping || sh.stream_ended || sh.applied.has_value() ||
             (!sh.applying && !sh.responses.empty());
    });
    if (sh.stopping) {
      why = "stopping";
      break;
    }
    if (sh.applied.has_value()) {
      const absl::Status st = *sh.applied;
      sh.applied.reset();
      sh.applying = false;
      lock.unlock();
      ok = finishApply(st, stream.get());
      why = "write failed";
      continue;
    }
    if (sh.stream_ended) {
      why = "the stream ended";
      break;
    }
    if (!sh.applying && !sh.responses.empty()) {
      gateway::v1::DiscoveryResponse r = std::move(sh.responses.front());
      sh.responses.pop_front();
      lock.unlock();
      ok = handleResponse(r, stream.get(), stream_id);
      why = "write failed";
      continue;
    }
    const auto now = Clock::now();
    if (now >= sh.last_received + options_.liveness_timeout) {
      why = absl::StrCat("nothing received for ", options_.liveness_timeout.count(), " ms");
      break;
    }
    lock.unlock();
    if (now >= next_heartbeat) {
      gateway::v1::DiscoveryRequest hb;
      hb.set_heartbeat(true);
      ok = stream->Write(hb);
      why = "write failed";
      next_heartbeat = now + options_.heartbeat_interval;
    }
  }

  bool ended_by_peer;
  bool received;
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    ended_by_peer = sh.stream_ended;
    received = sh.received_any;
    if (!ended_by_peer) {
      ctx->TryCancel();  // unblocks the reader
    }
  }
  reader.join();
  const grpc::Status status = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    sh.ctx = nullptr;
    sh.responses.clear();
  }
  server_.controlPlaneStats().connected = false;
  if (why != "stopping") {
    logf(absl::StrCat("stream to ", options_.address, " closed (", why, "; status ",
                      status.error_code(), status.error_message().empty() ? "" : ": ",
                      status.error_message(), "); serving version '", running_version_,
                      "', reconnecting"));
  }
  return received;
}

bool DiscoveryClient::handleResponse(gateway::v1::DiscoveryResponse& response, Stream* stream,
                                     uint64_t stream_id) {
  Shared& sh = *shared_;
  const Clock::time_point received = Clock::now();
  // The snapshot moves into the compiled config (a 10,000-route snapshot is megabytes of
  // messages: a copy would be allocated, and page-faulted in, on every push).
  gateway::v1::Config config;
  config.Swap(response.mutable_snapshot());
  if (!response.version_info().empty()) {
    config.set_version(response.version_info());  // the stream's version is the one reported
  }
  const std::string version = config.version();
  // Validate and compile here, on the client thread: the worker loops never wait for it.
  auto compiled = compileConfig(std::move(config));
  if (!compiled.ok()) {
    const std::string error(compiled.status().message());
    server_.controlPlaneStats().config_rejected++;
    logf(absl::StrCat("rejected version '", version, "' (nonce ", response.nonce(),
                      "), still serving '", running_version_, "': ", firstLine(error)));
    gateway::v1::DiscoveryRequest nack;
    nack.set_version_info(running_version_);
    nack.set_response_nonce(response.nonce());
    *nack.mutable_error_detail() = errorDetailFromMessage(error);
    return stream->Write(nack);
  }
  sh.pending_version = version;
  sh.pending_nonce = response.nonce();
  sh.pending_stream = stream_id;
  sh.pending_received = received;
  sh.pending_compile_s = std::chrono::duration<double>(Clock::now() - received).count();
  {
    std::lock_guard<std::mutex> lock(sh.mu);
    sh.applying = true;
  }
  // Publish on the main loop; the ACK waits until every worker has switched.
  Server* server = &server_;
  server_.postMain([shared = shared_, server, next = *std::move(compiled)] {
    auto report = [shared](absl::Status st) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->applied = std::move(st);
      shared->cv.notify_all();
    };
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->stopping) {
        return;
      }
    }
    absl::Status st = server->publish(next, [report] { report(absl::OkStatus()); });
    if (!st.ok()) {
      report(std::move(st));
    }
  });
  return true;
}

bool DiscoveryClient::finishApply(const absl::Status& status, Stream* stream) {
  Shared& sh = *shared_;
  const bool same_stream = stream != nullptr && sh.pending_stream == sh.stream_id;
  gateway::v1::DiscoveryRequest reply;
  reply.set_response_nonce(sh.pending_nonce);
  if (status.ok()) {
    running_version_ = sh.pending_version;
    const double total_s = std::chrono::duration<double>(Clock::now() - sh.pending_received).count();
    ControlPlaneStats& cps = server_.controlPlaneStats();
    cps.last_apply_seconds = total_s;
    cps.last_compile_seconds = sh.pending_compile_s;
    cps.config_applied++;
    logf(absl::StrFormat("applied version '%s' in %.1f ms (validate+compile %.1f ms, switch %.1f ms)",
                         running_version_, total_s * 1e3, sh.pending_compile_s * 1e3,
                         (total_s - sh.pending_compile_s) * 1e3));
    reply.set_version_info(running_version_);
  } else {
    const std::string error(status.message());
    server_.controlPlaneStats().config_rejected++;
    logf(absl::StrCat("rejected version '", sh.pending_version, "', still serving '",
                      running_version_, "': ", firstLine(error)));
    reply.set_version_info(running_version_);
    *reply.mutable_error_detail() = errorDetailFromMessage(error);
  }
  if (!same_stream) {
    return true;  // that stream is gone; the next one reports the running version
  }
  return stream->Write(reply);
}

} // namespace gw::server
