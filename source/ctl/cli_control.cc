// gatewayctl's control-plane commands: apply, rollback (and --wait), diff, get, history,
// status and keys.
#include "source/ctl/cli_session.h"

namespace gw::ctl::detail {

int Cli::apply() {
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

int Cli::rollback() {
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
int Cli::finishApply(const gateway::v1::ApplyResponse& resp, const std::string& summary, bool dry_run,
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
int Cli::waitForNodes(uint64_t version, const google::protobuf::RepeatedPtrField<std::string>& nodes,
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

int Cli::diff() {
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

int Cli::get() {
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

// The running snapshot, for a command that edits it and applies the result (editSnapshot):
// nullopt after printing why (`rc` is the exit code).
std::optional<gateway::v1::StoredSnapshot> Cli::latestSnapshot(int& rc) {
  gateway::v1::StoredSnapshot snap;
  auto st = call(control(), &gateway::v1::ControlAdmin::Stub::GetSnapshot,
                 gateway::v1::GetSnapshotRequest(), &snap, rpcTimeout());
  if (st.ok()) {
    return snap;
  }
  if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
    err_ << "error: no snapshot has been applied yet\n";
    rc = kExitRefused;
  } else {
    rc = rpcFailed(st, controlEndpoint(), rpcTimeout());
  }
  return std::nullopt;
}

// Applies `cfg`, an edit of `snap`, to the snapshot's own nodes (`what` is the history message
// and summary; `shown` is printed once accepted), then prints the result and waits with --wait.
int Cli::applyEdit(const gateway::v1::StoredSnapshot& snap, gateway::v1::Config&& cfg,
              const std::string& what, const std::string& shown) {
  gateway::v1::ApplyRequest apply;
  *apply.mutable_target() = snap.target();  // the edited snapshot's nodes, not every node
  *apply.mutable_config() = std::move(cfg);
  apply.set_author(author());
  apply.set_message(args_.has("message") ? args_.value("message") : what);
  gateway::v1::ApplyResponse resp;
  auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Apply, apply, &resp, rpcTimeout());
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

int Cli::keys(const std::string& name) {
  int rc = kExitOk;
  std::optional<gateway::v1::StoredSnapshot> snap = latestSnapshot(rc);
  if (!snap.has_value()) {
    return rc;
  }
  gateway::v1::Config& cfg = *snap->mutable_config();
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
  return applyEdit(*snap, std::move(cfg), what, shown);
}

int Cli::history() {
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

int Cli::status() {
  gateway::v1::StatusResponse resp;
  auto st = call(control(), &gateway::v1::ControlAdmin::Stub::Status,
                 gateway::v1::StatusRequest(), &resp, rpcTimeout());
  if (!st.ok()) {
    return rpcFailed(st, controlEndpoint(), rpcTimeout());
  }
  print(renderStatus(resp), statusDoc(resp));
  return kExitOk;
}

} // namespace gw::ctl::detail
