// The stream's part in an HTTP/1.1 Upgrade (WebSocket): admitting the upgrade request on its
// route, the upstream's 101 Switching Protocols, and handing both connections to an
// UpgradeTunnel (source/server/upgrade_tunnel.h). The request goes through the route's pre
// filters and the route filter like any other; only its Upgrade and Connection fields are kept
// on the way upstream (stream_request.cc), and a 101 goes through the response header hooks.
#include "absl/strings/str_cat.h"
#include "source/server/downstream_connection.h"
#include "source/server/header_policy.h"
#include "source/server/stream.h"
#include "source/server/upgrade_request.h"
#include "source/server/upgrade_tunnel.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;

bool Stream::admitUpgrade() {
  if (h2_) {
    return true;  // HTTP/2 refuses an Upgrade field as connection-specific (http2 validation)
  }
  std::optional<std::string> protocol = upgradeProtocol(request_);
  if (!protocol.has_value()) {
    return true;  // not an upgrade request (its Upgrade field, if any, is dropped upstream)
  }
  const bool has_body = request_chunked_ || (request_has_cl_ && request_cl_ > 0);
  // The client may have sent protocol bytes behind the head: whatever the answer, the
  // connection is not reused for another request.
  close_after_ = true;
  if (auto refused = checkUpgrade(request_, *protocol, route_->upgrade(), has_body)) {
    if (refused->kind == ErrorKind::Forbidden) {
      conn_.worker().stats().tunnel.refused++;
    }
    fail(std::move(*refused));
    return false;
  }
  upgrade_ = true;
  extras().upgrade_protocol = std::move(*protocol);
  extras_->upgrade_value = *request_.headers.get("upgrade");
  return true;
}

void Stream::onSwitchingProtocols(http::ResponseHead&& head) {
  if (!upgrade_ || !upgradeResponseMatches(head, extras_->upgrade_protocol)) {
    fail(ErrorInfo::make(ErrorKind::UpstreamProtocolError,
                         upgrade_ ? absl::StrCat("the upstream switched to another protocol than '",
                                                 extras_->upgrade_protocol, "'")
                                  : "101 Switching Protocols to a request without Upgrade"));
    return;
  }
  if (extras_->retry_timer != nullptr) {
    extras_->retry_timer->disable();  // the per-try timeout: a head arrived in time
  }
  conn_.disarmRequestTimer();  // the route timeout runs until the response head
  extras_->upgrade_value = *head.headers.get("upgrade");
  response_ = std::move(head);
  response_.reason.clear();
  stripHopByHop(response_.headers);
  response_no_body_ = true;
  tunnel_pending_ = true;
  beginResponseStage();  // the response header hooks see the 101; afterResponseHeaders goes on
}

void Stream::startTunnel() {
  tunnel_pending_ = false;
  if (finished_ || downstream_closed_) {
    return;
  }
  DownstreamConnection* down = conn_.http1Connection();  // never null: upgrades are HTTP/1.1
  UpstreamConnection* up = upstream_ != nullptr ? upstream_->detach() : nullptr;
  upstream_ = nullptr;
  if (up == nullptr || !up->switchedProtocols()) {
    fail(ErrorInfo::make(ErrorKind::UpstreamReset, "the upstream connection closed after its 101"));
    return;
  }
  // The 101 for the client: the upstream's fields after the hooks, with the upgrade fields.
  response_.headers.set("connection", "upgrade");
  response_.headers.set("upgrade", extras_->upgrade_value);
  const bool add_id = !response_.headers.has("x-request-id");
  std::string& buf = scratchBuffer();
  http::serializeResponseHead(response_, buf);
  if (add_id) {
    buf.resize(buf.size() - 2);  // before the blank line that ends the head
    http::appendHeaderLine("x-request-id", request_id_, buf);
    buf.append("\r\n");
  }
  response_started_ = true;
  down->write(absl::string_view(buf));

  UpgradeTunnel::Info info;
  info.request_id = std::string(request_id_);
  info.client = conn_.clientIp();
  info.path = request_.path;
  info.protocol = extras_->upgrade_protocol;
  info.route = route_->name();
  info.cluster = cluster_name_;
  info.upstream_host = upstreamHost();
  auto tunnel = std::make_unique<UpgradeTunnel>(*down, *up, *route_->upgrade(), std::move(info));
  UpgradeTunnel* t = tunnel.get();
  down->setTunnel(std::move(tunnel));
  up->startRaw(*t);  // bytes the upstream sent behind its 101 may go to the client at once
  if (downstream_closed_) {
    return;  // the client connection failed meanwhile: the tunnel ended with it
  }
  upstream_done_ = true;
  responseDone();  // the handshake's access log line; the connection then starts the tunnel
}

} // namespace gw::server
