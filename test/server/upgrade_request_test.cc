// HTTP/1.1 Upgrade decisions without sockets (source/server/upgrade_request.h) and the tunnel's
// access log line (source/server/upgrade_tunnel.h).
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "source/server/upgrade_request.h"
#include "source/server/upgrade_tunnel.h"

namespace gw::server {
namespace {

http::RequestHead head(std::vector<std::pair<std::string, std::string>> fields,
                       const std::string& method = "GET", int minor = 1) {
  http::RequestHead h;
  h.method = method;
  h.path = "/ws";
  h.version_minor = minor;
  for (auto& [n, v] : fields) {
    h.headers.add(n, v);
  }
  return h;
}

router::UpgradePolicy websocketOnly() {
  router::UpgradePolicy p;
  p.allowed_types = {"websocket"};
  return p;
}

TEST_CASE("upgradeProtocol: Upgrade with Connection: upgrade on HTTP/1.1 only") {
  CHECK(upgradeProtocol(head({{"upgrade", "websocket"}, {"connection", "Upgrade"}})) ==
        "websocket");
  CHECK(upgradeProtocol(head({{"upgrade", "WebSocket, foo/2"},
                              {"connection", "keep-alive, upgrade"}})) == "websocket");
  // Connection listing it in a second field counts too.
  CHECK(upgradeProtocol(head({{"connection", "keep-alive"}, {"upgrade", "foo/1"},
                              {"connection", "upgrade"}})) == "foo/1");
  // Not upgrade requests: the Upgrade field is an ordinary hop-by-hop field then.
  CHECK_FALSE(upgradeProtocol(head({{"upgrade", "websocket"}})).has_value());
  CHECK_FALSE(upgradeProtocol(head({{"connection", "upgrade"}})).has_value());
  CHECK_FALSE(upgradeProtocol(head({{"upgrade", "websocket"}, {"connection", "upgrade"}}, "GET",
                                   0))
                  .has_value());  // RFC 9110 7.8: ignored in HTTP/1.0
  CHECK_FALSE(upgradeProtocol(head({{"upgrade", "websocket"}, {"upgrade", "foo"},
                                    {"connection", "upgrade"}}))
                  .has_value());
  CHECK_FALSE(upgradeProtocol(head({{"upgrade", " , websocket"}, {"connection", "upgrade"}}))
                  .has_value());
  // h2c: served as the HTTP/1.1 request it also is.
  CHECK_FALSE(upgradeProtocol(head({{"upgrade", "h2c"}, {"connection", "Upgrade, HTTP2-Settings"}}))
                  .has_value());
}

TEST_CASE("checkUpgrade: the route's policy, bodies and the WebSocket method") {
  const auto ws = websocketOnly();
  const auto get = head({});
  CHECK_FALSE(checkUpgrade(get, "websocket", &ws, false).has_value());
  auto refused = checkUpgrade(get, "websocket", nullptr, false);
  REQUIRE(refused.has_value());
  CHECK(refused->status == 403);
  CHECK(refused->code == "upgrade_not_allowed");
  refused = checkUpgrade(get, "foo", &ws, false);
  REQUIRE(refused.has_value());
  CHECK(refused->code == "upgrade_not_allowed");
  CHECK(absl::StrContains(refused->message, "'foo'"));
  auto body = checkUpgrade(get, "websocket", &ws, true);
  REQUIRE(body.has_value());
  CHECK(body->status == 400);
  auto post = checkUpgrade(head({}, "POST"), "websocket", &ws, false);
  REQUIRE(post.has_value());
  CHECK(post->status == 400);
  // Other protocols may use other methods.
  router::UpgradePolicy other;
  other.allowed_types = {"foo/1"};
  CHECK_FALSE(checkUpgrade(head({}, "POST"), "foo/1", &other, false).has_value());
}

TEST_CASE("appendUpgradeHeaders: before the blank line") {
  std::string h = "GET /ws HTTP/1.1\r\nhost: x\r\n\r\n";
  appendUpgradeHeaders("websocket", h);
  CHECK(h == "GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n");
}

TEST_CASE("upgradeResponseMatches: the 101's first protocol") {
  http::ResponseHead r;
  r.status = 101;
  CHECK_FALSE(upgradeResponseMatches(r, "websocket"));
  r.headers.add("upgrade", "WebSocket");
  CHECK(upgradeResponseMatches(r, "websocket"));
  CHECK_FALSE(upgradeResponseMatches(r, "foo"));
}

TEST_CASE("tunnel access log line") {
  TunnelLogRecord r;
  r.request_id = "id-1";
  r.client = "127.0.0.1";
  r.path = "/ws/\"echo\"";
  r.protocol = "websocket";
  r.route = "ws";
  r.cluster = "backend";
  r.upstream_host = "127.0.0.1:9000";
  r.bytes_from_client = 10;
  r.bytes_from_upstream = 20;
  r.duration_ms = 12.5;
  r.reason = TunnelCloseReason::IdleTimeout;
  std::string out;
  appendTunnelLogLine(r, out);
  CHECK(absl::EndsWith(out, "}\n"));
  CHECK(absl::StrContains(out, "\"request_id\":\"id-1\",\"client\":\"127.0.0.1\","
                               "\"path\":\"/ws/\\\"echo\\\"\",\"tunnel\":\"websocket\","
                               "\"route\":\"ws\",\"cluster\":\"backend\","
                               "\"upstream_host\":\"127.0.0.1:9000\",\"bytes_from_client\":10,"
                               "\"bytes_from_upstream\":20,\"duration_ms\":12.5,"
                               "\"close_reason\":\"idle_timeout\"}"));
}

TEST_CASE("tunnel metrics: summed over workers, every close reason listed") {
  TunnelStats a, b;
  a.active++;
  a.upgrades++;
  b.upgrades++;
  b.refused++;
  a.bytes_from_client.add(5);
  b.bytes_from_upstream.add(7);
  b.closed[static_cast<int>(TunnelCloseReason::Drain)]++;
  std::string out;
  renderTunnelMetrics({&a, &b}, out);
  CHECK(absl::StrContains(out, "\ngateway_upgrade_tunnels_active 1\n"));
  CHECK(absl::StrContains(out, "\ngateway_upgrades_total 2\n"));
  CHECK(absl::StrContains(out, "\ngateway_upgrades_refused_total 1\n"));
  CHECK(absl::StrContains(out,
                          "gateway_upgrade_tunnel_bytes_total{direction=\"client_to_upstream\"} 5\n"));
  CHECK(absl::StrContains(out,
                          "gateway_upgrade_tunnel_bytes_total{direction=\"upstream_to_client\"} 7\n"));
  CHECK(absl::StrContains(out, "gateway_upgrade_tunnels_closed_total{reason=\"drain\"} 1\n"));
  CHECK(absl::StrContains(out, "gateway_upgrade_tunnels_closed_total{reason=\"max_duration\"} 0\n"));
}

}  // namespace
}  // namespace gw::server
