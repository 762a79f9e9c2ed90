#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/v1/admin.pb.h"
#include "gateway/v1/discovery.pb.h"
#include "source/control/snapshot_store.h"

namespace gw::control {

using LogFn = std::function<void(const std::string&)>;

// Every problem the proxy would find in `config`: config::validateConfig (all errors, with field
// paths), then server::compileConfig (which also resolves endpoint addresses). Empty: gatewayd
// would accept it. The same library the proxy runs, linked here.
std::vector<gateway::v1::FieldError> validateSnapshotConfig(const gateway::v1::Config& config);

// A node matches a target when (node_ids is empty or contains its id) and every label of the
// target has the same value on the node. The empty target matches every node.
bool targetMatches(const gateway::v1::Target& target, const gateway::v1::Node& node);
// True when every node `inner` matches is also matched by `outer`.
bool targetCovers(const gateway::v1::Target& outer, const gateway::v1::Target& inner);
// "all nodes", "ids=a,b labels=zone=eu", ...
std::string describeTarget(const gateway::v1::Target& target);

// A file, or every *.yaml / *.yml / *.json in a directory merged in name order (repeated fields
// appended, so listeners and clusters may live in separate files). Every file's parse error is
// reported, one per line.
absl::StatusOr<gateway::v1::Config> loadConfigPath(const std::string& path);

// The control plane without its transport: validation, apply / rollback / history, targeting,
// per-node status, and the decisions of every discovery stream (what to send next, when a node
// is dead). control_server.cc puts gRPC around it; tests may drive it directly. Thread-safe.
//
// Which snapshot a node should run (its desired snapshot): the newest stored snapshot whose
// target matches the node. A stream pushes it when the version the node reports running differs,
// it was not already sent on this stream, and the node did not NACK that very version (a NACKed
// version is not pushed to that node again until a newer snapshot exists or the node reconnects
// with another build_version).
class ControlPlane {
public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    // An idle stream (nothing sent for this long) gets a heartbeat response.
    std::chrono::milliseconds heartbeat_interval{2000};
    // A stream whose node sent nothing (not even a heartbeat) for this long is closed and the node
    // marked disconnected.
    std::chrono::milliseconds liveness_timeout{10000};
    LogFn log;  // one line per event; default: stderr, prefixed "gateway-control: "
  };

  ControlPlane(SnapshotStore& store, Options options);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // --- admin ---------------------------------------------------------------------------------
  // Validates; refuses with every problem; otherwise stores a new version (unless dry_run) and
  // wakes the streams of the nodes it targets. The diff is against baseFor(target).
  gateway::v1::ApplyResponse apply(const gateway::v1::ApplyRequest& request);
  // Startup (--config): applies only when `config` differs from baseFor(all nodes), so a restart
  // with the same file creates no version. *changed says whether it applied.
  gateway::v1::ApplyResponse applyIfChanged(const gateway::v1::ApplyRequest& request,
                                            bool* changed);
  gateway::v1::Diff diff(const gateway::v1::Config& config,
                         const gateway::v1::Target& target) const;
  // 0: latest. NotFound for an unknown version or an empty store.
  absl::StatusOr<StoredSnapshotConstSharedPtr> snapshot(uint64_t version) const;
  gateway::v1::HistoryResponse history(uint32_t limit) const;  // newest first, config omitted
  // A new version copying the config and target of `to_version` (0: the snapshot before the
  // latest). FailedPrecondition when there is nothing to roll back to, NotFound for an unknown
  // version; a config that no longer validates is refused like an apply.
  absl::StatusOr<gateway::v1::ApplyResponse> rollback(const gateway::v1::RollbackRequest& request);
  gateway::v1::StatusResponse status() const;  // every node ever seen, by id
  // What an apply for `target` is compared with: the newest snapshot whose target covers it
  // (null: none; the diff is then against an empty config).
  StoredSnapshotConstSharedPtr baseFor(const gateway::v1::Target& target) const;

  // --- discovery streams -----------------------------------------------------------------------
  class Stream;
  using StreamSharedPtr = std::shared_ptr<Stream>;

  // Registers a stream whose first request is `hello`. InvalidArgument without node.id,
  // Unavailable after stop().
  absl::StatusOr<StreamSharedPtr> openStream(const gateway::v1::DiscoveryRequest& hello,
                                             const std::string& peer);
  // A request read from the stream: ACK, NACK, heartbeat or version report.
  void onRequest(Stream& stream, const gateway::v1::DiscoveryRequest& request);
  // The stream's reader saw the end of the requests (the node closed it, or it broke).
  void onReadEnd(Stream& stream);

  struct Next {
    enum class Kind {
      kSend,        // write `response` (a snapshot or a heartbeat)
      kPeerClosed,  // the node ended the stream
      kDead,        // nothing heard for liveness_timeout
      kStopping,    // stop() was called
    };
    Kind kind = Kind::kSend;
    gateway::v1::DiscoveryResponse response;
  };
  // Blocks until the stream has something to send or must end.
  Next next(Stream& stream);
  // Unregisters the stream (after its writer loop ended); logs the disconnect.
  void closeStream(Stream& stream, const std::string& reason);
  // Ends every stream (next() returns kStopping) and refuses new ones.
  void stop();

  size_t openStreams() const;

private:
  struct NodeRecord {
    gateway::v1::NodeStatus status;  // connected / desired_version filled in by status()
    int streams = 0;
    std::string nacked_build;  // the node's build_version when it NACKed nacked_version
  };

  StoredSnapshotConstSharedPtr desiredFor(const gateway::v1::Node& node) const;
  std::vector<std::string> connectedNodesMatching(const gateway::v1::Target& target) const;
  // Stores `snapshot` after validating it; shared by apply and rollback. Holds apply_mu_.
  gateway::v1::ApplyResponse store(gateway::v1::StoredSnapshot snapshot, bool dry_run,
                                   const std::string& what);
  void wakeAll();  // mu_ held
  void log(const std::string& line) const;
  std::string nextNonce();  // mu_ held

  SnapshotStore& store_;
  const Options options_;
  const std::string boot_id_;
  std::mutex apply_mu_;  // serializes apply / rollback (before mu_)
  mutable std::mutex mu_;
  bool stopping_ = false;
  uint64_t nonce_counter_ = 0;
  uint64_t stream_counter_ = 0;
  std::map<std::string, NodeRecord> nodes_;
  std::set<Stream*> streams_;
};

} // namespace gw::control
