// gateway-control's gRPC server, in-process on 127.0.0.1:0, driven by real gRPC clients: a fake
// node on the discovery stream and the ControlAdmin stub gatewayctl uses.
#include "source/control/control_server.h"

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gateway/v1/admin.grpc.pb.h"
#include "gateway/v1/discovery.grpc.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "source/control/control_plane.h"
#include "source/control/diff.h"
#include "source/control/snapshot_store.h"
#include "test/control/test_util.h"

namespace gw::control {
namespace {

using gateway::v1::ApplyRequest;
using gateway::v1::ApplyResponse;
using gateway::v1::DiscoveryRequest;
using gateway::v1::DiscoveryResponse;
using gateway::v1::NodeStatus;
using gateway::v1::StatusResponse;
using gateway::v1::Target;
using std::chrono::milliseconds;
using testing::TempDir;
using testing::validConfig;
using Clock = std::chrono::steady_clock;

struct FixtureOptions {
  std::string token;
  milliseconds heartbeat{200};
  milliseconds liveness{3000};
};

// A control plane (store, plane, server) on 127.0.0.1:0 and an admin client.
class Fixture {
public:
  explicit Fixture(FixtureOptions o = {}) : options_(std::move(o)) { start(); }
  ~Fixture() { stop(); }

  void start() {
    auto store = SnapshotStore::open(tmp_.path());
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    store_ = *std::move(store);
    ControlPlane::Options po;
    po.heartbeat_interval = options_.heartbeat;
    po.liveness_timeout = options_.liveness;
    po.log = [this](const std::string& line) { record(line); };
    plane_ = std::make_unique<ControlPlane>(*store_, po);
    ControlServerOptions so;
    so.listen = "127.0.0.1:0";
    so.token = options_.token;
    so.log = po.log;
    server_ = std::make_unique<ControlServer>(*plane_, so);
    REQUIRE(server_->start().ok());
    REQUIRE(server_->port() > 0);
    channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    admin_ = gateway::v1::ControlAdmin::NewStub(channel_);
  }

  // Everything down, as in a process exit; start() again reopens the same store directory.
  void stop() {
    admin_.reset();
    channel_.reset();
    server_.reset();
    plane_.reset();
    store_.reset();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  gateway::v1::ControlAdmin::Stub& admin() { return *admin_; }
  ControlServer& server() { return *server_; }
  ControlPlane& plane() { return *plane_; }
  SnapshotStore& store() { return *store_; }
  const std::string& dir() const { return tmp_.path(); }

  std::unique_ptr<grpc::ClientContext> context(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const std::string t = token.empty() ? options_.token : token;
    if (!t.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + t);
    }
    return ctx;
  }

  ApplyResponse apply(const gateway::v1::Config& config, const Target& target = {},
                      bool dry_run = false) {
    ApplyRequest req;
    *req.mutable_config() = config;
    *req.mutable_target() = target;
    req.set_author("tester");
    req.set_message("test apply");
    req.set_dry_run(dry_run);
    ApplyResponse resp;
    auto ctx = context();
    auto st = admin_->Apply(ctx.get(), req, &resp);
    INFO(st.error_message());
    REQUIRE(st.ok());
    return resp;
  }

  StatusResponse status() {
    StatusResponse resp;
    auto ctx = context();
    REQUIRE(admin_->Status(ctx.get(), gateway::v1::StatusRequest(), &resp).ok());
    return resp;
  }

  std::optional<NodeStatus> node(const std::string& id) {
    const StatusResponse st = status();
    for (const auto& n : st.nodes()) {
      if (n.node().id() == id) {
        return n;
      }
    }
    return std::nullopt;
  }

  // Polls Status until `pred` holds for node `id` (at most 3 s).
  bool waitNode(const std::string& id, const std::function<bool(const NodeStatus&)>& pred) {
    const auto deadline = Clock::now() + milliseconds(3000);
    while (Clock::now() < deadline) {
      auto n = node(id);
      if (n.has_value() && pred(*n)) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  bool logged(const std::string& needle) {
    std::lock_guard<std::mutex> lock(log_mu_);
    for (const auto& l : logs_) {
      if (absl::StrContains(l, needle)) {
        return true;
      }
    }
    return false;
  }

private:
  void record(const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu_);
    logs_.push_back(line);
  }

  const FixtureOptions options_;
  TempDir tmp_;
  std::unique_ptr<SnapshotStore> store_;
  std::unique_ptr<ControlPlane> plane_;
  std::unique_ptr<ControlServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gateway::v1::ControlAdmin::Stub> admin_;
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

// A fake gatewayd on the discovery stream: a reader thread queues what the server sends.
class NodeClient {
public:
  explicit NodeClient(std::shared_ptr<grpc::Channel> channel, const std::string& token = "")
      : stub_(gateway::v1::DiscoveryService::NewStub(channel)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) {
      ctx_.AddMetadata("authorization", "Bearer " + token);
    }
    stream_ = stub_->StreamSnapshots(&ctx_);
    reader_ = std::thread([this] {
      DiscoveryResponse r;
      while (stream_->Read(&r)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (r.heartbeat()) {
          heartbeats_++;
        } else {
          responses_.push_back(r);
        }
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }

  ~NodeClient() {
    if (!finished_) {
      ctx_.TryCancel();
      reader_.join();
      stream_->Finish();
    }
  }

  bool hello(const std::string& id, const std::string& running = "",
             std::map<std::string, std::string> labels = {},
             const std::string& build = "test-build") {
    DiscoveryRequest req;
    req.mutable_node()->set_id(id);
    req.mutable_node()->set_build_version(build);
    for (const auto& [k, v] : labels) {
      (*req.mutable_node()->mutable_labels())[k] = v;
    }
    req.set_version_info(running);
    return stream_->Write(req);
  }

  bool ack(const DiscoveryResponse& r) {
    DiscoveryRequest req;
    req.set_version_info(r.version_info());
    req.set_response_nonce(r.nonce());
    return stream_->Write(req);
  }

  bool nack(const DiscoveryResponse& r, const std::string& running, const std::string& error) {
    DiscoveryRequest req;
    req.set_version_info(running);
    req.set_response_nonce(r.nonce());
    req.mutable_error_detail()->set_message(error);
    auto* e = req.mutable_error_detail()->add_errors();
    e->set_path("listeners[0].address");
    e->set_message("cannot bind");
    return stream_->Write(req);
  }

  bool heartbeat() {
    DiscoveryRequest req;
    req.set_heartbeat(true);
    return stream_->Write(req);
  }

  // The next snapshot response (heartbeats skipped), or nothing within `timeout`.
  std::optional<DiscoveryResponse> next(milliseconds timeout = milliseconds(3000)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !responses_.empty() || ended_; }) ||
        responses_.empty()) {
      return std::nullopt;
    }
    DiscoveryResponse r = std::move(responses_.front());
    responses_.pop_front();
    return r;
  }

  bool waitHeartbeats(int n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return heartbeats_ >= n; });
  }

  bool waitEnded(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }

  // Half-closes and returns the server's status (waits for the server to end the stream).
  grpc::Status finish() {
    stream_->WritesDone();
    reader_.join();
    finished_ = true;
    return stream_->Finish();
  }
  // Waits for the server to end the stream on its own.
  grpc::Status finishAfterEnd() {
    reader_.join();
    finished_ = true;
    return stream_->Finish();
  }

private:
  std::unique_ptr<gateway::v1::DiscoveryService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DiscoveryResponse> responses_;
  int heartbeats_ = 0;
  bool ended_ = false;
  bool finished_ = false;
};

Target ids(std::initializer_list<std::string> node_ids) {
  Target t;
  for (const auto& id : node_ids) {
    t.add_node_ids(id);
  }
  return t;
}

Target labels(std::map<std::string, std::string> kv) {
  Target t;
  for (const auto& [k, v] : kv) {
    (*t.mutable_labels())[k] = v;
  }
  return t;
}

TEST_CASE("a node gets its snapshot, ACKs it, and gets every new one pushed", "[server]") {
  Fixture f;
  auto a1 = f.apply(validConfig({"users"}));
  REQUIRE(a1.accepted());
  CHECK(a1.version() == 1);

  NodeClient n(f.channel());
  REQUIRE(n.hello("gw-1"));
  auto r1 = n.next();
  REQUIRE(r1.has_value());
  CHECK(r1->version_info() == "1");
  CHECK(r1->snapshot().version() == "1");
  CHECK_FALSE(r1->nonce().empty());
  CHECK(sameConfig(r1->snapshot(), validConfig({"users"})));
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.sent_version() == "1"; }));
  REQUIRE(n.ack(*r1));
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.acked_version() == "1"; }));
  CHECK(f.logged("ACK node=gw-1 version=1 nonce=" + r1->nonce()));

  auto a2 = f.apply(validConfig({"users", "orders"}));
  REQUIRE(a2.accepted());
  CHECK(a2.version() == 2);
  REQUIRE(a2.targeted_nodes_size() == 1);
  CHECK(a2.targeted_nodes(0) == "gw-1");
  CHECK(a2.diff().from_version() == 1);
  auto r2 = n.next();
  REQUIRE(r2.has_value());
  CHECK(r2->version_info() == "2");
  CHECK(r2->nonce() != r1->nonce());
  REQUIRE(n.ack(*r2));
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.acked_version() == "2"; }));

  auto st = f.status();
  CHECK(st.latest_version() == 2);
  REQUIRE(st.nodes_size() == 1);
  const auto& s = st.nodes(0);
  CHECK(s.connected());
  CHECK(s.desired_version() == "2");
  CHECK(s.sent_version() == "2");
  CHECK(s.node().build_version() == "test-build");
  CHECK(s.has_connected_since());
  CHECK(s.has_last_seen());
  CHECK(s.nacked_version().empty());

  REQUIRE(n.finish().ok());
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return !s.connected(); }));
  CHECK(f.logged("connect node=gw-1"));
  CHECK(f.logged("disconnect node=gw-1"));
}

TEST_CASE("a NACK is recorded and that version is not pushed again; a newer one is", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"users"})).accepted());
  {
    NodeClient n(f.channel());
    REQUIRE(n.hello("gw-1", "0"));
    auto r1 = n.next();
    REQUIRE(r1.has_value());
    REQUIRE(n.nack(*r1, "0", "listener 'edge' cannot bind 127.0.0.1:0"));
    REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.nacked_version() == "1"; }));
    auto s = *f.node("gw-1");
    CHECK(s.acked_version() == "0");
    CHECK(s.desired_version() == "1");
    CHECK(s.last_nack().message() == "listener 'edge' cannot bind 127.0.0.1:0");
    REQUIRE(s.last_nack().errors_size() == 1);
    CHECK(s.last_nack().errors(0).path() == "listeners[0].address");
    CHECK(s.has_last_nack_at());
    CHECK(f.logged("NACK node=gw-1 version=1"));
    // Only heartbeats follow.
    CHECK(n.waitHeartbeats(2, milliseconds(1000)));
    CHECK_FALSE(n.next(milliseconds(50)).has_value());

    REQUIRE(f.apply(validConfig({"users", "orders"})).accepted());
    auto r2 = n.next();
    REQUIRE(r2.has_value());
    CHECK(r2->version_info() == "2");
    REQUIRE(n.ack(*r2));
    REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.acked_version() == "2"; }));
    CHECK(f.node("gw-1")->nacked_version() == "1");  // the last NACK stays visible
  }
  // Roll back to the refused config: a new version, so it is pushed.
  gateway::v1::RollbackRequest rb;
  rb.set_to_version(1);
  ApplyResponse rolled;
  auto ctx = f.context();
  REQUIRE(f.admin().Rollback(ctx.get(), rb, &rolled).ok());
  REQUIRE(rolled.accepted());
  CHECK(rolled.version() == 3);
  NodeClient n(f.channel());
  REQUIRE(n.hello("gw-1", "2"));
  auto r3 = n.next();
  REQUIRE(r3.has_value());
  CHECK(r3->version_info() == "3");
}

TEST_CASE("a NACKed version is not re-pushed on reconnect unless the build changed", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"users"})).accepted());
  {
    NodeClient n(f.channel());
    REQUIRE(n.hello("gw-1", ""));
    auto r = n.next();
    REQUIRE(r.has_value());
    REQUIRE(n.nack(*r, "", "unknown filter 'x'"));
    REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return s.nacked_version() == "1"; }));
  }
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return !s.connected(); }));
  {
    NodeClient n(f.channel());
    REQUIRE(n.hello("gw-1", ""));  // same build
    CHECK(n.waitHeartbeats(2, milliseconds(1000)));
    CHECK_FALSE(n.next(milliseconds(50)).has_value());
  }
  REQUIRE(f.waitNode("gw-1", [](const NodeStatus& s) { return !s.connected(); }));
  NodeClient n(f.channel());
  REQUIRE(n.hello("gw-1", "", {}, "test-build-2"));  // an upgraded proxy may accept it
  auto r = n.next();
  REQUIRE(r.has_value());
  CHECK(r->version_info() == "1");
}

TEST_CASE("a node reporting the desired version on connect gets nothing pushed", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"users"})).accepted());
  REQUIRE(f.apply(validConfig({"users", "orders"})).accepted());
  NodeClient n(f.channel());
  REQUIRE(n.hello("gw-1", "2"));
  CHECK(n.waitHeartbeats(3, milliseconds(1500)));  // heartbeats every 200 ms on an idle stream
  CHECK_FALSE(n.next(milliseconds(50)).has_value());
  auto s = f.node("gw-1");
  REQUIRE(s.has_value());
  CHECK(s->connected());
  CHECK(s->acked_version() == "2");
  CHECK(s->desired_version() == "2");
  CHECK(s->sent_version().empty());
  CHECK(f.logged("connect node=gw-1"));
  CHECK_FALSE(f.logged("push node=gw-1"));
}

TEST_CASE("the first request must carry node.id", "[server]") {
  Fixture f;
  NodeClient n(f.channel());
  // hello() with an empty id: a first request without node.id.
  REQUIRE(n.hello(""));
  REQUIRE(n.waitEnded(milliseconds(3000)));
  auto st = n.finishAfterEnd();
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(st.error_message(), Catch::Contains("node.id"));
  CHECK(f.status().nodes_size() == 0);
}

TEST_CASE("snapshots target nodes by id and by labels", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"all"})).version() == 1);
  REQUIRE(f.apply(validConfig({"only-a"}), ids({"a"})).version() == 2);
  REQUIRE(f.apply(validConfig({"eu"}), labels({{"zone", "eu"}})).version() == 3);
  REQUIRE(
      f.apply(validConfig({"eu-canary"}), labels({{"zone", "eu"}, {"canary", "true"}})).version() ==
      4);

  NodeClient a(f.channel()), b(f.channel()), c(f.channel()), d(f.channel());
  REQUIRE(a.hello("a", "", {{"zone", "us"}}));
  REQUIRE(b.hello("b", "", {{"zone", "eu"}}));
  REQUIRE(c.hello("c"));
  REQUIRE(d.hello("d", "", {{"zone", "eu"}, {"canary", "true"}}));
  auto ra = a.next(), rb = b.next(), rc = c.next(), rd = d.next();
  REQUIRE(ra.has_value());
  REQUIRE(rb.has_value());
  REQUIRE(rc.has_value());
  REQUIRE(rd.has_value());
  CHECK(ra->version_info() == "2");
  CHECK(ra->snapshot().clusters(0).name() == "only-a");
  CHECK(rb->version_info() == "3");
  CHECK(rc->version_info() == "1");
  CHECK(rd->version_info() == "4");
  for (auto* p : {&ra, &rb, &rc, &rd}) {
    CHECK((*p)->snapshot().version() == (*p)->version_info());
  }

  // A snapshot for zone=eu reaches b and d only, and Apply lists exactly them.
  auto r5 = f.apply(validConfig({"eu", "eu2"}), labels({{"zone", "eu"}}));
  REQUIRE(r5.accepted());
  REQUIRE(r5.targeted_nodes_size() == 2);
  CHECK(r5.targeted_nodes(0) == "b");
  CHECK(r5.targeted_nodes(1) == "d");
  CHECK(r5.diff().from_version() == 3);  // compared with the previous zone=eu snapshot
  auto rb5 = b.next();
  REQUIRE(rb5.has_value());
  CHECK(rb5->version_info() == "5");
  auto rd5 = d.next();
  REQUIRE(rd5.has_value());
  CHECK(rd5->version_info() == "5");  // the newest matching snapshot wins
  CHECK_FALSE(a.next(milliseconds(300)).has_value());
  CHECK_FALSE(c.next(milliseconds(10)).has_value());

  auto st = f.status();
  REQUIRE(st.nodes_size() == 4);
  CHECK(st.nodes(0).node().id() == "a");  // sorted by id
  CHECK(st.nodes(0).desired_version() == "2");
  CHECK(st.nodes(1).desired_version() == "5");
  CHECK(st.nodes(2).desired_version() == "1");
  CHECK(st.nodes(3).desired_version() == "5");
  CHECK(st.nodes(1).node().labels().at("zone") == "eu");
}

TEST_CASE("Apply refuses an invalid config with every problem and stores nothing", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"users"})).accepted());
  auto bad = validConfig({"users"});
  // A route to a missing cluster, a duplicate cluster name, an invalid regex, an unknown filter.
  bad.mutable_listeners(0)
      ->mutable_virtual_hosts(0)
      ->mutable_routes(0)
      ->mutable_route_filter()
      ->mutable_config()
      ->mutable_fields()
      ->at("cluster")
      .set_string_value("nope");
  *bad.add_clusters() = bad.clusters(0);
  bad.mutable_listeners(0)->mutable_virtual_hosts(0)->mutable_routes(1)->mutable_match()->set_regex(
      "/(unclosed");
  bad.mutable_listeners(0)->add_pre_filters()->set_name("no-such-filter");

  auto r = f.apply(bad);
  CHECK_FALSE(r.accepted());
  CHECK(r.version() == 0);
  REQUIRE(r.errors_size() >= 4);
  std::string all;
  for (const auto& e : r.errors()) {
    CHECK_FALSE(e.path().empty());
    all += e.path() + ": " + e.message() + "\n";
  }
  INFO(all);
  CHECK_THAT(all, Catch::Contains("routes[0].route_filter.config.cluster"));
  CHECK_THAT(all, Catch::Contains("clusters[1]"));
  CHECK_THAT(all, Catch::Contains("routes[1].match.regex"));
  CHECK_THAT(all, Catch::Contains("pre_filters[0]"));
  CHECK(f.store().latestVersion() == 1);
  CHECK(f.logged("apply refused"));

  SECTION("dry run: validated and diffed, nothing stored") {
    auto dry = f.apply(validConfig({"users", "orders"}), {}, true);
    CHECK(dry.accepted());
    CHECK(dry.version() == 0);
    CHECK(dry.diff().from_version() == 1);
    CHECK(formatDiff(dry.diff()) == "+ route edge/api/orders\n+ cluster orders");
    CHECK(f.store().latestVersion() == 1);
    auto dry_bad = f.apply(bad, {}, true);
    CHECK_FALSE(dry_bad.accepted());
    CHECK(dry_bad.errors_size() == r.errors_size());
  }
  SECTION("DiffConfig compares with the snapshot for that target") {
    gateway::v1::DiffRequest req;
    *req.mutable_config() = validConfig({"orders"});
    gateway::v1::Diff d;
    auto ctx = f.context();
    REQUIRE(f.admin().DiffConfig(ctx.get(), req, &d).ok());
    CHECK(d.from_version() == 1);
    CHECK(formatDiff(d) ==
          "+ route edge/api/orders\n- route edge/api/users\n+ cluster orders\n- cluster users");
  }
}

TEST_CASE("a redacted secret applied again keeps the stored secret", "[server][policy]") {
  Fixture f;
  auto c = validConfig({"users"});
  auto* p = c.add_auth_providers();
  p->set_name("main");
  p->set_secret("the-real-secret");
  REQUIRE(f.apply(c).accepted());
  // What `gatewayctl get snapshot -o yaml` shows, edited (a new issuer) and applied again.
  auto shown = c;
  shown.mutable_auth_providers(0)->set_secret("<redacted>");
  shown.mutable_auth_providers(0)->set_issuer("https://issuer");
  auto r = f.apply(shown);
  REQUIRE(r.accepted());
  CHECK(formatDiff(r.diff()) == "~ auth_provider main (issuer)");
  auto stored = f.store().get(r.version());
  REQUIRE(stored != nullptr);
  CHECK(stored->config().auth_providers(0).secret() == "the-real-secret");
  // A placeholder with nothing to restore from is refused.
  shown.mutable_auth_providers(0)->set_name("other");
  auto refused = f.apply(shown);
  CHECK_FALSE(refused.accepted());
  REQUIRE(refused.errors_size() >= 1);
  CHECK(refused.errors(0).path() == "auth_providers[0].secret");
}

TEST_CASE("rollback creates a new version copying an old one", "[server]") {
  Fixture f;
  auto rollback = [&f](uint64_t to, ApplyResponse* out) {
    gateway::v1::RollbackRequest req;
    req.set_to_version(to);
    req.set_author("oncall");
    auto ctx = f.context();
    return f.admin().Rollback(ctx.get(), req, out);
  };
  ApplyResponse r;
  CHECK(rollback(0, &r).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  REQUIRE(f.apply(validConfig({"v1"}), labels({{"zone", "eu"}})).accepted());
  CHECK(rollback(0, &r).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  REQUIRE(f.apply(validConfig({"v2"}), labels({{"zone", "eu"}})).accepted());
  CHECK(rollback(2, &r).error_code() == grpc::StatusCode::FAILED_PRECONDITION);  // the latest
  CHECK(rollback(99, &r).error_code() == grpc::StatusCode::NOT_FOUND);

  NodeClient n(f.channel());
  REQUIRE(n.hello("eu-1", "2", {{"zone", "eu"}}));
  REQUIRE(f.waitNode("eu-1", [](const NodeStatus& s) { return s.connected(); }));

  REQUIRE(rollback(0, &r).ok());
  CHECK(r.accepted());
  CHECK(r.version() == 3);
  REQUIRE(r.targeted_nodes_size() == 1);
  CHECK(formatDiff(r.diff()) ==
        "+ route edge/api/v1\n- route edge/api/v2\n+ cluster v1\n"
        "- cluster v2");
  auto pushed = n.next();
  REQUIRE(pushed.has_value());
  CHECK(pushed->version_info() == "3");
  CHECK(pushed->snapshot().clusters(0).name() == "v1");

  gateway::v1::GetSnapshotRequest get;
  gateway::v1::StoredSnapshot s;
  auto ctx = f.context();
  REQUIRE(f.admin().GetSnapshot(ctx.get(), get, &s).ok());  // 0: latest
  CHECK(s.version() == 3);
  CHECK(s.rolled_back_from() == 1);
  CHECK(s.author() == "oncall");
  CHECK(s.message() == "rollback to version 1");
  CHECK(s.target().labels().at("zone") == "eu");
  CHECK(s.config().version() == "3");
  get.set_version(42);
  ctx = f.context();
  CHECK(f.admin().GetSnapshot(ctx.get(), get, &s).error_code() == grpc::StatusCode::NOT_FOUND);

  // Rolling back again undoes the rollback: "the one before the latest" is version 2.
  REQUIRE(rollback(0, &r).ok());
  CHECK(r.version() == 4);
  CHECK(f.store().get(4)->rolled_back_from() == 2);

  gateway::v1::HistoryRequest hreq;
  hreq.set_limit(3);
  gateway::v1::HistoryResponse h;
  ctx = f.context();
  REQUIRE(f.admin().History(ctx.get(), hreq, &h).ok());
  REQUIRE(h.snapshots_size() == 3);
  CHECK(h.snapshots(0).version() == 4);
  CHECK(h.snapshots(1).version() == 3);
  CHECK(h.snapshots(2).version() == 2);
  CHECK_FALSE(h.snapshots(0).has_config());
  CHECK(h.snapshots(0).rolled_back_from() == 2);
}

TEST_CASE("after a restart the history is kept and versions continue", "[server]") {
  Fixture f;
  REQUIRE(f.apply(validConfig({"a"})).version() == 1);
  REQUIRE(f.apply(validConfig({"b"})).version() == 2);
  f.stop();
  f.start();
  gateway::v1::HistoryResponse h;
  auto ctx = f.context();
  REQUIRE(f.admin().History(ctx.get(), gateway::v1::HistoryRequest(), &h).ok());
  REQUIRE(h.snapshots_size() == 2);
  CHECK(h.snapshots(0).version() == 2);
  CHECK(h.snapshots(0).author() == "tester");

  // The startup config path: the same content creates no version, a different one does.
  ApplyRequest req;
  *req.mutable_config() = validConfig({"b"});
  bool changed = true;
  auto same = f.plane().applyIfChanged(req, &changed);
  CHECK(same.accepted());
  CHECK_FALSE(changed);
  CHECK(same.version() == 2);
  *req.mutable_config() = validConfig({"c"});
  auto other = f.plane().applyIfChanged(req, &changed);
  CHECK(changed);
  CHECK(other.version() == 3);

  // A node that ran version 3 before the restart gets nothing pushed.
  NodeClient n(f.channel());
  REQUIRE(n.hello("gw-1", "3"));
  CHECK(n.waitHeartbeats(1, milliseconds(1000)));
  CHECK_FALSE(n.next(milliseconds(10)).has_value());
}

TEST_CASE("a corrupted store file stops the server from starting", "[server]") {
  TempDir tmp;
  {
    auto store = SnapshotStore::open(tmp.path());
    REQUIRE(store.ok());
    gateway::v1::StoredSnapshot s;
    *s.mutable_config() = validConfig();
    REQUIRE((*store)->append(s).ok());
  }
  testing::writeFile(tmp.file(SnapshotStore::fileName(1)), "{ not json");
  auto store = SnapshotStore::open(tmp.path());
  REQUIRE_FALSE(store.ok());
  CHECK_THAT(std::string(store.status().message()),
             Catch::Contains(tmp.file(SnapshotStore::fileName(1))));
}

TEST_CASE("heartbeats both ways; a silent node is disconnected", "[server]") {
  Fixture f(FixtureOptions{"", milliseconds(100), milliseconds(600)});
  NodeClient n(f.channel());
  REQUIRE(n.hello("quiet"));
  CHECK(n.waitHeartbeats(2, milliseconds(1000)));
  // Heartbeats from the node keep it alive past the liveness timeout.
  for (int i = 0; i < 8; i++) {
    REQUIRE(n.heartbeat());
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(f.node("quiet")->connected());
  // Then silence: the server ends the stream and marks the node disconnected.
  REQUIRE(n.waitEnded(milliseconds(3000)));
  CHECK(n.finishAfterEnd().error_code() != grpc::StatusCode::OK);
  REQUIRE(f.waitNode("quiet", [](const NodeStatus& s) { return !s.connected(); }));
  CHECK(f.logged("disconnect node=quiet"));
  CHECK(f.logged("nothing heard"));
}

TEST_CASE("with a token every call of both services must carry it", "[server][auth]") {
  Fixture f(FixtureOptions{"s3cret"});
  auto status = [&f](const std::string& auth) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!auth.empty()) {
      ctx.AddMetadata("authorization", auth);
    }
    StatusResponse resp;
    return f.admin().Status(&ctx, gateway::v1::StatusRequest(), &resp).error_code();
  };
  CHECK(status("") == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(status("Bearer wrong") == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(status("Basic s3cret") == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(status("Bearer s3cret") == grpc::StatusCode::OK);
  CHECK(status("bearer s3cret") == grpc::StatusCode::OK);

  {
    ApplyRequest req;
    *req.mutable_config() = validConfig();
    ApplyResponse resp;
    grpc::ClientContext ctx;
    CHECK(f.admin().Apply(&ctx, req, &resp).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(f.store().size() == 0);
  }
  {
    NodeClient anonymous(f.channel());
    anonymous.hello("sneaky");
    REQUIRE(anonymous.waitEnded(milliseconds(3000)));
    CHECK(anonymous.finishAfterEnd().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  CHECK(f.server().unauthenticatedCalls() == 5);
  CHECK(f.logged("refused ControlAdmin/Apply"));
  CHECK(f.logged("refused DiscoveryService/StreamSnapshots"));
  CHECK(f.logged("unauthenticated calls refused so far: 5"));

  REQUIRE(f.apply(validConfig()).accepted());
  NodeClient n(f.channel(), "s3cret");
  REQUIRE(n.hello("trusted"));
  auto r = n.next();
  REQUIRE(r.has_value());
  CHECK(r->version_info() == "1");
  CHECK(f.status().nodes_size() == 1);  // "sneaky" was never seen
}

TEST_CASE("token and address helpers", "[auth]") {
  CHECK(bearerTokenMatches("Bearer abc", "abc"));
  CHECK(bearerTokenMatches("BEARER  abc ", "abc"));
  CHECK_FALSE(bearerTokenMatches("Bearer abcd", "abc"));
  CHECK_FALSE(bearerTokenMatches("Bearer ab", "abc"));
  CHECK_FALSE(bearerTokenMatches("abc", "abc"));
  CHECK_FALSE(bearerTokenMatches("Bearer ", ""));
  CHECK(*isLoopbackListenAddress("127.0.0.1:18000"));
  CHECK(*isLoopbackListenAddress("[::1]:18000"));
  CHECK(*isLoopbackListenAddress("localhost:18000"));
  CHECK(*isLoopbackListenAddress("unix:/run/gateway-control.sock"));
  CHECK_FALSE(*isLoopbackListenAddress("0.0.0.0:18000"));
  CHECK_FALSE(*isLoopbackListenAddress("[::]:18000"));
  CHECK_FALSE(*isLoopbackListenAddress(":18000"));
  CHECK_FALSE(*isLoopbackListenAddress("10.1.2.3:18000"));
  CHECK_FALSE(isLoopbackListenAddress("no-port").ok());
}

TEST_CASE("targets: matching and covering", "[target]") {
  gateway::v1::Node n;
  n.set_id("a");
  (*n.mutable_labels())["zone"] = "eu";
  (*n.mutable_labels())["tier"] = "edge";
  CHECK(targetMatches(Target(), n));
  CHECK(targetMatches(ids({"b", "a"}), n));
  CHECK_FALSE(targetMatches(ids({"b"}), n));
  CHECK(targetMatches(labels({{"zone", "eu"}}), n));
  CHECK_FALSE(targetMatches(labels({{"zone", "us"}}), n));
  CHECK_FALSE(targetMatches(labels({{"rack", "1"}}), n));
  Target both = ids({"a"});
  (*both.mutable_labels())["zone"] = "us";
  CHECK_FALSE(targetMatches(both, n));  // ids and labels must both match

  CHECK(targetCovers(Target(), ids({"a"})));
  CHECK(targetCovers(ids({"a", "b"}), ids({"a"})));
  CHECK_FALSE(targetCovers(ids({"a"}), ids({"a", "b"})));
  CHECK_FALSE(targetCovers(ids({"a"}), Target()));
  CHECK(targetCovers(labels({{"zone", "eu"}}), labels({{"zone", "eu"}, {"tier", "edge"}})));
  CHECK_FALSE(targetCovers(labels({{"zone", "eu"}, {"tier", "edge"}}), labels({{"zone", "eu"}})));
  CHECK(describeTarget(Target()) == "all nodes");
  CHECK(describeTarget(both) == "ids=a labels=zone=us");
}

TEST_CASE("a config directory is merged in name order", "[config]") {
  TempDir tmp;
  testing::writeFile(tmp.file("10-listeners.yaml"), R"(
listeners:
  - name: edge
    address: 127.0.0.1:0
    virtual_hosts:
      - name: api
        domains: ["*"]
        routes:
          - name: users
            match: {prefix: /users}
            route_filter: {name: router, config: {cluster: users}}
)");
  testing::writeFile(
      tmp.file("20-clusters.json"),
      R"({"clusters": [{"name": "users", "endpoints": [{"address": "127.0.0.1:9"}]}]})");
  testing::writeFile(tmp.file("notes.txt"), "ignored");
  auto c = loadConfigPath(tmp.path());
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->listeners_size() == 1);
  CHECK(c->clusters_size() == 1);
  CHECK(validateSnapshotConfig(*c).empty());

  testing::writeFile(tmp.file("30-broken.yaml"), "listeners: [");
  testing::writeFile(tmp.file("40-broken.json"), "{\"nope\": 1}");
  auto bad = loadConfigPath(tmp.path());
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("30-broken.yaml"));
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("40-broken.json"));
  CHECK_FALSE(loadConfigPath(tmp.file("missing.yaml")).ok());
}

} // namespace
} // namespace gw::control
