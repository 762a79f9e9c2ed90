// gatewayctl end to end against in-process fake ControlAdmin / ProxyAdmin services over real gRPC
// on 127.0.0.1:0: request contents, output text and exit codes.
#include "source/ctl/cli.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "google/protobuf/text_format.h"
#include "test/ctl/fake_admin.h"

namespace gw::ctl {
namespace {

using testing::FakeControlAdmin;
using testing::FakeProxyAdmin;
using testing::FakeServer;

template <class T>
T textProto(const std::string& text) {
  T m;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &m));
  return m;
}

std::string tmpDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::string writeFile(const std::string& name, const std::string& content) {
  std::string path = tmpDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

const char* const kConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    virtual_hosts:
      - name: demo
        domains: ["*"]
        routes:
          - name: users
            match: {prefix: /api/users}
            route_filter: {name: router, config: {cluster: user-service}}
clusters:
  - name: user-service
    endpoints: [{address: 127.0.0.1:9101}]
)";

// A port nothing listens on (bound, then closed).
int closedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

struct Result {
  int rc;
  std::string out;
  std::string err;
};

// Runs the CLI with a fixed environment (no ambient $GATEWAY_ADMIN_TOKEN / $USER).
Result run(std::vector<std::string> args, std::map<std::string, std::string> env = {},
           std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  std::ostringstream out, err;
  CliContext ctx;
  ctx.getenv = [env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  ctx.poll_interval = poll;
  int rc = runCli(args, out, err, ctx);
  return {rc, out.str(), err.str()};
}

// One fake control plane per test.
struct ControlFixture {
  FakeControlAdmin svc;
  FakeServer server{&svc};
  std::vector<std::string> args(std::vector<std::string> a) {
    a.insert(a.begin(), {"--server", server.address()});
    return a;
  }
};

struct ProxyFixture {
  FakeProxyAdmin svc;
  FakeServer server{&svc};
  std::vector<std::string> args(std::vector<std::string> a) {
    a.insert(a.begin(), {"--proxy", server.address()});
    return a;
  }
};

gateway::v1::ApplyResponse acceptedResponse() {
  return textProto<gateway::v1::ApplyResponse>(R"(
    accepted: true version: 8 targeted_nodes: "edge-1" targeted_nodes: "edge-2"
    diff { from_version: 7
      changes { resource_type: "route" name: "public/demo/users" kind: ADDED }
      changes { resource_type: "cluster" name: "user-service" kind: CHANGED
                fields: "endpoints" fields: "lb_policy" }
      changes { resource_type: "listener" name: "old" kind: REMOVED } })");
}

TEST_CASE("cli: apply sends the parsed file and prints the diff and the version") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  std::string file = writeFile("apply_ok.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "-m", "add users", "--target-node", "edge-1",
                       "--target-node", "edge-2", "--target-label", "env=prod"}),
               {{"USER", "alice"}});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(r.out ==
        "+ route public/demo/users\n"
        "~ cluster user-service (endpoints, lb_policy)\n"
        "- listener old\n"
        "applied as version 8 to 2 node(s)\n");
  const auto& req = f.svc.last_apply;
  CHECK(req.author() == "alice");
  CHECK(req.message() == "add users");
  CHECK_FALSE(req.dry_run());
  REQUIRE(req.config().listeners_size() == 1);
  CHECK(req.config().listeners(0).virtual_hosts(0).routes(0).name() == "users");
  CHECK(req.config().clusters(0).name() == "user-service");
  CHECK(req.target().node_ids_size() == 2);
  CHECK(req.target().labels().at("env") == "prod");
  CHECK(f.svc.log.authorization().empty());
}

TEST_CASE("cli: apply --author overrides $USER; --dry-run says nothing was applied") {
  ControlFixture f;
  auto resp = acceptedResponse();
  resp.set_version(0);
  f.svc.apply_response = resp;
  std::string file = writeFile("apply_dry.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "--dry-run", "--author", "bob"}), {{"USER", "alice"}});
  CHECK(r.rc == 0);
  CHECK(f.svc.last_apply.dry_run());
  CHECK(f.svc.last_apply.author() == "bob");
  CHECK(absl::StrContains(r.out, "+ route public/demo/users\n"));
  CHECK(absl::EndsWith(r.out, "dry run: valid, not applied\n"));
}

TEST_CASE("cli: a refused apply lists every error and exits 1") {
  ControlFixture f;
  f.svc.apply_response = textProto<gateway::v1::ApplyResponse>(R"pb(
    accepted: false
    errors {
      path: "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster"
      message: "unknown cluster 'nope'"
    }
    errors { path: "clusters[1].name" message: "duplicate name 'user-service'" }
    errors {
      path: "listeners[0].virtual_hosts[0].routes[2].match.regex"
      message: "invalid regex: missing )"
    })pb");
  std::string file = writeFile("apply_refused.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file}));
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "apply refused by gateway-control (3 errors):\n"
        "listeners[0].virtual_hosts[0].routes[0].route_filter.config.cluster: unknown cluster "
        "'nope'\n"
        "clusters[1].name: duplicate name 'user-service'\n"
        "listeners[0].virtual_hosts[0].routes[2].match.regex: invalid regex: missing )\n");
}

TEST_CASE("cli: a file that does not parse is reported with its line; nothing is sent") {
  ControlFixture f;
  std::string file = writeFile("bad.yaml", "listeners:\n  - name: a\n    bogus_field: 1\n");
  auto r = run(f.args({"apply", "-f", file}));
  CHECK(r.rc == 1);
  CHECK(absl::StrContains(r.err, "bad.yaml"));
  CHECK(absl::StrContains(r.err, "line 3"));
  CHECK(f.svc.log.count("Apply") == 0);

  auto missing = run(f.args({"apply", "-f", tmpDir() + "/does-not-exist.yaml"}));
  CHECK(missing.rc == 1);
  CHECK(absl::StrContains(missing.err, "does-not-exist.yaml"));

  auto no_file = run(f.args({"apply"}));
  CHECK(no_file.rc == 2);
  CHECK(absl::StrContains(no_file.err, "'apply' needs -f FILE"));
  CHECK(f.svc.log.count("Apply") == 0);
}

TEST_CASE("cli: apply -f - reads stdin") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  std::istringstream in(kConfig);
  std::ostringstream out, err;
  CliContext ctx;
  ctx.getenv = [](const std::string&) { return std::nullopt; };
  ctx.in = &in;
  int rc = runCli(f.args({"apply", "-f", "-"}), out, err, ctx);
  CHECK(rc == 0);
  CHECK(f.svc.last_apply.config().clusters(0).name() == "user-service");
}

// Status answers for --wait: the nodes answer on the third poll.
gateway::v1::StatusResponse waitStatus(int poll, bool nack_edge2) {
  gateway::v1::StatusResponse s;
  s.set_latest_version(8);
  auto* a = s.add_nodes();
  a->mutable_node()->set_id("edge-1");
  a->set_connected(true);
  a->set_desired_version("8");
  a->set_acked_version(poll >= 2 ? "8" : "7");
  auto* b = s.add_nodes();
  b->mutable_node()->set_id("edge-2");
  b->set_connected(true);
  b->set_desired_version("8");
  b->set_acked_version("7");
  if (poll >= 2) {
    if (nack_edge2) {
      b->set_nacked_version("8");
      auto* e = b->mutable_last_nack()->add_errors();
      e->set_path("listeners[0].address");
      e->set_message("cannot bind 127.0.0.1:80: permission denied");
    } else {
      b->set_acked_version("8");
    }
  }
  return s;
}

TEST_CASE("cli: apply --wait reports each node's ACK") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  f.svc.status_fn = [](int poll) { return waitStatus(poll, false); };
  std::string file = writeFile("wait_ack.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "--wait", "--timeout", "5s"}));
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(absl::EndsWith(r.out, "applied as version 8 to 2 node(s)\nedge-1: ACK\nedge-2: ACK\n"));
  CHECK(f.svc.log.count("Status") == 3);
}

TEST_CASE("cli: apply --wait with a NACK exits 1 and shows the error") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  f.svc.status_fn = [](int poll) { return waitStatus(poll, true); };
  std::string file = writeFile("wait_nack.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "--wait"}));
  CHECK(r.rc == 1);
  CHECK(absl::StrContains(r.out, "edge-1: ACK\n"));
  CHECK(absl::StrContains(
      r.out, "edge-2: NACK: listeners[0].address: cannot bind 127.0.0.1:80: permission denied\n"));
}

TEST_CASE("cli: apply --wait times out naming the nodes that did not answer") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  f.svc.status_fn = [](int) {
    auto s = waitStatus(2, false);
    s.mutable_nodes(1)->set_acked_version("7");  // edge-2 never answers
    s.mutable_nodes(1)->set_connected(false);
    return s;
  };
  std::string file = writeFile("wait_timeout.yaml", kConfig);
  auto start = std::chrono::steady_clock::now();
  auto r = run(f.args({"apply", "-f", file, "--wait", "--timeout", "300ms"}));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.rc == 1);
  CHECK(absl::StrContains(r.out, "edge-1: ACK\n"));
  CHECK(r.err ==
        "timed out after 300ms waiting for version 8; no answer from 1 node(s): edge-2 "
        "(disconnected)\n");
  CHECK(took < std::chrono::seconds(3));
}

TEST_CASE("cli: apply --wait -o json carries the per-node results") {
  ControlFixture f;
  f.svc.apply_response = acceptedResponse();
  f.svc.status_fn = [](int poll) { return waitStatus(poll, true); };
  std::string file = writeFile("wait_json.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "--wait", "-o", "json"}));
  CHECK(r.rc == 1);
  CHECK(absl::StartsWith(r.out, "{\n  \"accepted\": true,\n  \"version\": \"8\",\n"));
  CHECK(absl::StrContains(r.out, "\"wait\": {"));
  CHECK(absl::StrContains(r.out, "\"result\": \"NACK\""));
  CHECK(absl::StrContains(r.out, "\"timed_out\": false"));
  CHECK_FALSE(absl::StrContains(r.out, "edge-1: ACK"));  // no table lines in JSON mode
}

TEST_CASE("cli: apply --wait with no connected target has nothing to wait for") {
  ControlFixture f;
  auto resp = acceptedResponse();
  resp.clear_targeted_nodes();
  f.svc.apply_response = resp;
  std::string file = writeFile("wait_none.yaml", kConfig);
  auto r = run(f.args({"apply", "-f", file, "--wait"}));
  CHECK(r.rc == 0);
  CHECK(absl::EndsWith(r.out,
                       "applied as version 8 to 0 node(s)\n"
                       "no connected node is targeted: nothing to wait for\n"));
  CHECK(f.svc.log.count("Status") == 0);
}

TEST_CASE("cli: diff") {
  ControlFixture f;
  f.svc.diff_response = acceptedResponse().diff();
  std::string file = writeFile("diff.yaml", kConfig);
  auto r = run(f.args({"diff", "-f", file, "--target-label", "zone=a"}));
  CHECK(r.rc == 0);
  CHECK(r.out ==
        "against version 7:\n"
        "+ route public/demo/users\n"
        "~ cluster user-service (endpoints, lb_policy)\n"
        "- listener old\n");
  CHECK(f.svc.last_diff.target().labels().at("zone") == "a");
  CHECK(f.svc.last_diff.config().listeners(0).name() == "public");

  auto bad = run(f.args({"diff", "-f", file, "--target-label", "novalue"}));
  CHECK(bad.rc == 2);
  CHECK(absl::StrContains(bad.err, "bad --target-label 'novalue': use KEY=VALUE"));
}

gateway::v1::StoredSnapshot storedSnapshot(uint64_t version) {
  gateway::v1::StoredSnapshot s;
  s.set_version(version);
  s.set_author("alice");
  s.set_message("add users");
  s.mutable_applied_at()->set_seconds(1714564800);
  auto& c = *s.mutable_config();
  google::protobuf::TextFormat::ParseFromString(R"(
    version: "8"
    listeners { name: "public" address: "127.0.0.1:8080"
      virtual_hosts { name: "demo" domains: "*"
        routes { name: "users" match { prefix: "/api/users" }
          route_filter { name: "router"
            config { fields { key: "cluster" value { string_value: "user-service" } } } } } } }
    clusters { name: "user-service" endpoints { address: "127.0.0.1:9101" }
               endpoints { address: "127.0.0.1:9102" weight: 2 } lb_policy: LEAST_REQUEST })",
                                                &c);
  return s;
}

TEST_CASE("cli: get routes / clusters / listeners / policies as tables") {
  ControlFixture f;
  f.svc.snapshots[0] = storedSnapshot(8);
  auto routes = run(f.args({"get", "routes"}));
  CHECK(routes.rc == 0);
  CHECK(routes.out ==
        "LISTENER  VHOST  ROUTE  MATCH              ROUTE FILTER\n"
        "public    demo   users  prefix /api/users  router -> user-service\n");
  auto clusters = run(f.args({"get", "clusters"}));
  CHECK(clusters.out ==
        "NAME          LB             ENDPOINTS\n"
        "user-service  least_request  127.0.0.1:9101, 127.0.0.1:9102 (w2)\n");
  auto listeners = run(f.args({"get", "listeners"}));
  CHECK(absl::StrContains(listeners.out, "public  127.0.0.1:8080  demo (*)  1"));
  auto policies = run(f.args({"get", "policies"}));
  CHECK(policies.rc == 0);
  CHECK(policies.out == "no policies defined\n");
  CHECK(f.svc.last_get.version() == 0);
}

TEST_CASE("cli: get policies lists auth providers and rate-limit policies, secrets redacted") {
  ControlFixture f;
  auto s = storedSnapshot(8);
  auto* p = s.mutable_config()->add_auth_providers();
  p->set_name("users");
  p->set_secret("top-secret-value");
  auto* r = s.mutable_config()->add_rate_limit_policies();
  r->set_name("per-ip");
  r->set_requests_per_unit(10);
  f.svc.snapshots[0] = s;
  auto table = run(f.args({"get", "policies"}));
  CHECK(table.rc == 0);
  CHECK(table.out ==
        "TYPE                 NAME\n"
        "auth_providers       users\n"
        "rate_limit_policies  per-ip\n");
  for (const char* fmt : {"yaml", "json"}) {
    auto doc = run(f.args({"get", "policies", "-o", fmt}));
    CHECK(doc.rc == 0);
    CHECK_FALSE(absl::StrContains(doc.out, "top-secret-value"));
    CHECK(absl::StrContains(doc.out, "<redacted>"));
    CHECK(absl::StrContains(doc.out, "per-ip"));
    auto snap = run(f.args({"get", "snapshot", "-o", fmt}));
    CHECK_FALSE(absl::StrContains(snap.out, "top-secret-value"));
  }
  CHECK_FALSE(absl::StrContains(run(f.args({"get", "snapshot"})).out, "top-secret-value"));
}

TEST_CASE("cli: get snapshot -o yaml prints a config that parses back; -o json too") {
  ControlFixture f;
  f.svc.snapshots[8] = storedSnapshot(8);
  auto y = run(f.args({"get", "snapshot", "--version", "8", "-o", "yaml"}));
  CHECK(y.rc == 0);
  CHECK(f.svc.last_get.version() == 8);
  CHECK(absl::StartsWith(y.out, "version: \"8\"\nlisteners:\n  - name: public\n"));
  CHECK(absl::StrContains(y.out, "lb_policy: LEAST_REQUEST"));
  // Re-appliable: apply -f accepts it.
  f.svc.apply_response = acceptedResponse();
  std::string file = writeFile("roundtrip.yaml", y.out);
  CHECK(run(f.args({"apply", "-f", file})).rc == 0);
  CHECK(f.svc.last_apply.config().clusters(0).endpoints(1).weight() == 2);

  auto j = run(f.args({"get", "routes", "--version=8", "-o", "json"}));
  CHECK(j.rc == 0);
  CHECK(absl::StartsWith(j.out,
                         "[\n  {\n    \"listener\": \"public\",\n    \"virtual_host\": "
                         "\"demo\",\n    \"route\": {\n      \"name\": \"users\","));

  auto table = run(f.args({"get", "snapshot", "--version", "8"}));
  CHECK(absl::StartsWith(table.out, "version      8\napplied at   2024-05-01T12:00:00Z\n"));
}

TEST_CASE("cli: get of a missing version exits 1; a bad kind is a usage error") {
  ControlFixture f;
  auto r = run(f.args({"get", "routes", "--version", "99"}));
  CHECK(r.rc == 1);
  CHECK(r.err == "error: version 99 not found (no such version)\n");
  auto none = run(f.args({"get", "routes"}));
  CHECK(none.rc == 1);
  CHECK(absl::StartsWith(none.err, "error: no snapshot has been applied yet"));
  auto bad = run(f.args({"get", "widgets"}));
  CHECK(bad.rc == 2);
  CHECK(absl::StrContains(bad.err, "unknown resource 'widgets' for get"));
  auto badv = run(f.args({"get", "routes", "--version", "x"}));
  CHECK(badv.rc == 2);
  CHECK(absl::StrContains(badv.err, "bad --version 'x': expected a number"));
}

TEST_CASE("cli: history") {
  ControlFixture f;
  f.svc.history_response = textProto<gateway::v1::HistoryResponse>(R"(
    snapshots { version: 9 author: "bob" message: "undo" applied_at { seconds: 1714564800 }
                rolled_back_from: 7 }
    snapshots { version: 8 author: "alice" message: "canary" applied_at { seconds: 1714564700 }
                target { node_ids: "edge-1" } })");
  auto r = run(f.args({"history", "--limit", "2"}));
  CHECK(r.rc == 0);
  CHECK(f.svc.last_history.limit() == 2);
  CHECK(r.out ==
        "VERSION  TIME                  AUTHOR  MESSAGE  TARGET        ROLLED BACK FROM\n"
        "9        2024-05-01T12:00:00Z  bob     undo     all nodes     7\n"
        "8        2024-05-01T11:58:20Z  alice   canary   nodes edge-1  -\n");
  auto j = run(f.args({"history", "-o", "json"}));
  CHECK(absl::StrContains(j.out, "\"rolled_back_from\": \"7\""));
}

TEST_CASE("cli: rollback") {
  ControlFixture f;
  auto resp = acceptedResponse();
  resp.set_version(10);
  f.svc.rollback_response = resp;
  auto r = run(f.args({"rollback", "--to", "5", "-m", "bad deploy"}), {{"USER", "carol"}});
  CHECK(r.rc == 0);
  CHECK(f.svc.last_rollback.to_version() == 5);
  CHECK(f.svc.last_rollback.author() == "carol");
  CHECK(f.svc.last_rollback.message() == "bad deploy");
  CHECK(absl::EndsWith(r.out, "rolled back to version 5: applied as version 10 to 2 node(s)\n"));
  auto prev = run(f.args({"rollback"}));
  CHECK(f.svc.last_rollback.to_version() == 0);
  CHECK(absl::EndsWith(prev.out, "rolled back: applied as version 10 to 2 node(s)\n"));

  f.svc.rollback_response = textProto<gateway::v1::ApplyResponse>(
      R"(accepted: false errors { message: "version 99 does not exist" })");
  auto refused = run(f.args({"rollback", "--to", "99"}));
  CHECK(refused.rc == 1);
  CHECK(refused.err ==
        "rollback refused by gateway-control (1 error):\nversion 99 does not exist\n");
}

TEST_CASE("cli: status table and json") {
  ControlFixture f;
  f.svc.status_fn = [](int) {
    auto s = waitStatus(2, true);
    s.mutable_nodes(0)->mutable_node()->mutable_labels()->insert({"env", "prod"});
    return s;
  };
  auto r = run(f.args({"status"}));
  CHECK(r.rc == 0);
  CHECK(r.out ==
        "latest version 8\n"
        "NODE    LABELS    CONNECTED  RUNNING  DESIRED  STATE    LAST ERROR\n"
        "edge-1  env=prod  yes        8        8        in-sync  -\n"
        "edge-2  -         yes        7        8        NACKed   v8: listeners[0].address: cannot "
        "bind 127.0.0.1:80: permission denied\n");
  auto j = run(f.args({"status", "-o", "json"}));
  CHECK(j.rc == 0);
  CHECK(absl::StrContains(j.out, "\"state\": \"NACKed\""));
  CHECK(absl::StrContains(j.out, "\"id\": \"edge-1\""));
  auto y = run(f.args({"status", "-o", "yaml"}));
  CHECK(absl::StrContains(y.out, "state: in-sync"));
}

TEST_CASE("cli: the token goes in authorization metadata, from the env or a file") {
  ControlFixture f;
  f.svc.log.required_token = "s3cret";
  auto none = run(f.args({"status"}));
  CHECK(none.rc == 2);
  CHECK(none.err ==
        "error: the server requires a token: pass --token-file or set GATEWAY_ADMIN_TOKEN\n");

  auto env = run(f.args({"status"}), {{"GATEWAY_ADMIN_TOKEN", "s3cret"}});
  CHECK(env.rc == 0);
  CHECK(f.svc.log.authorization() == "Bearer s3cret");

  std::string tf = writeFile("token", "s3cret\n");
  auto file = run(f.args({"status", "--token-file", tf}), {{"GATEWAY_ADMIN_TOKEN", "wrong"}});
  CHECK(file.rc == 0);  // the file wins over the env, and its newline is trimmed

  auto wrong = run(f.args({"status"}), {{"GATEWAY_ADMIN_TOKEN", "wrong"}});
  CHECK(wrong.rc == 2);
  CHECK(absl::StrContains(wrong.err, "refused the token"));

  auto missing = run(f.args({"status", "--token-file", tmpDir() + "/no-token"}));
  CHECK(missing.rc == 2);
  CHECK(absl::StrContains(missing.err, "cannot read token file"));
}

TEST_CASE("cli: connection refused exits 2 with a hint") {
  std::string addr = "127.0.0.1:" + std::to_string(closedPort());
  auto r = run({"--server", addr, "status"});
  CHECK(r.rc == 2);
  CHECK(absl::StartsWith(r.err, "error: cannot reach gateway-control at " + addr +
                                    ": is it running? (--server to change)"));
  auto p = run({"proxy", "stats", "--proxy", addr});
  CHECK(p.rc == 2);
  CHECK(absl::StartsWith(p.err, "error: cannot reach gatewayd's gRPC admin at " + addr +
                                    ": is it running? (--proxy to change)"));
  // A file that parses is needed before apply connects.
  std::string file = writeFile("unreachable.yaml", kConfig);
  CHECK(run({"--server", addr, "apply", "-f", file}).rc == 2);
}

TEST_CASE("cli: a server slower than --timeout exits 2") {
  ControlFixture f;
  f.svc.log.delay = std::chrono::milliseconds(2000);
  auto start = std::chrono::steady_clock::now();
  auto r = run(f.args({"status", "--timeout", "200ms"}));
  CHECK(r.rc == 2);
  CHECK(absl::StrContains(r.err, "no answer within 200ms"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
}

TEST_CASE("cli: proxy explain sends the request and renders the answer") {
  ProxyFixture p;
  p.svc.explain_response = textProto<gateway::v1::ExplainResponse>(R"pb(
    listener: "public"
    normalized_path: "/api/users/42"
    virtual_host: "demo"
    route: "users"
    trace: "route 'health' skipped: path /healthz does not match"
    filters { stage: "pre" name: "fault" decision: "continue (no x-fault header)" }
    filters { stage: "route" name: "router" decision: "proxy to cluster user-service" }
    cluster: "user-service"
    endpoint: "127.0.0.1:9101"
    upstream_path: "/api/users/42")pb");
  auto r = run(p.args({"proxy", "explain", "GET", "/api//users/42", "-H", "Host: api.example.com",
                       "-H", "X-Env:canary", "--listener", "public"}));
  INFO(r.err);
  CHECK(r.rc == 0);
  const auto& req = p.svc.last_explain;
  CHECK(req.method() == "GET");
  CHECK(req.url() == "/api//users/42");
  CHECK(req.headers().at("host") == "api.example.com");
  CHECK(req.headers().at("x-env") == "canary");
  CHECK(req.listener() == "public");
  CHECK(r.out ==
        "request         GET /api//users/42\n"
        "                host: api.example.com\n"
        "                x-env: canary\n"
        "listener        public\n"
        "normalized path /api/users/42\n"
        "virtual host    demo\n"
        "trace:\n"
        "  route 'health' skipped: path /healthz does not match\n"
        "matched route   users\n"
        "filter chain:\n"
        "  1.  pre    fault   continue (no x-fault header)\n"
        "  2.  route  router  proxy to cluster user-service\n"
        "cluster         user-service\n"
        "endpoint        127.0.0.1:9101\n"
        "upstream path   /api/users/42\n");

  auto j = run(p.args({"proxy", "explain", "GET", "/x", "-o", "json"}));
  CHECK(absl::StrContains(j.out, "\"virtual_host\": \"demo\""));

  p.svc.explain_response = textProto<gateway::v1::ExplainResponse>(
      R"(listener: "public" rejected: "encoded slash (%2F) in path" status: 400)");
  auto rej = run(p.args({"proxy", "explain", "GET", "/a%2Fb"}));
  CHECK(rej.rc == 1);
  CHECK(absl::StrContains(rej.out, "rejected        encoded slash (%2F) in path\n"));

  auto badh = run(p.args({"proxy", "explain", "GET", "/x", "-H", "novalue"}));
  CHECK(badh.rc == 2);
  CHECK(absl::StrContains(badh.err, "bad header 'novalue': use -H 'Name: value'"));
  auto badu = run(p.args({"proxy", "explain", "GET", "users"}));
  CHECK(badu.rc == 2);
  auto missing = run(p.args({"proxy", "explain", "GET"}));
  CHECK(missing.rc == 2);
  CHECK(absl::StrContains(missing.err, "'proxy explain' needs METHOD URL"));
}

TEST_CASE("cli: proxy config, clusters, stats, drain") {
  ProxyFixture p;
  p.svc.config_response.set_version("8");
  (*p.svc.config_response.mutable_bound_listeners())["public"] = "127.0.0.1:8080";
  *p.svc.config_response.mutable_config() = storedSnapshot(8).config();
  p.svc.clusters_response = textProto<gateway::v1::ProxyClustersResponse>(R"(
    clusters { name: "user-service" lb_policy: "least_request"
      endpoints { address: "127.0.0.1:9101" weight: 1 healthy: true total_requests: 4 } })");
  p.svc.stats_response.set_prometheus_text("gateway_requests_total 4\n");
  p.svc.drain_response.set_draining(true);

  auto c = run(p.args({"proxy", "config"}));
  CHECK(c.rc == 0);
  CHECK(absl::StartsWith(c.out, "running version 8\n"));
  CHECK(absl::StrContains(c.out, "public    127.0.0.1:8080\n"));
  auto cy = run(p.args({"proxy", "config", "-o", "yaml"}));
  CHECK(absl::StartsWith(cy.out, "version: \"8\"\nconfig:\n"));

  auto cl = run(p.args({"proxy", "clusters"}));
  CHECK(cl.rc == 0);
  CHECK(absl::StrContains(cl.out, "user-service  least_request  -        127.0.0.1:9101  1       yes"));

  auto s = run(p.args({"proxy", "stats"}));
  CHECK(s.out == "gateway_requests_total 4\n");
  auto sj = run(p.args({"proxy", "stats", "-o", "json"}));
  CHECK(sj.out == "{\n  \"prometheus_text\": \"gateway_requests_total 4\\n\"\n}\n");

  auto d = run(p.args({"proxy", "drain"}));
  CHECK(d.rc == 0);
  CHECK(d.out == "gatewayd at " + p.server.address() +
                     " is draining: listeners closed, in-flight requests finishing\n");
  CHECK(p.svc.log.count("Drain") == 1);
}

TEST_CASE("cli: help and usage errors") {
  auto h = run({"--help"});
  CHECK(h.rc == 0);
  CHECK(absl::StartsWith(h.out, "Usage: gatewayctl [global flags] COMMAND"));
  for (const char* cmd : {"apply", "diff", "get", "history", "rollback", "status"}) {
    auto c = run({cmd, "--help"});
    CHECK(c.rc == 0);
    CHECK(absl::StartsWith(c.out, std::string("Usage: gatewayctl ") + cmd));
  }
  auto pe = run({"proxy", "explain", "--help"});
  CHECK(absl::StartsWith(pe.out, "Usage: gatewayctl proxy explain [flags] METHOD URL\n"));
  CHECK(absl::StrContains(pe.out, "-H, --header"));
  auto help_cmd = run({"help", "apply"});
  CHECK(help_cmd.rc == 0);
  CHECK(absl::StartsWith(help_cmd.out, "Usage: gatewayctl apply"));

  auto none = run({});
  CHECK(none.rc == 2);
  CHECK(absl::StartsWith(none.err, "Usage: gatewayctl"));
  auto unknown = run({"deploy"});
  CHECK(unknown.rc == 2);
  CHECK(unknown.err == "error: unknown command 'deploy'\nrun 'gatewayctl --help' for usage\n");
  auto flag = run({"status", "--verbose"});
  CHECK(flag.rc == 2);
  CHECK(flag.err ==
        "error: unknown flag '--verbose' for 'status'\nrun 'gatewayctl status --help' for usage\n");
  auto fmt = run({"status", "-o", "xml"});
  CHECK(fmt.rc == 2);
  CHECK(absl::StrContains(fmt.err, "unknown output format 'xml'"));
  auto tmo = run({"status", "--timeout", "soon"});
  CHECK(tmo.rc == 2);
  CHECK(absl::StrContains(tmo.err, "bad --timeout 'soon'"));
}

} // namespace
} // namespace gw::ctl
