#include "source/server/upgrade_tunnel.h"

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "source/common/json.h"
#include "source/server/access_log.h"
#include "source/server/downstream_connection.h"

namespace gw::server {

void appendTunnelLogLine(const TunnelLogRecord& r, std::string& line) {
  line += "{\"time\":\"";
  appendUtcTime(r.start, line);
  auto field = [&line](const char* name, absl::string_view v) {
    absl::StrAppend(&line, "\",\"", name, "\":\"");
    appendJsonEscaped(v, line);
  };
  field("request_id", r.request_id);
  field("client", r.client);
  field("path", r.path);
  field("tunnel", r.protocol);
  field("route", r.route);
  field("cluster", r.cluster);
  field("upstream_host", r.upstream_host);
  absl::StrAppend(&line, "\",\"bytes_from_client\":", r.bytes_from_client,
                  ",\"bytes_from_upstream\":", r.bytes_from_upstream, ",\"duration_ms\":",
                  static_cast<int64_t>(r.duration_ms * 1000) / 1000.0, ",\"close_reason\":\"",
                  tunnelCloseReasonName(r.reason), "\"}\n");
}

UpgradeTunnel::UpgradeTunnel(DownstreamConnection& down, UpstreamConnection& up,
                             const router::UpgradePolicy& policy, Info info)
    : down_(down), up_(&up), worker_(down.worker()), info_(std::move(info)),
      idle_timeout_(policy.idle_timeout), max_duration_(policy.max_duration),
      drain_timeout_(policy.drain_timeout), start_(std::chrono::steady_clock::now()),
      start_wall_(std::chrono::system_clock::now()) {
  TunnelStats& st = worker_.stats().tunnel;
  st.active++;
  st.upgrades++;
  start_ms_ = uv_now(worker_.loop());
  last_activity_ms_ = start_ms_;
  timer_ = worker_.createTimer([this] { onTimer(); });
  armTimer();
}

UpgradeTunnel::~UpgradeTunnel() {
  if (!ended_) {
    // Destroyed without an end (the worker shut down): count it gone, close the upstream.
    worker_.stats().tunnel.active--;
    if (up_ != nullptr) {
      up_->closeRaw();
    }
  }
}

void UpgradeTunnel::start(absl::string_view early) {
  if (!early.empty()) {
    onDownstreamData(early);
  }
}

void UpgradeTunnel::touch() { last_activity_ms_ = uv_now(worker_.loop()); }

// One timer for the three deadlines: the earliest of idle, max-duration and drain. Moving the
// idle deadline costs nothing per byte: a timer that fires early re-arms for what is left.
void UpgradeTunnel::armTimer() {
  if (ended_) {
    return;
  }
  uint64_t due = UINT64_MAX;
  if (idle_timeout_.count() > 0) {
    due = std::min<uint64_t>(due, last_activity_ms_ + idle_timeout_.count());
  }
  if (max_duration_.count() > 0) {
    due = std::min<uint64_t>(due, start_ms_ + max_duration_.count());
  }
  if (drain_at_ms_ > 0) {
    due = std::min(due, drain_at_ms_);
  }
  if (due == UINT64_MAX) {
    timer_->disable();
    return;
  }
  const uint64_t now = uv_now(worker_.loop());
  timer_->enable(std::chrono::milliseconds(due > now ? due - now : 0));
}

void UpgradeTunnel::onTimer() {
  if (ended_) {
    return;
  }
  const uint64_t now = uv_now(worker_.loop());
  if (drain_at_ms_ > 0 && now >= drain_at_ms_) {
    end(TunnelCloseReason::Drain, true, false);
    return;
  }
  if (max_duration_.count() > 0 && now >= start_ms_ + max_duration_.count()) {
    end(TunnelCloseReason::MaxDuration, true, false);
    return;
  }
  if (idle_timeout_.count() > 0 && now >= last_activity_ms_ + idle_timeout_.count()) {
    end(TunnelCloseReason::IdleTimeout, true, false);
    return;
  }
  armTimer();
}

void UpgradeTunnel::onDownstreamData(absl::string_view data) {
  if (ended_ || up_ == nullptr) {
    return;
  }
  touch();
  bytes_from_client_ += data.size();
  worker_.stats().tunnel.bytes_from_client.add(data.size());
  up_->write(data);  // a failure comes back through onUpstreamRawClosed
  if (!ended_ && up_ != nullptr && !client_paused_ &&
      up_->writeQueueSize() > UpstreamConnection::kHighWatermark) {
    client_paused_ = true;
    down_.setTunnelReading(false);
  }
}

void UpgradeTunnel::onUpstreamRawWritable() {
  if (!ended_ && client_paused_) {
    client_paused_ = false;
    down_.setTunnelReading(true);
  }
}

void UpgradeTunnel::onUpstreamRawData(absl::string_view data) {
  if (ended_) {
    return;
  }
  touch();
  bytes_from_upstream_ += data.size();
  worker_.stats().tunnel.bytes_from_upstream.add(data.size());
  down_.write(data);  // a failure closes the connection: onDownstreamClosed
  if (!ended_ && up_ != nullptr && !upstream_paused_ &&
      down_.writeQueueSize() > DownstreamConnection::kHighWatermark) {
    upstream_paused_ = true;
    up_->pauseReading();
  }
}

void UpgradeTunnel::onDownstreamWritable() {
  if (!ended_ && upstream_paused_ && up_ != nullptr) {
    upstream_paused_ = false;
    up_->resumeReading();
  }
}

void UpgradeTunnel::onDownstreamEof() {
  if (ended_) {
    return;
  }
  client_eof_ = true;
  if (upstream_eof_) {
    end(TunnelCloseReason::UpstreamClosed, true, false);
    return;
  }
  if (up_ != nullptr) {
    up_->shutdownWrite();  // the client's FIN, passed on after what is queued
  }
}

void UpgradeTunnel::onUpstreamRawEof() {
  if (ended_) {
    return;
  }
  upstream_eof_ = true;
  if (client_eof_) {
    end(TunnelCloseReason::ClientClosed, true, false);
    return;
  }
  down_.shutdownWrite();  // the upstream's FIN, passed on after what is queued
}

void UpgradeTunnel::onUpstreamRawClosed(const std::string&) {
  up_ = nullptr;  // closed itself
  end(TunnelCloseReason::UpstreamError, true, true);
}

void UpgradeTunnel::onDownstreamClosed() {
  if (ended_) {
    return;
  }
  // Closed from outside (a reset, a write error, the worker stopping): the upstream goes too.
  end(client_eof_ ? TunnelCloseReason::ClientClosed : TunnelCloseReason::ClientError, false,
      false);
}

void UpgradeTunnel::onDrain() {
  if (ended_ || drain_at_ms_ > 0) {
    return;
  }
  if (drain_timeout_.count() == 0) {
    end(TunnelCloseReason::Drain, true, false);
    return;
  }
  drain_at_ms_ = uv_now(worker_.loop()) + drain_timeout_.count();
  armTimer();
}

void UpgradeTunnel::end(TunnelCloseReason reason, bool close_downstream, bool abort) {
  if (ended_) {
    return;
  }
  ended_ = true;
  timer_->disable();
  TunnelStats& st = worker_.stats().tunnel;
  st.active--;
  st.closed[static_cast<int>(reason)]++;
  if (worker_.options().access_log) {
    TunnelLogRecord r;
    r.start = start_wall_;
    r.request_id = info_.request_id;
    r.client = info_.client;
    r.path = info_.path;
    r.protocol = info_.protocol;
    r.route = info_.route;
    r.cluster = info_.cluster;
    r.upstream_host = info_.upstream_host;
    r.bytes_from_client = bytes_from_client_;
    r.bytes_from_upstream = bytes_from_upstream_;
    r.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start_)
                        .count();
    r.reason = reason;
    appendTunnelLogLine(r, worker_.accessLogBuffer());
    worker_.accessLogged();
  }
  if (up_ != nullptr) {
    UpstreamConnection* up = up_;
    up_ = nullptr;
    up->closeRaw();  // never pooled
  }
  if (close_downstream) {
    down_.close(abort);  // destroys nothing now: this tunnel is deleted at the end of the loop turn
  }
}

} // namespace gw::server
