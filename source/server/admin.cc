#include "source/server/admin.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/http2/server_session.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/http/http1_codec.h"
#include "source/filters/cache/store.h"
#include "source/server/cache_admin.h"
#include "source/server/health_status.h"
#include "source/server/resilience_metrics.h"
#include "source/server/server.h"

namespace gw::server {

namespace {

// One admin connection: one request at a time, answered and kept alive.
class AdminConnection : public http::Http1ParserCallbacks {
public:
  explicit AdminConnection(AdminServer& admin)
      : admin_(admin), parser_(http::Http1Parser::Kind::Request, *this) {
    uv_tcp_init(admin.server().loop(), &handle_);
    handle_.data = this;
  }
  uv_tcp_t* handle() { return &handle_; }

  void start() {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&handle_),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char storage[16 * 1024];
          buf->base = storage;
          buf->len = sizeof(storage);
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<AdminConnection*>(s->data);
          if (nread < 0) {
            self->close();
            return;
          }
          self->in_.append(buf->base, nread);
          self->process();
        });
  }

  void onRequestHead(http::RequestHead&& head) override { head_ = std::move(head); }
  void onBody(absl::string_view) override {}
  void onMessageComplete() override { complete_ = true; }

private:
  void process() {
    if (busy_ || closed_) {
      return;
    }
    size_t n = parser_.feed(in_.data(), in_.size());
    in_.erase(0, n);
    if (parser_.state() == http::Http1Parser::State::Body) {
      n = parser_.feed(in_.data(), in_.size());
      in_.erase(0, n);
    }
    if (parser_.state() == http::Http1Parser::State::Error) {
      reply(parser_.error().status, "application/json",
            absl::StrCat("{\"error\":\"", parser_.error().code, "\"}\n"), true);
      return;
    }
    if (!complete_) {
      return;
    }
    keep_alive_ = parser_.keepAlive();
    busy_ = true;
    handle(head_);
  }

  void handle(const http::RequestHead& head) {
    Server& s = admin_.server();
    std::string path = head.target.substr(0, head.target.find('?'));
    // /ready stays open for load balancer and kubelet probes: it reveals nothing.
    if (!s.adminToken().empty() && path != "/ready") {
      const std::string* auth = head.headers.get("authorization");
      if (auth == nullptr || !bearerTokenMatches(*auth, s.adminToken())) {
        s.adminAuthStats().http_unauthenticated++;
        reply(401, "application/json",
              absl::StrCat("{\"error\":\"unauthenticated\",\"message\":\"",
                           auth == nullptr ? "this admin endpoint needs "
                                             "'Authorization: Bearer <token>'"
                                           : "invalid admin token",
                           "\",\"status\":401}\n"),
              false, true);
        return;
      }
    }
    if (absl::StartsWith(path, "/cache/")) {  // the response cache: cache_admin.cc
      int status = 404;
      std::string body;
      const size_t q = head.target.find('?');
      if (handleCacheAdmin(head.method, path,
                           q == std::string::npos ? "" : head.target.substr(q + 1), status, body)) {
        reply(status, "application/json", body);
        return;
      }
    }
    if (path == "/ready") {
      if (s.draining()) {
        reply(503, "text/plain", "draining\n");
      } else if (!s.hasConfig()) {
        reply(503, "text/plain", "waiting for the first config from the control plane\n");
      } else {
        reply(200, "text/plain", "ready\n");
      }
    } else if (path == "/metrics" || path == "/stats/prometheus") {
      reply(200, "text/plain; version=0.0.4", renderMetrics(s));
    } else if (path == "/config_dump") {
      std::string json;
      google::protobuf::util::JsonPrintOptions opts;
      opts.add_whitespace = true;
      opts.preserve_proto_field_names = true;
      gateway::v1::Config shown = s.config()->proto;
      config::redactSecrets(&shown);  // secrets are never printed
      (void)google::protobuf::util::MessageToJsonString(shown, &json, opts);
      std::string bound = "{";
      bool first = true;
      for (const auto& [name, addr] : s.boundListeners()) {
        bound += absl::StrCat(first ? "" : ",", "\"", name, "\":\"",
                              formatAddress(reinterpret_cast<const sockaddr*>(&addr)), "\"");
        first = false;
      }
      bound += "}";
      reply(200, "application/json",
            absl::StrCat("{\"version\":\"", s.config()->version, "\",\"bound_listeners\":", bound,
                         ",\"config\":", json, "}\n"));
    } else if (path == "/clusters") {
      s.collect([](Worker& w) { return w.clustersJson(); },
                [this](std::vector<std::string> per_worker) {
                  std::string out = "{\"workers\":[";
                  for (size_t i = 0; i < per_worker.size(); i++) {
                    out += absl::StrCat(i ? "," : "", "{\"worker\":", i,
                                        ",\"clusters\":", per_worker[i], "}");
                  }
                  out += "]}\n";
                  reply(200, "application/json", out);
                });
    } else if (path == "/drain" && head.method == "POST") {
      s.startDrain();
      reply(200, "text/plain", "draining\n");
    } else {
      reply(404, "application/json",
            "{\"error\":\"not_found\",\"message\":\"admin endpoints: /ready /metrics "
            "/config_dump /clusters /cache/stats, POST /drain /cache/purge\"}\n");
    }
  }

  void reply(int status, absl::string_view type, const std::string& body, bool close = false,
             bool challenge = false) {
    if (closed_) {
      if (zombie_) {
        delete this;  // the client left while /clusters was being collected
      }
      return;
    }
    http::ResponseHead h;
    h.status = status;
    h.headers.add("content-type", type);
    h.headers.add("content-length", absl::StrCat(body.size()));
    if (challenge) {
      h.headers.add("www-authenticate", "Bearer");
    }
    if (close || !keep_alive_) {
      h.headers.add("connection", "close");
    }
    auto* data = new std::string();
    http::serializeResponseHead(h, *data);
    *data += body;
    auto* req = new uv_write_t;
    req->data = data;
    uv_buf_t buf = uv_buf_init(data->data(), data->size());
    const bool close_after = close || !keep_alive_;
    uv_write(req, reinterpret_cast<uv_stream_t*>(&handle_), &buf, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
    busy_ = false;
    complete_ = false;
    parser_.reset();
    if (close_after) {
      closeAfterWrite();
      return;
    }
    if (!in_.empty()) {
      process();
    }
  }

  void closeAfterWrite() {
    auto* req = new uv_shutdown_t;
    req->data = this;
    closed_ = true;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&handle_), [](uv_shutdown_t* r, int) {
          auto* self = static_cast<AdminConnection*>(r->data);
          delete r;
          uv_close(reinterpret_cast<uv_handle_t*>(&self->handle_),
                   [](uv_handle_t* h) { delete static_cast<AdminConnection*>(h->data); });
        }) != 0) {
      delete req;
      uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
               [](uv_handle_t* h) { delete static_cast<AdminConnection*>(h->data); });
    }
  }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
      auto* self = static_cast<AdminConnection*>(h->data);
      if (self->busy_) {
        self->zombie_ = true;  // a reply is still coming: delete then
      } else {
        delete self;
      }
    });
  }

  AdminServer& admin_;
  uv_tcp_t handle_;
  http::Http1Parser parser_;
  http::RequestHead head_;
  std::string in_;
  bool complete_ = false;
  bool busy_ = false;
  bool closed_ = false;
  bool keep_alive_ = true;
  bool zombie_ = false;
};

} // namespace

AdminServer::AdminServer(Server& server) : server_(server) {
  uv_tcp_init(server.loop(), &handle_);
  handle_.data = this;
}

AdminServer::~AdminServer() = default;

absl::Status AdminServer::listen(const std::string& address) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (auto st = parseAddress(address, &addr, &len); !st.ok()) {
    return st;
  }
  int rc = uv_tcp_bind(&handle_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&handle_), 128, [](uv_stream_t* s, int status) {
      if (status != 0) {
        return;
      }
      auto* admin = static_cast<AdminServer*>(s->data);
      auto* c = new AdminConnection(*admin);
      if (uv_accept(s, reinterpret_cast<uv_stream_t*>(c->handle())) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(c->handle()),
                 [](uv_handle_t* h) { delete static_cast<AdminConnection*>(h->data); });
        return;
      }
      c->handle()->data = c;
      c->start();
    });
  }
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("admin: cannot listen on ", address, ": ",
                                            uv_strerror(rc)));
  }
  sockaddr_storage bound{};
  int blen = sizeof(bound);
  uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&bound), &blen);
  bound_ = formatAddress(reinterpret_cast<sockaddr*>(&bound));
  return absl::OkStatus();
}

// HTTP/2 downstream: connections, streams, and each limit or mitigation that fired.
static void renderHttp2Metrics(const std::vector<WorkerStats*>& stats, std::string& out) {
  uint64_t cx = 0, streams = 0, idle = 0, goaway = 0;
  std::array<uint64_t, http2::kEventCount> events{};
  for (const WorkerStats* st : stats) {
    cx += st->http2.connections.value();
    streams += st->http2.streams.value();
    idle += st->http2.stream_idle_timeouts.value();
    goaway += st->http2.goaway_sent.value();
    for (int i = 0; i < http2::kEventCount; i++) {
      events[i] += st->http2.events[i].value();
    }
  }
  absl::StrAppend(&out, "# HELP gateway_http2_connections_total Downstream connections that ",
                  "spoke HTTP/2.\n# TYPE gateway_http2_connections_total counter\n",
                  "gateway_http2_connections_total ", cx, "\n");
  absl::StrAppend(&out, "# HELP gateway_http2_streams_total HTTP/2 request streams.\n",
                  "# TYPE gateway_http2_streams_total counter\ngateway_http2_streams_total ",
                  streams, "\n");
  absl::StrAppend(&out, "# HELP gateway_http2_stream_idle_timeouts_total Streams reset by the ",
                  "stream idle timeout.\n# TYPE gateway_http2_stream_idle_timeouts_total counter\n",
                  "gateway_http2_stream_idle_timeouts_total ", idle, "\n");
  absl::StrAppend(&out, "# HELP gateway_http2_goaway_total Graceful GOAWAYs sent (drain, idle).\n",
                  "# TYPE gateway_http2_goaway_total counter\ngateway_http2_goaway_total ",
                  goaway, "\n");
  out += "# HELP gateway_http2_protection_total HTTP/2 limits and abuse mitigations that fired, "
         "by event.\n# TYPE gateway_http2_protection_total counter\n";
  for (int i = 0; i < http2::kEventCount; i++) {
    absl::StrAppend(&out, "gateway_http2_protection_total{event=\"",
                    http2::eventName(static_cast<http2::Event>(i)), "\"} ", events[i], "\n");
  }
}

std::string renderMetrics(Server& server) {
  struct Agg {
    RouteClusterStats s;
  };
  std::map<std::string, RouteClusterStats> routes;
  uint64_t cx_total = 0, rq_total = 0, rejected = 0, up_cx = 0, up_fail = 0, retries = 0,
           timeouts = 0, tls_ok = 0, tls_failed = 0, up_tls_failed = 0;
  int64_t cx_active = 0, rq_active = 0, up_active = 0;
  for (auto& w : server.workers()) {
    WorkerStats& st = w->stats();
    std::lock_guard<std::mutex> lock(st.mu);
    cx_total += st.downstream_cx_total.value();
    rq_total += st.downstream_rq_total;
    rejected += st.downstream_rq_rejected.value();
    up_cx += st.upstream_cx_total.value();
    up_fail += st.upstream_cx_connect_fail.value();
    tls_ok += st.downstream_tls_handshakes.value();
    tls_failed += st.downstream_tls_handshake_failed.value();
    up_tls_failed += st.upstream_tls_handshake_failed.value();
    retries += st.upstream_rq_retry.value();
    timeouts += st.upstream_rq_timeout.value();
    cx_active += st.downstream_cx_active.value();
    rq_active += st.downstream_rq_active.value();
    up_active += st.upstream_cx_active.value();
    for (const auto& [key, rs] : st.routes) {
      auto& a = routes[key];
      for (size_t i = 0; i < rs.by_class.size(); i++) a.by_class[i] += rs.by_class[i];
      for (size_t i = 0; i < rs.latency_buckets.size(); i++) {
        a.latency_buckets[i] += rs.latency_buckets[i];
      }
      a.latency_sum_ms += rs.latency_sum_ms;
      a.latency_count += rs.latency_count;
    }
  }
  std::string out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += absl::StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v,
                        "\n");
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += absl::StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", v,
                        "\n");
  };
  counter("gateway_downstream_connections_total", "Accepted downstream connections.", cx_total);
  gauge("gateway_downstream_connections_active", "Open downstream connections.", cx_active);
  gauge("gateway_downstream_requests_active", "Requests in flight.", rq_active);
  counter("gateway_downstream_requests_rejected_total",
          "Requests rejected by the codec (malformed, too large, timeouts).", rejected);
  counter("gateway_upstream_connections_total", "Upstream connections opened.", up_cx);
  gauge("gateway_upstream_connections_active", "Open upstream connections.", up_active);
  counter("gateway_upstream_connect_failures_total", "Failed upstream connects.", up_fail);
  counter("gateway_downstream_tls_handshakes_total", "Completed downstream TLS handshakes.",
          tls_ok);
  counter("gateway_downstream_tls_handshake_failures_total",
          "Failed downstream TLS handshakes (each logged with its reason).", tls_failed);
  counter("gateway_upstream_tls_handshake_failures_total",
          "Failed TLS handshakes with upstream endpoints.", up_tls_failed);
  counter("gateway_upstream_retries_total",
          "Retries: the route's retry policy, or a stale pooled connection.", retries);
  counter("gateway_upstream_timeouts_total", "Route timeouts.", timeouts);
  {
    std::vector<WorkerStats*> stats;
    for (auto& w : server.workers()) {
      stats.push_back(&w->stats());
    }
    renderResilienceMetrics(*server.config(), stats, out);
    renderHttp2Metrics(stats, out);
  }
  {
    std::vector<const TunnelStats*> tunnels;
    for (auto& w : server.workers()) {
      tunnels.push_back(&w->stats().tunnel);
    }
    renderTunnelMetrics(tunnels, out);
  }
  // Each filter's own stats (declared beside its code: source/filters/filter_stats.h).
  {
    std::vector<const filters::FilterStatsBlock*> blocks;
    for (auto& w : server.workers()) {
      blocks.push_back(&static_cast<const Worker&>(*w).filterStats());
    }
    out += filters::renderFilterStats(blocks);
  }
  // Live configuration (the control-plane client writes these; applied/rejected count snapshots).
  ControlPlaneStats& cp = server.controlPlaneStats();
  counter("gateway_config_applied_total", "Snapshots from the control plane applied (ACKed).",
          cp.config_applied.load());
  counter("gateway_config_rejected_total", "Snapshots from the control plane rejected (NACKed).",
          cp.config_rejected.load());
  gauge("gateway_control_plane_connected", "1 while the discovery stream is up.",
        cp.connected.load() ? 1 : 0);
  out += absl::StrCat(
      "# HELP gateway_config_apply_seconds The last applied snapshot: from its arrival until every "
      "worker runs it (stage=total), and the validate+compile part of that (stage=compile).\n"
      "# TYPE gateway_config_apply_seconds gauge\n"
      "gateway_config_apply_seconds{stage=\"total\"} ", cp.last_apply_seconds.load(), "\n",
      "gateway_config_apply_seconds{stage=\"compile\"} ", cp.last_compile_seconds.load(), "\n");
  out += absl::StrCat(
      "# HELP gateway_admin_unauthenticated_total Admin requests refused for a missing or wrong "
      "bearer token.\n"
      "# TYPE gateway_admin_unauthenticated_total counter\n"
      "gateway_admin_unauthenticated_total{endpoint=\"http\"} ",
      server.adminAuthStats().http_unauthenticated.load(), "\n",
      "gateway_admin_unauthenticated_total{endpoint=\"grpc\"} ",
      server.adminAuthStats().grpc_unauthenticated.load(), "\n");
  gauge("gateway_config_generations_live",
        "Config generations still referenced (the running one plus any in-flight requests hold).",
        RuntimeConfig::liveGenerations());
  std::string version;
  for (char c : server.config()->version) {
    if (c == '\\' || c == '"') {
      version += '\\';
      version += c;
    } else if (c == '\n') {
      version += "\\n";
    } else {
      version += c;
    }
  }
  out += absl::StrCat("# HELP gateway_config_version_info The config version running.\n"
                      "# TYPE gateway_config_version_info gauge\n"
                      "gateway_config_version_info{version=\"", version, "\"} 1\n");
  out += renderHealthMetrics(*server.config());
  out += "# HELP gateway_requests_total Requests by route, cluster and status class.\n"
         "# TYPE gateway_requests_total counter\n";
  for (const auto& [key, rs] : routes) {
    std::vector<std::string> parts = absl::StrSplit(key, '\x1f');
    const std::string labels =
        absl::StrCat("route=\"", parts[0], "\",cluster=\"", parts.size() > 1 ? parts[1] : "", "\"");
    for (int c = 1; c <= 5; c++) {
      if (rs.by_class[c] > 0) {
        out += absl::StrCat("gateway_requests_total{", labels, ",status_class=\"", c, "xx\"} ",
                            rs.by_class[c], "\n");
      }
    }
  }
  out += "# HELP gateway_request_duration_ms Request latency in milliseconds.\n"
         "# TYPE gateway_request_duration_ms histogram\n";
  for (const auto& [key, rs] : routes) {
    std::vector<std::string> parts = absl::StrSplit(key, '\x1f');
    const std::string labels =
        absl::StrCat("route=\"", parts[0], "\",cluster=\"", parts.size() > 1 ? parts[1] : "", "\"");
    uint64_t cum = 0;
    for (size_t i = 0; i < kLatencyBucketsMs.size(); i++) {
      cum += rs.latency_buckets[i];
      out += absl::StrCat("gateway_request_duration_ms_bucket{", labels, ",le=\"",
                          kLatencyBucketsMs[i], "\"} ", cum, "\n");
    }
    cum += rs.latency_buckets[kLatencyBucketsMs.size()];
    out += absl::StrCat("gateway_request_duration_ms_bucket{", labels, ",le=\"+Inf\"} ", cum,
                        "\n");
    out += absl::StrCat("gateway_request_duration_ms_sum{", labels, "} ", rs.latency_sum_ms, "\n");
    out += absl::StrCat("gateway_request_duration_ms_count{", labels, "} ", rs.latency_count,
                        "\n");
  }
  out += filters::cache::MemoryStore::global().renderMetrics();  // the response cache
  return out;
}

} // namespace gw::server
