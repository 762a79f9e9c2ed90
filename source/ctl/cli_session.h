#pragma once
// gatewayctl's command session (one Cli per invocation): global flags, the gRPC channels and
// calls, output. cli.cc runs it; cli_control.cc has the control-plane commands (apply, diff,
// get, history, rollback, status, keys) and cli_proxy.cc the proxy admin and cache commands.
#include <grpcpp/grpcpp.h>

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
#include "source/ctl/cli.h"
#include "source/config/config.h"
#include "source/ctl/args.h"
#include "source/ctl/commands.h"
#include "source/ctl/cache_purge_edit.h"
#include "source/ctl/cache_render.h"
#include "source/ctl/keys.h"
#include "source/ctl/node_wait.h"
#include "source/ctl/output.h"
#include "source/ctl/render.h"
#include "source/ctl/rpc_error.h"

namespace gw::ctl::detail {

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

  int run();

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
  int apply();
  int rollback();
  // Prints an Apply/Rollback response; waits for the nodes with --wait.
  int finishApply(const gateway::v1::ApplyResponse& resp, const std::string& summary, bool dry_run,
                  const std::string& what);
  // Polls Status until every node in `nodes` ACKed or NACKed `version`, or the wait times out.
  int waitForNodes(uint64_t version, const google::protobuf::RepeatedPtrField<std::string>& nodes,
                   Doc& doc);
  int diff();
  int get();
  // --- API keys (keys.h does the config edits and the Redis reads) -------------------------
  // The running snapshot, for a command that edits it and applies the result (editSnapshot):
  // nullopt after printing why (`rc` is the exit code).
  std::optional<gateway::v1::StoredSnapshot> latestSnapshot(int& rc);
  // Applies `cfg`, an edit of `snap`, to the snapshot's own nodes (`what` is the history message
  // and summary; `shown` is printed once accepted), then prints the result and waits with --wait.
  int applyEdit(const gateway::v1::StoredSnapshot& snap, gateway::v1::Config&& cfg,
                const std::string& what, const std::string& shown);
  int keys(const std::string& name);
  int history();
  int status();
  // --- proxy commands ----------------------------------------------------------------------
  int proxyConfig();
  int proxyClusters();
  int proxyStats();
  int proxyDrain();
  // --- the response cache, on every proxy of --proxy (cache_render.h renders) ---------------
  int cache(const std::string& name);
  int proxyExplain();

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

} // namespace gw::ctl::detail
