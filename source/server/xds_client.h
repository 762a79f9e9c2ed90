#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gateway/v1/discovery.grpc.pb.h"

namespace gw::server {

class Server;

struct DiscoveryClientOptions {
  std::string address;  // the control plane, "host:port"
  std::string node_id;
  std::map<std::string, std::string> labels;
  std::string build_version;
  std::string token;  // sent as "authorization: Bearer <token>" when set
  std::chrono::milliseconds heartbeat_interval{2000};
  std::chrono::milliseconds liveness_timeout{6000};  // nothing received this long: reconnect
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_max{5000};
};

// The gatewayd end of the discovery stream (api/gateway/v1/discovery.proto).
//
// One client thread owns the gRPC stream and does every write; a reader thread per stream only
// reads and hands responses over. For each snapshot the client thread validates and compiles it
// (off the worker loops), then posts it to the main loop, which publishes it (every worker swaps
// its pointer and reconciles its listeners); only when every worker has switched does the client
// thread ACK. A snapshot that fails to compile, or whose new listener cannot bind, is NACKed with
// the version still running and one FieldError per problem; the old config keeps serving.
// Heartbeats go out every 2 s; if nothing arrives for 6 s the stream is cancelled. Reconnects use
// exponential backoff with full jitter and report the running version, so an up-to-date proxy is
// not sent anything again. The previous config serves throughout.
class DiscoveryClient {
public:
  // `running_version`: the version of the config the server starts with ("" for none).
  DiscoveryClient(Server& server, DiscoveryClientOptions options, std::string running_version);
  ~DiscoveryClient();  // requestStop() and join()

  void start();
  // Thread-safe, does not block: cancels the stream and ends the client thread.
  void requestStop();
  void join();

private:
  struct Shared;
  void run();
  using Stream =
      grpc::ClientReaderWriter<gateway::v1::DiscoveryRequest, gateway::v1::DiscoveryResponse>;
  // One stream until it ends, fails liveness or stop is requested; true if anything was received.
  bool runStream(gateway::v1::DiscoveryService::Stub& stub);
  // Compiles a snapshot and posts it to the main loop, or NACKs it. False if the write failed.
  bool handleResponse(gateway::v1::DiscoveryResponse& response, Stream* stream,
                      uint64_t stream_id);
  // After the main loop published (or failed to): counters, running version, ACK/NACK on
  // `stream` if it is still the one the snapshot came on. False if the write failed.
  bool finishApply(const absl::Status& status, Stream* stream);

  Server& server_;
  DiscoveryClientOptions options_;
  std::string running_version_;  // client thread
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

// Splits a compile error (one "path: message" problem per line) into a NACK's error detail: one
// FieldError per line, split at the first ": "; the message summarizes.
gateway::v1::ErrorDetail errorDetailFromMessage(absl::string_view message);

// Exponential backoff with full jitter: uniform in [0, min(max, base * 2^attempt)]; `random` is any
// 64 random bits.
std::chrono::milliseconds backoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds max, uint64_t random);

} // namespace gw::server
