#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "source/event/timer.h"
#include "source/router/upgrade_policy.h"
#include "source/server/tunnel_stats.h"
#include "source/server/upstream_connection.h"
#include "source/server/worker.h"

namespace gw::server {

class DownstreamConnection;

// The access log line of a tunnel that ended (the handshake has its own line, status 101).
struct TunnelLogRecord {
  std::chrono::system_clock::time_point start;  // when the 101 went out
  absl::string_view request_id;
  absl::string_view client;
  absl::string_view path;
  absl::string_view protocol;  // "websocket"
  absl::string_view route;
  absl::string_view cluster;
  absl::string_view upstream_host;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_upstream = 0;
  double duration_ms = 0;
  TunnelCloseReason reason = TunnelCloseReason::ClientClosed;
};
// Appends `{"time":...,"request_id":...,"tunnel":"websocket",...,"close_reason":...}\n`.
void appendTunnelLogLine(const TunnelLogRecord& r, std::string& out);

// An HTTP/1.1 Upgrade tunnel (WebSocket) between a client connection and the upstream
// connection that answered 101 Switching Protocols. Both connections carry raw bytes, unparsed,
// each way as they arrive, with watermark backpressure: reading from one side stops while the
// other side's write queue is above its high watermark, and resumes below the low one.
//
// It ends:
// - when both sides have closed: a FIN from one side is passed on as a FIN to the other
//   (half-close), and the tunnel ends once the other side has closed too;
// - on a reset or error on either side (the other is closed at once);
// - after upgrade.idle_timeout without a byte either way, and upgrade.max_duration after the 101;
// - upgrade.drain_timeout after the connection was told to drain.
// At the end it counts the close reason (TunnelStats), writes its access log line, closes the
// upstream connection (never pooled) and the client connection (after what is queued).
//
// Owned by the DownstreamConnection; the UpstreamConnection closes itself. Loop thread only.
class UpgradeTunnel final : public UpstreamRawCallbacks, public DeferredDeletable {
public:
  struct Info {
    std::string request_id;
    std::string client;
    std::string path;
    std::string protocol;
    std::string route;
    std::string cluster;
    std::string upstream_host;
  };
  // `up` is in raw mode with this tunnel as its callbacks (UpstreamConnection::startRaw).
  UpgradeTunnel(DownstreamConnection& down, UpstreamConnection& up,
                const router::UpgradePolicy& policy, Info info);
  ~UpgradeTunnel() override;

  // The client connection is the tunnel's from now on; `early` is what the client sent behind
  // its upgrade request's head.
  void start(absl::string_view early);
  // From the client connection.
  void onDownstreamData(absl::string_view data);
  void onDownstreamEof();
  void onDownstreamWritable();
  void onDownstreamClosed();  // it closes for its own reasons (reset, write error)
  void onDrain();

  // UpstreamRawCallbacks
  void onUpstreamRawData(absl::string_view data) override;
  void onUpstreamRawEof() override;
  void onUpstreamRawClosed(const std::string& reason) override;
  void onUpstreamRawWritable() override;

private:
  void touch();
  void armTimer();
  void onTimer();
  // Ends the tunnel once; `close_downstream`: false when the client connection is already
  // closing. `abort`: reset the client connection instead of a FIN after the queued bytes.
  void end(TunnelCloseReason reason, bool close_downstream, bool abort);

  DownstreamConnection& down_;
  UpstreamConnection* up_;  // null once it closed
  Worker& worker_;
  Info info_;
  std::chrono::milliseconds idle_timeout_;
  std::chrono::milliseconds max_duration_;
  std::chrono::milliseconds drain_timeout_;
  event::TimerPtr timer_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::system_clock::time_point start_wall_;
  uint64_t last_activity_ms_ = 0;  // the loop's clock (uv_now)
  uint64_t start_ms_ = 0;
  uint64_t drain_at_ms_ = 0;       // 0: not draining
  uint64_t bytes_from_client_ = 0;
  uint64_t bytes_from_upstream_ = 0;
  bool client_eof_ = false;
  bool upstream_eof_ = false;
  bool client_paused_ = false;    // reading from the client stopped (upstream queue full)
  bool upstream_paused_ = false;  // reading from the upstream stopped (client queue full)
  bool ended_ = false;
};

} // namespace gw::server
