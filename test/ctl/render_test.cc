#include "source/ctl/render.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "source/config/config.h"

namespace gw::ctl {
namespace {

template <class T>
T textProto(const std::string& text) {
  T m;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &m));
  return m;
}

gateway::v1::Config sampleConfig() {
  auto c = config::parseConfig(R"(
listeners:
  - name: public
    address: 127.0.0.1:8080
    pre_filters: [{name: headers}]
    virtual_hosts:
      - name: demo
        domains: ["*"]
        routes:
          - name: health
            match: {path: /healthz}
            route_filter: {name: direct_response, config: {status: 200}}
          - name: users
            match:
              prefix: /api/users
              methods: [GET, POST]
              headers: [{name: x-env, value: {exact: canary}}]
              query_params: [{name: debug, value: {present: true, invert: true}}]
            route_filter: {name: router, config: {cluster: user-service}}
          - match: {regex: "/v[0-9]+/.*"}
            route_filter: {name: router, config: {cluster: orders}}
clusters:
  - name: user-service
    endpoints: [{address: 127.0.0.1:9101}, {address: 127.0.0.1:9102, weight: 3}]
  - name: orders
    lb_policy: RING_HASH
    hash_policy: {header: x-user-id}
    endpoints: [{address: 127.0.0.1:9201}]
)");
  REQUIRE(c.ok());
  return *c;
}

TEST_CASE("render: semantic diff, one line per change") {
  auto diff = textProto<gateway::v1::Diff>(R"(
    from_version: 7
    changes { resource_type: "route" name: "public/demo/users" kind: ADDED }
    changes { resource_type: "cluster" name: "user-service" kind: CHANGED
              fields: "endpoints" fields: "lb_policy" }
    changes { resource_type: "listener" name: "old" kind: REMOVED }
    changes { resource_type: "cluster" name: "x" kind: CHANGED }
  )");
  CHECK(renderDiff(diff) ==
        "+ route public/demo/users\n"
        "~ cluster user-service (endpoints, lb_policy)\n"
        "- listener old\n"
        "~ cluster x\n");
  CHECK(renderDiff(gateway::v1::Diff()) == "no changes\n");
}

TEST_CASE("render: every field error as path: message") {
  auto resp = textProto<gateway::v1::ApplyResponse>(R"(
    errors { path: "listeners[0].virtual_hosts[0].routes[1].route_filter.config.cluster"
             message: "unknown cluster 'x'" }
    errors { path: "clusters[1].name" message: "duplicate name 'users'" }
    errors { message: "no listeners" }
  )");
  CHECK(renderFieldErrors(resp.errors()) ==
        "listeners[0].virtual_hosts[0].routes[1].route_filter.config.cluster: unknown cluster "
        "'x'\n"
        "clusters[1].name: duplicate name 'users'\n"
        "no listeners\n");
}

TEST_CASE("render: routes table") {
  // The match column is as wide as its widest cell (the users route).
  const std::string pad(55, ' ');
  CHECK(
      renderRoutesTable(sampleConfig()) ==
      "LISTENER  VHOST  ROUTE   MATCH" + pad +
          "            ROUTE FILTER\n"
          "public    demo   health  path /healthz" +
          pad +
          "    direct_response 200\n"
          "public    demo   users   prefix /api/users GET|POST header x-env=canary query not debug "
          "present  router -> user-service\n"
          "public    demo   -       regex /v[0-9]+/.*" +
          pad + "router -> orders\n");
  CHECK(renderRoutesTable(gateway::v1::Config()) == "no routes defined\n");
}

TEST_CASE("render: clusters and listeners tables") {
  std::string clusters = renderClustersTable(sampleConfig());
  CHECK(absl::StrContains(clusters, "NAME "));
  CHECK(absl::StrContains(clusters, "user-service  round_robin"));
  CHECK(absl::StrContains(clusters, "127.0.0.1:9101, 127.0.0.1:9102 (w3)\n"));
  CHECK(absl::StrContains(clusters, "ring_hash by header x-user-id  127.0.0.1:9201\n"));
  CHECK(renderListenersTable(sampleConfig()) ==
        "NAME    ADDRESS         VHOSTS    ROUTES  DEFAULT FILTERS\n"
        "public  127.0.0.1:8080  demo (*)  3       pre: headers\n");
}

TEST_CASE("render: no policies in a config without them") {
  CHECK(renderPoliciesTable(sampleConfig()) == "no policies defined\n");
  CHECK(policiesDoc(sampleConfig()).kind() == Doc::Kind::List);
  CHECK(policiesDoc(sampleConfig()).items().empty());
}

TEST_CASE("render: routes document names listener and virtual host") {
  Doc d = routesDoc(sampleConfig());
  REQUIRE(d.items().size() == 3);
  CHECK(d.items()[1].find("listener")->scalar() == "public");
  CHECK(d.items()[1].find("virtual_host")->scalar() == "demo");
  CHECK(d.items()[1].find("route")->find("name")->scalar() == "users");
}

TEST_CASE("render: snapshot view has its metadata and the three tables") {
  gateway::v1::StoredSnapshot s;
  s.set_version(9);
  s.set_author("alice");
  s.set_message("add users");
  s.mutable_applied_at()->set_seconds(1714564800);  // 2024-05-01T12:00:00Z
  s.mutable_target()->add_node_ids("edge-1");
  s.set_rolled_back_from(5);
  *s.mutable_config() = sampleConfig();
  std::string out = renderSnapshot(s);
  CHECK(absl::StartsWith(out,
                         "version      9\n"
                         "applied at   2024-05-01T12:00:00Z\n"
                         "author       alice\n"
                         "message      add users\n"
                         "target       nodes edge-1\n"
                         "rollback of  version 5\n"));
  CHECK(absl::StrContains(out, "\nListeners:\nNAME "));
  CHECK(absl::StrContains(out, "\nRoutes:\nLISTENER "));
  CHECK(absl::StrContains(out, "\nClusters:\nNAME "));
}

TEST_CASE("render: history") {
  auto h = textProto<gateway::v1::HistoryResponse>(R"(
    snapshots { version: 3 author: "bob" message: "rollback" applied_at { seconds: 1714564800 }
                rolled_back_from: 1 }
    snapshots { version: 2 author: "alice" message: "canary"
                applied_at { seconds: 1714564700 }
                target { node_ids: "a" node_ids: "b" labels { key: "env" value: "prod" } } }
    snapshots { version: 1 }
  )");
  CHECK(renderHistory(h) ==
        "VERSION  TIME                  AUTHOR  MESSAGE   TARGET                     "
        "ROLLED BACK FROM\n"
        "3        2024-05-01T12:00:00Z  bob     rollback  all nodes                  1\n"
        "2        2024-05-01T11:58:20Z  alice   canary    nodes a,b labels env=prod  -\n"
        "1        -                     -       -         all nodes                  -\n");
  CHECK(renderHistory(gateway::v1::HistoryResponse()) == "no snapshots applied yet\n");
}

TEST_CASE("render: node state and status table") {
  auto s = textProto<gateway::v1::StatusResponse>(R"(
    latest_version: 8
    nodes { node { id: "edge-1" labels { key: "zone" value: "a" }
                   labels { key: "env" value: "prod" } }
            connected: true acked_version: "8" desired_version: "8" }
    nodes { node { id: "edge-2" } connected: true acked_version: "7" desired_version: "8"
            nacked_version: "8"
            last_nack { message: "snapshot refused"
                        errors { path: "listeners[0].address" message: "cannot bind" }
                        errors { path: "x" message: "y" } } }
    nodes { node { id: "edge-3" } connected: false acked_version: "6" desired_version: "8" }
  )");
  CHECK(nodeState(s.nodes(0)) == "in-sync");
  CHECK(nodeState(s.nodes(1)) == "NACKed");
  CHECK(nodeState(s.nodes(2)) == "pending");
  CHECK(lastErrorLine(s.nodes(1)) == "v8: listeners[0].address: cannot bind (+1 more)");
  CHECK(lastErrorLine(s.nodes(0)).empty());
  std::string out = renderStatus(s);
  CHECK(absl::StartsWith(out, "latest version 8\nNODE "));
  CHECK(
      absl::StrContains(out, "edge-1  env=prod,zone=a  yes        8        8        in-sync  -\n"));
  CHECK(absl::StrContains(
      out,
      "edge-2  -                yes        7        8        NACKed   v8: listeners[0].address"));
  CHECK(
      absl::StrContains(out, "edge-3  -                no         6        8        pending  -\n"));

  Doc d = statusDoc(s);
  REQUIRE(d.find("nodes") != nullptr);
  CHECK(d.find("nodes")->items()[1].find("state")->scalar() == "NACKed");
  CHECK(d.find("latest_version")->scalar() == "8");

  gateway::v1::StatusResponse empty;
  CHECK(renderStatus(empty) == "latest version 0\nno nodes have connected\n");
}

TEST_CASE("render: explain of a routed request") {
  gateway::v1::ExplainRequest req;
  req.set_method("GET");
  req.set_url("http://api.example.com/api//users/42");
  (*req.mutable_headers())["x-env"] = "canary";
  auto r = textProto<gateway::v1::ExplainResponse>(R"(
    listener: "public" normalized_path: "/api/users/42" virtual_host: "demo" route: "users"
    trace: "route 'health' skipped: path /healthz does not match /api/users/42"
    trace: "route 'orders' skipped: method GET not in [POST]"
    filters { stage: "pre" name: "headers" decision: "add header x-a: 1" }
    filters { stage: "route" name: "router" decision: "proxy to cluster user-service" }
    filters { stage: "post" name: "headers" decision: "continue" }
    cluster: "user-service" endpoint: "127.0.0.1:9102" upstream_path: "/users/42"
  )");
  CHECK(renderExplain(req, r) ==
        "request         GET http://api.example.com/api//users/42\n"
        "                x-env: canary\n"
        "listener        public\n"
        "normalized path /api/users/42\n"
        "virtual host    demo\n"
        "trace:\n"
        "  route 'health' skipped: path /healthz does not match /api/users/42\n"
        "  route 'orders' skipped: method GET not in [POST]\n"
        "matched route   users\n"
        "filter chain:\n"
        "  1.  pre    headers  add header x-a: 1\n"
        "  2.  route  router   proxy to cluster user-service\n"
        "  3.  post   headers  continue\n"
        "cluster         user-service\n"
        "endpoint        127.0.0.1:9102\n"
        "upstream path   /users/42\n");
  CHECK_FALSE(explainNotRouted(r));
}

TEST_CASE("render: explain of a rejected and of an unrouted request") {
  gateway::v1::ExplainRequest req;
  req.set_method("GET");
  req.set_url("/a%2Fb");
  auto rejected = textProto<gateway::v1::ExplainResponse>(
      R"(listener: "public" rejected: "encoded slash (%2F) in path" status: 400)");
  CHECK(renderExplain(req, rejected) ==
        "request         GET /a%2Fb\n"
        "listener        public\n"
        "rejected        encoded slash (%2F) in path\n"
        "status          400\n"
        "\nthe request would be refused before routing; nothing goes upstream\n");
  CHECK(explainNotRouted(rejected));

  auto unrouted = textProto<gateway::v1::ExplainResponse>(R"(
    listener: "public" normalized_path: "/nope" virtual_host: "demo"
    trace: "route 'users' skipped: prefix /api/users does not match")");
  std::string out = renderExplain(req, unrouted);
  CHECK(absl::StrContains(out, "trace:\n  route 'users' skipped"));
  CHECK(absl::StrContains(out, "matched route   none\n"));
  CHECK(absl::StrContains(out, "no route matches: the gateway answers 404"));
  CHECK(explainNotRouted(unrouted));

  auto direct = textProto<gateway::v1::ExplainResponse>(R"(
    listener: "public" normalized_path: "/healthz" virtual_host: "demo" route: "health"
    filters { stage: "route" name: "direct_response" decision: "respond 200" } status: 200)");
  out = renderExplain(req, direct);
  CHECK(absl::StrContains(out, "status          200\n"));
  CHECK_FALSE(absl::StrContains(out, "cluster"));
}

TEST_CASE("render: proxy clusters and config") {
  auto c = textProto<gateway::v1::ProxyClustersResponse>(R"(
    clusters { name: "users" lb_policy: "round_robin"
      circuit_state: "open" circuit_open_remaining_ms: 4250
      endpoints { address: "127.0.0.1:9101" weight: 1 healthy: true active_requests: 2
                  total_requests: 10 connections: 3 }
      endpoints { address: "127.0.0.1:9102" weight: 1 healthy: false } }
    clusters { name: "empty" lb_policy: "random" })");
  CHECK(renderProxyClusters(c) ==
        "CLUSTER  LB           CIRCUIT           ENDPOINT        WEIGHT  HEALTHY  ACTIVE  "
        "TOTAL  CONNECTIONS\n"
        "users    round_robin  open (4.2s left)  127.0.0.1:9101  1       yes      2       "
        "10     3\n"
        "users    round_robin  open (4.2s left)  127.0.0.1:9102  1       no       0       "
        "0      0\n"
        "empty    random       -                 -\n");
  // Health reasons, ejection state and panic mode.
  auto h = textProto<gateway::v1::ProxyClustersResponse>(R"(
    clusters { name: "orders" lb_policy: "round_robin" panic: true
      endpoints { address: "10.0.0.1:80" weight: 1 healthy: false
                  unhealthy_reasons: "active_check" }
      endpoints { address: "10.0.0.2:80" weight: 1 healthy: false
                  unhealthy_reasons: "active_check" unhealthy_reasons: "outlier"
                  outlier_ejections: 2 ejected_remaining_ms: 12500 }
      endpoints { address: "10.0.0.3:80" weight: 1 healthy: true outlier_ejections: 1 } })");
  CHECK(renderProxyClusters(h) ==
        "CLUSTER  LB           CIRCUIT  ENDPOINT     WEIGHT  HEALTHY   "
        "                                          ACTIVE  TOTAL  CONNECTIONS\n"
        "orders   round_robin  -        10.0.0.1:80  1       no (active"
        "_check)                                   0       0      0\n"
        "orders   round_robin  -        10.0.0.2:80  1       no (active"
        "_check, outlier, 12.5s left, ejected 2x)  0       0      0\n"
        "orders   round_robin  -        10.0.0.3:80  1       yes       "
        "                                          0       0      0\n"
        "cluster orders: panic mode (too few healthy endpoints): balancing across all of them\n");
  gateway::v1::ProxyConfigResponse pc;
  pc.set_version("8");
  (*pc.mutable_bound_listeners())["public"] = "127.0.0.1:41234";
  *pc.mutable_config() = sampleConfig();
  std::string out = renderProxyConfig(pc);
  CHECK(absl::StartsWith(out,
                         "running version 8\n\nBound listeners:\nLISTENER  BOUND TO\n"
                         "public    127.0.0.1:41234\n"));
  CHECK(absl::StrContains(out, "router -> user-service"));
}

TEST_CASE("render: timestamps, targets, labels") {
  google::protobuf::Timestamp ts;
  CHECK(formatTimestamp(ts) == "-");
  ts.set_seconds(0);
  ts.set_nanos(1);
  CHECK(formatTimestamp(ts) == "1970-01-01T00:00:00Z");
  CHECK(formatTarget(gateway::v1::Target()) == "all nodes");
  gateway::v1::Target t;
  (*t.mutable_labels())["b"] = "2";
  (*t.mutable_labels())["a"] = "1";
  CHECK(formatTarget(t) == "labels a=1,b=2");
}

} // namespace
} // namespace gw::ctl
