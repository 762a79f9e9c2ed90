#include "source/ctl/cli.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gateway/v1/admin.grpc.pb.h"
#include "source/config/config.h"
#include "source/ctl/args.h"
#include "source/ctl/commands.h"
#include "source/ctl/cache_render.h"
#include "source/ctl/keys.h"
#include "source/ctl/node_wait.h"
#include "source/ctl/output.h"
#include "source/ctl/render.h"
#include "source/ctl/rpc_error.h"

namespace gw::ctl {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kDefaultServer[] = "127.0.0.1:18000";
constexpr char kDefaultProxy[] = "127.0.0.1:9902";
constexpr milliseconds kDefaultRpcTimeout{5000};
constexpr milliseconds kDefaultWaitTimeout{30000};

// A usage problem: the message is printed with a hint, exit 2.
struct UsageError {
  std::string message;
};

class Cli {
public:
  Cli(const ParsedArgs& args, std::ostream& out, std::ostream& err, const CliContext& ctx)
      : args_(args), out_(out), err_(err), ctx_(ctx) {}

  int run() {
    try {
      setup();
      const std::string& name = args_.command->name;
      if (name == "apply") {
        return apply();
      }
      if (name == "diff") {
        return diff();
      }
      if (name == "get") {
        return get();
      }
      if (name == "history") {
        return history();
      }
      if (name == "rollback") {
        return rollback();
      }
      if (name == "status") {
        return status();
      }
      if (name == "keys create" || name == "keys list" || name == "keys revoke" ||
          name == "keys usage") {
        return keys(name);
      }
      if (name == "proxy config") {
        return proxyConfig();
      }
      if (name == "proxy clusters") {
        return proxyClusters();
      }
      if (name == "proxy stats") {
        return proxyStats();
      }
      if (name == "proxy drain") {
        return proxyDrain();
      }
      if (name == "cache purge" || name == "cache stats") {
        return cache(name);
      }
      if (name == "proxy explain") {
        return proxyExplain();
      }
      throw UsageError{absl::StrCat("unknown command '", name, "'")};
    } catch (const UsageError& e) {
      err_ << "error: " << e.message << "\nrun '" << kProgram << " " << args_.command->name
           << " --help' for usage\n";
      return kExitUsage;
    }
  }

private:
  // --- setup -------------------------------------------------------------------------------

  std::optional<std::string> env(const std::string& name) const {
    if (ctx_.getenv) {
      return ctx_.getenv(name);
    }
    const char* v = ::getenv(name.c_str());
    return v == nullptr ? std::nullopt : std::optional<std::string>(v);
  }

  void setup() {
    std::string fmt = args_.value("output", "table");
    if (fmt == "table") {
      format_ = OutputFormat::Table;
    } else if (fmt == "json") {
      format_ = OutputFormat::Json;
    } else if (fmt == "yaml") {
      format_ = OutputFormat::Yaml;
    } else {
      throw UsageError{absl::StrCat("unknown output format '", fmt, "': use table, json or yaml")};
    }
    if (args_.has("timeout")) {
      auto d = parseDuration(args_.value("timeout"));
      if (!d.has_value() || d->count() == 0) {
        throw UsageError{
            absl::StrCat("bad --timeout '", args_.value("timeout"), "': use e.g. 5s, 500ms, 1m")};
      }
      timeout_given_ = *d;
    }
    if (args_.has("token-file")) {
      const std::string path = args_.value("token-file");
      std::ifstream f(path);
      if (!f) {
        throw UsageError{absl::StrCat("cannot read token file ", path, ": ", std::strerror(errno))};
      }
      std::stringstream ss;
      ss << f.rdbuf();
      token_ = std::string(absl::StripAsciiWhitespace(ss.str()));
      if (token_.empty()) {
        throw UsageError{absl::StrCat("token file ", path, " is empty")};
      }
    } else if (auto t = env("GATEWAY_ADMIN_TOKEN"); t.has_value()) {
      token_ = std::string(absl::StripAsciiWhitespace(*t));
    }
  }

  milliseconds rpcTimeout() const {
    // With --wait, --timeout bounds the wait; each call keeps the default deadline.
    if (args_.boolFlag("wait")) {
      return kDefaultRpcTimeout;
    }
    return timeout_given_.value_or(kDefaultRpcTimeout);
  }

  Endpoint controlEndpoint() const {
    return {"gateway-control", args_.value("server", kDefaultServer), "--server"};
  }
  Endpoint proxyEndpoint() const {
    return {"gatewayd's gRPC admin", args_.value("proxy", kDefaultProxy), "--proxy"};
  }

  static std::shared_ptr<grpc::Channel> channel(const std::string& address) {
    grpc::ChannelArguments ca;
    ca.SetMaxReceiveMessageSize(64 << 20);
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), ca);
  }

  gateway::v1::ControlAdmin::Stub& control() {
    if (!control_) {
      control_ = gateway::v1::ControlAdmin::NewStub(channel(controlEndpoint().address));
    }
    return *control_;
  }

  gateway::v1::ProxyAdmin::Stub& proxy() {
    if (!proxy_) {
      proxy_ = gateway::v1::ProxyAdmin::NewStub(channel(proxyEndpoint().address));
    }
    return *proxy_;
  }

  std::unique_ptr<grpc::ClientContext> callContext(milliseconds timeout) const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    if (!token_.empty()) {
      c->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
    }
    return c;
  }

  int rpcFailed(const grpc::Status& st, const Endpoint& ep, milliseconds timeout) {
    RpcFailure f = describeRpcError(st, ep, timeout, !token_.empty());
    err_ << "error: " << f.message << "\n";
    return f.exit_code;
  }

  template <class Req, class Resp, class Stub>
  grpc::Status call(Stub& stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp, milliseconds timeout) {
    auto c = callContext(timeout);
    return (stub.*method)(c.get(), req, resp);
  }

  void print(const std::string& table, const Doc& doc) {
    out_ << (format_ == OutputFormat::Table ? table : renderStructured(doc, format_));
  }

  // --- config files and targets ------------------------------------------------------------

  // The parsed file, or nullopt after printing the error (exit 1).
  std::optional<gateway::v1::Config> loadFile() {
    if (!args_.has("file")) {
      throw UsageError{absl::StrCat("'", args_.command->name, "' needs -f FILE")};
    }
    const std::string path = args_.value("file");
    absl::StatusOr<gateway::v1::Config> cfg;
    if (path == "-") {
      std::stringstream ss;
      ss << ctx_.in->rdbuf();
      cfg = config::parseConfig(ss.str());
      if (!cfg.ok()) {
        err_ << "error: <stdin>: " << cfg.status().message() << "\n";
        return std::nullopt;
      }
    } else {
      cfg = config::loadConfigFile(path);
      if (!cfg.ok()) {
        err_ << "error: " << cfg.status().message() << "\n";
        return std::nullopt;
      }
    }
    return *std::move(cfg);
  }

  gateway::v1::Target target() const {
    gateway::v1::Target t;
    for (const auto& id : args_.values("target-node")) {
      if (id.empty()) {
        throw UsageError{"--target-node needs a node id"};
      }
      t.add_node_ids(id);
    }
    for (const auto& kv : args_.values("target-label")) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw UsageError{absl::StrCat("bad --target-label '", kv, "': use KEY=VALUE")};
      }
      (*t.mutable_labels())[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return t;
  }

  std::string author() const {
    if (args_.has("author")) {
      return args_.value("author");
    }
    for (const char* name : {"USER", "LOGNAME"}) {
      if (auto v = env(name); v.has_value() && !v->empty()) {
        return *v;
      }
    }
    return "";
  }

  uint64_t uintFlag(const std::string& name) const {
    uint64_t v = 0;
    if (args_.has(name) && !absl::SimpleAtoi(args_.value(name), &v)) {
      throw UsageError{
          absl::StrCat("bad --", name, " '", args_.value(name), "': expected a number")};
    }
    return v;
  }

  // --- control plane commands --------------------------------------------------------------

  int apply() {
    gateway::v1::ApplyRequest req;
    *req.mutable_target() = target();
    auto cfg = loadFile();
    if (!cfg.has_value()) {
      return kExitRefused;
    }
    *req.mutable_config() = *std::move(cfg);
    req.set_author(author());
    req.set_message(args_.value("message"));
    req.set_dry_run(args_.boolFlag("dry-run"));
    gateway::v1::ApplyResponse resp;
    auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Apply, req, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    std::string summary;
    if (resp.accepted()) {
      summary = req.dry_run() ? "dry run: valid, not applied"
                              : absl::StrCat("applied as version ", resp.version(), " to ",
                                             resp.targeted_nodes_size(), " node(s)");
    }
    return finishApply(resp, summary, req.dry_run(), "apply");
  }

  int rollback() {
    gateway::v1::RollbackRequest req;
    req.set_to_version(uintFlag("to"));
    req.set_author(author());
    req.set_message(args_.value("message"));
    gateway::v1::ApplyResponse resp;
    auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Rollback, req, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    std::string summary;
    if (resp.accepted()) {
      summary = absl::StrCat(
          req.to_version() != 0 ? absl::StrCat("rolled back to version ", req.to_version())
                                : std::string("rolled back"),
          ": applied as version ", resp.version(), " to ", resp.targeted_nodes_size(), " node(s)");
    }
    return finishApply(resp, summary, false, "rollback");
  }

  // Prints an Apply/Rollback response; waits for the nodes with --wait.
  int finishApply(const gateway::v1::ApplyResponse& resp, const std::string& summary, bool dry_run,
                  const std::string& what) {
    Doc doc = Doc::fromMessage(resp, true);
    if (!resp.accepted()) {
      if (format_ != OutputFormat::Table) {
        out_ << renderStructured(doc, format_);
      }
      err_ << what << " refused by gateway-control (" << resp.errors_size() << " error"
           << (resp.errors_size() == 1 ? "" : "s") << "):\n"
           << renderFieldErrors(resp.errors());
      return kExitRefused;
    }
    if (format_ == OutputFormat::Table) {
      out_ << renderDiff(resp.diff()) << summary << "\n";
    }
    int rc = kExitOk;
    if (args_.boolFlag("wait") && !dry_run) {
      Doc wait_doc = Doc::map();
      rc = waitForNodes(resp.version(), resp.targeted_nodes(), wait_doc);
      doc.set("wait", std::move(wait_doc));
    }
    if (format_ != OutputFormat::Table) {
      out_ << renderStructured(doc, format_);
    }
    return rc;
  }

  // Polls Status until every node in `nodes` ACKed or NACKed `version`, or the wait times out.
  int waitForNodes(uint64_t version, const google::protobuf::RepeatedPtrField<std::string>& nodes,
                   Doc& doc) {
    const milliseconds wait = timeout_given_.value_or(kDefaultWaitTimeout);
    const auto deadline = Clock::now() + wait;
    std::vector<std::string> pending(nodes.begin(), nodes.end());
    Doc results = Doc::list();
    bool any_nack = false;
    if (pending.empty()) {
      if (format_ == OutputFormat::Table) {
        out_ << "no connected node is targeted: nothing to wait for\n";
      }
      doc.set("nodes", std::move(results));
      doc.set("timed_out", Doc::boolean(false));
      return kExitOk;
    }
    gateway::v1::StatusResponse last;
    while (true) {
      auto remaining = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      milliseconds call_timeout =
          std::min(kDefaultRpcTimeout, std::max(remaining, milliseconds(1)));
      gateway::v1::StatusResponse st_resp;
      auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Status,
                     gateway::v1::StatusRequest(), &st_resp, call_timeout);
      if (!st.ok()) {
        if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && Clock::now() >= deadline) {
          break;  // the wait's deadline, not the server's fault
        }
        err_ << "while waiting for the nodes:\n";
        return rpcFailed(st, controlEndpoint(), call_timeout);
      }
      last = st_resp;
      std::vector<std::string> still;
      for (const auto& id : pending) {
        const NodeOutcome o = nodeOutcome(st_resp, id, version);
        Doc r = Doc::map();
        r.set("id", Doc::string(id));
        switch (o.kind) {
        case NodeOutcome::Kind::Ack:
          r.set("result", Doc::string("ACK"));
          if (format_ == OutputFormat::Table) {
            out_ << id << ": ACK\n";
          }
          break;
        case NodeOutcome::Kind::Nack:
          any_nack = true;
          r.set("result", Doc::string("NACK"));
          r.set("error", Doc::fromMessage(o.status->last_nack(), true));
          if (format_ == OutputFormat::Table) {
            out_ << id << ": NACK: " << nackText(o.status->last_nack()) << "\n";
          }
          break;
        case NodeOutcome::Kind::AckNewer:
          // A newer version was applied meanwhile and the node already runs it.
          r.set("result", Doc::string("ACK"));
          r.set("running", Doc::string(o.status->acked_version()));
          if (format_ == OutputFormat::Table) {
            out_ << id << ": ACK (now runs version " << o.status->acked_version() << ")\n";
          }
          break;
        case NodeOutcome::Kind::Pending:
          still.push_back(id);
          continue;
        }
        results.push(std::move(r));
      }
      pending = std::move(still);
      const auto now = Clock::now();
      if (pending.empty() || now >= deadline) {
        break;
      }
      // The last poll happens at the deadline.
      std::this_thread::sleep_for(std::min<Clock::duration>(ctx_.poll_interval, deadline - now));
    }
    bool timed_out = !pending.empty();
    if (timed_out) {
      std::vector<std::string> why;
      for (const auto& id : pending) {
        const std::string state = pendingState(last, id);
        why.push_back(absl::StrCat(id, " (", state, ")"));
        Doc r = Doc::map();
        r.set("id", Doc::string(id));
        r.set("result", Doc::string("no answer"));
        r.set("state", Doc::string(state));
        results.push(std::move(r));
      }
      err_ << "timed out after " << formatMs(wait) << " waiting for version " << version
           << "; no answer from " << pending.size() << " node(s): " << absl::StrJoin(why, ", ")
           << "\n";
    }
    doc.set("nodes", std::move(results));
    doc.set("timed_out", Doc::boolean(timed_out));
    return any_nack || timed_out ? kExitRefused : kExitOk;
  }

  int diff() {
    gateway::v1::DiffRequest req;
    *req.mutable_target() = target();
    auto cfg = loadFile();
    if (!cfg.has_value()) {
      return kExitRefused;
    }
    *req.mutable_config() = *std::move(cfg);
    gateway::v1::Diff resp;
    auto st =
        call(control(), &gateway::v1::ControlAdmin::Stub::DiffConfig, req, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    print(absl::StrCat(resp.from_version() == 0
                           ? std::string("against an empty fleet (nothing applied yet):\n")
                           : absl::StrCat("against version ", resp.from_version(), ":\n"),
                       renderDiff(resp)),
          Doc::fromMessage(resp, true));
    return kExitOk;
  }

  int get() {
    static const char* const kKinds[] = {"snapshot", "routes", "clusters", "listeners", "policies"};
    const std::string kind = args_.args[0];
    if (std::find(std::begin(kKinds), std::end(kKinds), kind) == std::end(kKinds)) {
      throw UsageError{absl::StrCat("unknown resource '", kind,
                                    "' for get: use snapshot, routes, clusters, listeners or "
                                    "policies")};
    }
    gateway::v1::GetSnapshotRequest req;
    req.set_version(uintFlag("version"));
    gateway::v1::StoredSnapshot snap;
    auto st =
        call(control(), &gateway::v1::ControlAdmin::Stub::GetSnapshot, req, &snap, rpcTimeout());
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
        err_ << "error: "
             << (req.version() != 0 ? absl::StrCat("version ", req.version(), " not found")
                                    : std::string("no snapshot has been applied yet"))
             << (st.error_message().empty() ? "" : absl::StrCat(" (", st.error_message(), ")"))
             << "\n";
        return kExitRefused;
      }
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    config::redactSecrets(snap.mutable_config());  // secrets are never printed
    const auto& c = snap.config();
    if (kind == "snapshot") {
      print(renderSnapshot(snap), Doc::fromMessage(c, false));
    } else if (kind == "routes") {
      print(renderRoutesTable(c), routesDoc(c));
    } else if (kind == "clusters") {
      print(renderClustersTable(c), clustersDoc(c));
    } else if (kind == "listeners") {
      print(renderListenersTable(c), listenersDoc(c));
    } else {
      print(renderPoliciesTable(c), policiesDoc(c));
    }
    return kExitOk;
  }

  // --- API keys (keys.h does the config edits and the Redis reads) -------------------------

  int keys(const std::string& name) {
    gateway::v1::GetSnapshotRequest req;
    gateway::v1::StoredSnapshot snap;
    auto st =
        call(control(), &gateway::v1::ControlAdmin::Stub::GetSnapshot, req, &snap, rpcTimeout());
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
        err_ << "error: no snapshot has been applied yet\n";
        return kExitRefused;
      }
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    gateway::v1::Config& cfg = *snap.mutable_config();
    const absl::Time now = absl::Now();
    if (name == "keys list") {
      print(renderKeys(cfg, now), keysDoc(cfg, now));
      return kExitOk;
    }
    if (name == "keys usage") {
      auto u = readUsage(cfg, args_.args[0], now);
      if (!u.ok()) {
        err_ << "error: " << u.status().message() << "\n";
        return kExitRefused;
      }
      print(renderUsage(*u, now), usageDoc(*u, now));
      return kExitOk;
    }
    std::string what;
    std::string shown;
    if (name == "keys revoke") {
      if (auto r = revokeKey(cfg, args_.args[0]); !r.ok()) {
        err_ << "error: " << r.message() << "\n";
        return kExitRefused;
      }
      what = absl::StrCat("revoke API key ", args_.args[0]);
    } else {
      KeySpec spec;
      spec.consumer = args_.value("consumer");
      spec.plan = args_.value("plan");
      spec.id = args_.value("id");
      if (args_.has("roles")) {
        spec.roles = absl::StrSplit(args_.value("roles"), ',', absl::SkipEmpty());
      }
      if (args_.has("expires")) {
        spec.expires_in = parseExpiry(args_.value("expires"));
        if (!spec.expires_in) {
          throw UsageError{absl::StrCat("bad --expires '", args_.value("expires"),
                                        "': use e.g. 30d, 12h, 90m")};
        }
      }
      if (spec.consumer.empty()) {
        throw UsageError{"'keys create' needs --consumer ID"};
      }
      auto made = addKey(cfg, spec, now);
      if (!made.ok()) {
        err_ << "error: " << made.status().message() << "\n";
        return kExitRefused;
      }
      what = absl::StrCat("create API key ", made->id);
      shown = absl::StrCat("id:  ", made->id, "\nkey: ", made->key,
                           "\n(shown once: only its SHA-256 is stored)\n");
    }
    gateway::v1::ApplyRequest apply;
    *apply.mutable_target() = snap.target();  // the edited snapshot's nodes, not every node
    *apply.mutable_config() = std::move(cfg);
    apply.set_author(author());
    apply.set_message(args_.has("message") ? args_.value("message") : what);
    gateway::v1::ApplyResponse resp;
    st = call(control(), &gateway::v1::ControlAdmin::Stub::Apply, apply, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    if (resp.accepted() && !shown.empty()) {
      out_ << shown;
    }
    if (resp.accepted() && resp.diff().from_version() != snap.version()) {
      // Apply has no compare-and-set: a version applied between our read and our apply was
      // the base of this one, and its change is now replaced by our edit of the older version.
      err_ << "warning: version " << resp.diff().from_version() << " was applied after version "
           << snap.version() << " was read; check `gatewayctl history` and `diff`\n";
    }
    return finishApply(resp,
                       resp.accepted() ? absl::StrCat(what, ": applied as version ",
                                                      resp.version(), " to ",
                                                      resp.targeted_nodes_size(), " node(s)")
                                       : std::string(),
                       false, what);
  }

  int history() {
    gateway::v1::HistoryRequest req;
    uint64_t limit = uintFlag("limit");
    if (limit > UINT32_MAX) {
      throw UsageError{"--limit is too large"};
    }
    req.set_limit(static_cast<uint32_t>(limit));
    gateway::v1::HistoryResponse resp;
    auto st = call(control(), &gateway::v1::ControlAdmin::Stub::History, req, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    print(renderHistory(resp), Doc::fromMessage(resp, true));
    return kExitOk;
  }

  int status() {
    gateway::v1::StatusResponse resp;
    auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Status,
                   gateway::v1::StatusRequest(), &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, controlEndpoint(), rpcTimeout());
    }
    print(renderStatus(resp), statusDoc(resp));
    return kExitOk;
  }

  // --- proxy commands ----------------------------------------------------------------------

  int proxyConfig() {
    gateway::v1::ProxyConfigResponse resp;
    auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetConfig,
                   gateway::v1::ProxyConfigRequest(), &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, proxyEndpoint(), rpcTimeout());
    }
    print(renderProxyConfig(resp), Doc::fromMessage(resp, false));
    return kExitOk;
  }

  int proxyClusters() {
    gateway::v1::ProxyClustersResponse resp;
    auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetClusters,
                   gateway::v1::ProxyClustersRequest(), &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, proxyEndpoint(), rpcTimeout());
    }
    print(renderProxyClusters(resp), Doc::fromMessage(resp, true));
    return kExitOk;
  }

  int proxyStats() {
    gateway::v1::ProxyStatsResponse resp;
    auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::GetStats,
                   gateway::v1::ProxyStatsRequest(), &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, proxyEndpoint(), rpcTimeout());
    }
    std::string text = resp.prometheus_text();
    if (!text.empty() && text.back() != '\n') {
      text.push_back('\n');
    }
    print(text, Doc::fromMessage(resp, true));
    return kExitOk;
  }

  int proxyDrain() {
    gateway::v1::ProxyDrainResponse resp;
    auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::Drain, gateway::v1::ProxyDrainRequest(),
                   &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, proxyEndpoint(), rpcTimeout());
    }
    const std::string addr = proxyEndpoint().address;
    print(resp.draining()
              ? absl::StrCat("gatewayd at ", addr,
                             " is draining: listeners closed, in-flight requests finishing\n")
              : absl::StrCat("gatewayd at ", addr, " did not start draining\n"),
          Doc::fromMessage(resp, true));
    return resp.draining() ? kExitOk : kExitRefused;
  }

  // --- the response cache, on every proxy of --proxy (cache_render.h renders) ---------------

  int cache(const std::string& name) {
    const std::vector<std::string> proxies = proxyList(proxyEndpoint().address);
    gateway::v1::CachePurgeRequest purge;
    if (name == "cache purge") {
      purge.set_key(args_.value("key"));
      purge.set_prefix(args_.value("prefix"));
      purge.set_tag(args_.value("tag"));
      purge.set_all(args_.boolFlag("all"));
      if (!purge.key().empty() + !purge.prefix().empty() + !purge.tag().empty() + purge.all() != 1) {
        throw UsageError{"give exactly one of --key, --prefix, --tag or --all"};
      }
    }
    CacheResults results;
    int rc = kExitOk;
    for (const std::string& addr : proxies) {
      auto stub = gateway::v1::ProxyAdmin::NewStub(channel(addr));
      grpc::Status st;
      if (name == "cache purge") {
        st = call(*stub, &gateway::v1::ProxyAdmin::Stub::CachePurge, purge,
                  &results.purged[addr], rpcTimeout());
      } else {
        st = call(*stub, &gateway::v1::ProxyAdmin::Stub::CacheStats,
                  gateway::v1::CacheStatsRequest(), &results.stats[addr], rpcTimeout());
      }
      if (!st.ok()) {
        rc = rpcFailed(st, {"gatewayd's gRPC admin", addr, "--proxy"}, rpcTimeout());
      }
      results.order.push_back(addr);
    }
    print(name == "cache purge" ? renderCachePurge(results) : renderCacheStats(results),
          cacheDoc(results));
    return rc;
  }

  int proxyExplain() {
    gateway::v1::ExplainRequest req;
    req.set_method(args_.args[0]);
    req.set_url(args_.args[1]);
    if (!absl::StartsWith(req.url(), "/") && !absl::StartsWith(req.url(), "http://") &&
        !absl::StartsWith(req.url(), "https://")) {
      throw UsageError{
          absl::StrCat("bad URL '", req.url(), "': use http://host/path?query or /path?query")};
    }
    for (const auto& h : args_.values("header")) {
      size_t colon = h.find(':');
      std::string name(absl::StripAsciiWhitespace(h.substr(0, colon)));
      if (colon == std::string::npos || colon == 0 || name.empty()) {
        throw UsageError{absl::StrCat("bad header '", h, "': use -H 'Name: value'")};
      }
      std::string value(absl::StripAsciiWhitespace(h.substr(colon + 1)));
      name = absl::AsciiStrToLower(name);
      auto& slot = (*req.mutable_headers())[name];
      slot = slot.empty() ? value : absl::StrCat(slot, ",", value);
    }
    req.set_listener(args_.value("listener"));
    req.set_client_address(args_.value("client-address"));
    gateway::v1::ExplainResponse resp;
    auto st = call(proxy(), &gateway::v1::ProxyAdmin::Stub::Explain, req, &resp, rpcTimeout());
    if (!st.ok()) {
      return rpcFailed(st, proxyEndpoint(), rpcTimeout());
    }
    print(renderExplain(req, resp), Doc::fromMessage(resp, true));
    return explainNotRouted(resp) ? kExitRefused : kExitOk;
  }

  const ParsedArgs& args_;
  std::ostream& out_;
  std::ostream& err_;
  const CliContext& ctx_;
  OutputFormat format_ = OutputFormat::Table;
  std::optional<milliseconds> timeout_given_;
  std::string token_;
  std::unique_ptr<gateway::v1::ControlAdmin::Stub> control_;
  std::unique_ptr<gateway::v1::ProxyAdmin::Stub> proxy_;
};

} // namespace

int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return runCli(args, out, err, CliContext());
}

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
           const CliContext& context) {
  ParsedArgs args = parseArgs(argv, globalFlags(), commands());
  if (!args.error.empty()) {
    if (args.command == nullptr && args.group.empty() && argv.empty()) {
      err << generalUsage(kProgram, globalFlags(), commands());
      return kExitUsage;
    }
    std::string where = args.command != nullptr ? absl::StrCat(" ", args.command->name)
                        : !args.group.empty()   ? absl::StrCat(" ", args.group)
                                                : "";
    err << "error: " << args.error << "\nrun '" << kProgram << where << " --help' for usage\n";
    return kExitUsage;
  }
  if (args.help) {
    if (args.command != nullptr && args.command->name != "help") {
      out << commandUsage(kProgram, *args.command, globalFlags());
    } else if (!args.group.empty()) {
      out << groupUsage(kProgram, args.group, commands());
    } else {
      out << generalUsage(kProgram, globalFlags(), commands());
    }
    return kExitOk;
  }
  if (args.command->name == "help") {
    return printHelp(args.args, out, err);
  }
  Cli cli(args, out, err, context);
  return cli.run();
}

} // namespace gw::ctl
