#include "source/control/control_plane.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "source/config/config.h"
#include "source/config/tls_config.h"
#include "source/control/diff.h"
#include "source/server/runtime_config.h"

namespace gw::control {

using gateway::v1::ApplyRequest;
using gateway::v1::ApplyResponse;
using gateway::v1::DiscoveryRequest;
using gateway::v1::DiscoveryResponse;
using gateway::v1::FieldError;
using gateway::v1::Node;
using gateway::v1::StoredSnapshot;
using gateway::v1::Target;
using google::protobuf::util::TimeUtil;

// The state of one discovery stream. Guarded by ControlPlane::mu_.
class ControlPlane::Stream {
public:
  uint64_t id = 0;
  Node node;
  std::string peer;
  std::string running_version;  // what the node reports running (hello, ACK, NACK)
  std::string sent_version;     // the last version pushed on this stream
  // Pushes not answered yet, oldest first: nonce -> version.
  std::deque<std::pair<std::string, std::string>> outstanding;
  Clock::time_point last_heard;
  Clock::time_point last_sent;
  bool read_ended = false;
  bool registered = false;
  std::condition_variable cv;
};

namespace {

constexpr size_t kMaxOutstanding = 16;

std::string randomBootId() {
  std::random_device rd;
  return absl::StrFormat("%08x", rd());
}

std::string labelsText(const google::protobuf::Map<std::string, std::string>& labels) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : labels) {
    kv.push_back(absl::StrCat(k, "=", v));
  }
  std::sort(kv.begin(), kv.end());
  return kv.empty() ? "-" : absl::StrJoin(kv, ",");
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// "path: message" lines (compileConfig's format) -> FieldErrors.
void addErrorLines(absl::string_view text, std::vector<FieldError>* out) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    FieldError e;
    const size_t colon = line.find(": ");
    const absl::string_view path =
        colon == absl::string_view::npos ? absl::string_view() : line.substr(0, colon);
    if (!path.empty() && path.find_first_of(" \t'\"") == absl::string_view::npos) {
      e.set_path(std::string(path));
      e.set_message(std::string(line.substr(colon + 2)));
    } else {
      e.set_message(std::string(line));
    }
    out->push_back(std::move(e));
  }
}

bool isConfigFileName(const std::string& name) {
  return !absl::StartsWith(name, ".") &&
         (absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml") ||
          absl::EndsWith(name, ".json"));
}

} // namespace

std::vector<FieldError> validateSnapshotConfig(const gateway::v1::Config& config) {
  // The proxy's compiler (validation, address resolution, compile steps: one walk), without
  // rate-limit buckets: this process never serves the result.
  std::vector<config::ConfigError> errors;
  auto compiled = server::compileConfig(config, /*serving=*/false, &errors);
  std::vector<FieldError> out;
  if (compiled.ok()) {
    return out;
  }
  for (const auto& e : errors) {
    FieldError fe;
    fe.set_path(e.path);
    fe.set_message(e.message);
    out.push_back(std::move(fe));
  }
  if (out.empty()) {
    addErrorLines(compiled.status().message(), &out);
  }
  return out;
}

bool targetMatches(const Target& target, const Node& node) {
  if (!target.node_ids().empty() && std::find(target.node_ids().begin(), target.node_ids().end(),
                                              node.id()) == target.node_ids().end()) {
    return false;
  }
  for (const auto& [k, v] : target.labels()) {
    auto it = node.labels().find(k);
    if (it == node.labels().end() || it->second != v) {
      return false;
    }
  }
  return true;
}

bool targetCovers(const Target& outer, const Target& inner) {
  if (!outer.node_ids().empty()) {
    if (inner.node_ids().empty()) {
      return false;
    }
    for (const auto& id : inner.node_ids()) {
      if (std::find(outer.node_ids().begin(), outer.node_ids().end(), id) ==
          outer.node_ids().end()) {
        return false;
      }
    }
  }
  for (const auto& [k, v] : outer.labels()) {
    auto it = inner.labels().find(k);
    if (it == inner.labels().end() || it->second != v) {
      return false;
    }
  }
  return true;
}

std::string describeTarget(const Target& target) {
  if (target.node_ids().empty() && target.labels().empty()) {
    return "all nodes";
  }
  std::vector<std::string> parts;
  if (!target.node_ids().empty()) {
    parts.push_back(absl::StrCat("ids=", absl::StrJoin(target.node_ids(), ",")));
  }
  if (!target.labels().empty()) {
    parts.push_back(absl::StrCat("labels=", labelsText(target.labels())));
  }
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<gateway::v1::Config> loadConfigPath(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return config::loadConfigFile(path);
  }
  DIR* d = opendir(path.c_str());
  if (d == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (isConfigFileName(e->d_name)) {
      names.emplace_back(e->d_name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no *.yaml, *.yml or *.json file in this directory"));
  }
  gateway::v1::Config merged;
  std::vector<std::string> errors;
  for (const auto& name : names) {
    auto one = config::loadConfigFile(absl::StrCat(path, "/", name));
    if (!one.ok()) {
      errors.emplace_back(one.status().message());
      continue;
    }
    merged.MergeFrom(*one);
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  merged.clear_version();
  return merged;
}

ControlPlane::ControlPlane(SnapshotStore& store, Options options)
    : store_(store), options_(std::move(options)), boot_id_(randomBootId()) {}

ControlPlane::~ControlPlane() { stop(); }

void ControlPlane::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  fprintf(stderr, "gateway-control: %s\n", line.c_str());
  fflush(stderr);
}

std::string ControlPlane::nextNonce() { return absl::StrCat(boot_id_, "-", ++nonce_counter_); }

StoredSnapshotConstSharedPtr ControlPlane::desiredFor(const Node& node) const {
  return store_.newest(
      [&node](const StoredSnapshot& s) { return targetMatches(s.target(), node); });
}

StoredSnapshotConstSharedPtr ControlPlane::baseFor(const Target& target) const {
  return store_.newest(
      [&target](const StoredSnapshot& s) { return targetCovers(s.target(), target); });
}

std::vector<std::string> ControlPlane::connectedNodesMatching(const Target& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, rec] : nodes_) {
    if (rec.streams > 0 && targetMatches(target, rec.status.node())) {
      out.push_back(id);
    }
  }
  return out;
}

namespace {

// `gatewayctl get snapshot` shows secrets as "<redacted>": a config edited from that output and
// applied again gets each such secret back from the same-named resource (auth provider secret,
// Redis server password) of the snapshot it builds on. A placeholder with nothing to restore
// from stays, and validation refuses it.
void restoreRedactedSecrets(gateway::v1::Config* config, const StoredSnapshot* base) {
  if (base == nullptr) {
    return;
  }
  for (auto& p : *config->mutable_auth_providers()) {
    if (p.secret() != config::kRedacted) {
      continue;
    }
    for (const auto& old : base->config().auth_providers()) {
      if (old.name() == p.name() && !old.secret().empty() && old.secret() != config::kRedacted) {
        p.set_secret(old.secret());
        break;
      }
    }
  }
  for (auto& r : *config->mutable_redis_servers()) {
    if (r.password() != config::kRedacted) {
      continue;
    }
    for (const auto& old : base->config().redis_servers()) {
      if (old.name() == r.name() && !old.password().empty() &&
          old.password() != config::kRedacted) {
        r.set_password(old.password());
        break;
      }
    }
  }
  // A TLS key shown as "<redacted sha256:…>" comes back from the same-named secret whose key
  // has that fingerprint (a different key under the same placeholder is not restored).
  for (auto& s : *config->mutable_secrets()) {
    if (!s.private_key().has_inline_() || !config::isRedactedKey(s.private_key().inline_())) {
      continue;
    }
    for (const auto& old : base->config().secrets()) {
      if (old.name() == s.name() && old.private_key().has_inline_() &&
          config::redactedKey(old.private_key().inline_()) == s.private_key().inline_()) {
        s.mutable_private_key()->set_inline_(old.private_key().inline_());
        break;
      }
    }
  }
}

bool hasRedactedSecret(const gateway::v1::Config& c) {
  return std::any_of(c.auth_providers().begin(), c.auth_providers().end(),
                     [](const auto& p) { return p.secret() == config::kRedacted; }) ||
         std::any_of(c.redis_servers().begin(), c.redis_servers().end(),
                     [](const auto& r) { return r.password() == config::kRedacted; }) ||
         std::any_of(c.secrets().begin(), c.secrets().end(), [](const auto& s) {
           return s.private_key().has_inline_() && config::isRedactedKey(s.private_key().inline_());
         });
}

} // namespace

gateway::v1::Diff ControlPlane::diff(const gateway::v1::Config& given,
                                     const Target& target) const {
  auto base = baseFor(target);
  // A copy only when a secret is to be restored (store() passes configs already restored; a
  // 10,000-route config is not copied for nothing).
  const bool redacted = hasRedactedSecret(given);
  gateway::v1::Config restored;
  if (redacted) {
    restored = given;
    restoreRedactedSecrets(&restored, base.get());
  }
  gateway::v1::Diff d = diffConfigs(base ? base->config() : gateway::v1::Config(),
                                    redacted ? restored : given);
  d.set_from_version(base ? base->version() : 0);
  return d;
}

ApplyResponse ControlPlane::store(StoredSnapshot snapshot, bool dry_run, const std::string& what) {
  ApplyResponse resp;
  snapshot.mutable_config()->clear_version();
  restoreRedactedSecrets(snapshot.mutable_config(), baseFor(snapshot.target()).get());
  const std::vector<FieldError> errors = validateSnapshotConfig(snapshot.config());
  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  *resp.mutable_diff() = diff(snapshot.config(), snapshot.target());
  const std::string who = snapshot.author().empty() ? "-" : snapshot.author();
  if (!errors.empty()) {
    resp.set_accepted(false);
    for (const auto& e : errors) {
      *resp.add_errors() = e;
    }
    log(absl::StrCat(what, " refused", dry_run ? " (dry run)" : "", " by ", who, ": ",
                     errors.size(), " problem(s), first: ",
                     errors[0].path().empty() ? "" : absl::StrCat(errors[0].path(), ": "),
                     errors[0].message()));
    return resp;
  }
  resp.set_accepted(true);
  if (dry_run) {
    for (auto& id : connectedNodesMatching(snapshot.target())) {
      resp.add_targeted_nodes(std::move(id));
    }
    return resp;
  }
  const std::string target_text = describeTarget(snapshot.target());
  const std::string message = snapshot.message();
  const uint64_t from = resp.diff().from_version();
  auto version = store_.append(std::move(snapshot));
  if (!version.ok()) {
    resp.set_accepted(false);
    auto* e = resp.add_errors();
    e->set_message(
        absl::StrCat("the snapshot store could not save it: ", version.status().message()));
    log(absl::StrCat(what, " failed: ", version.status().message()));
    return resp;
  }
  resp.set_version(*version);
  auto stored = store_.get(*version);
  std::vector<std::string> targeted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, rec] : nodes_) {
      if (rec.streams > 0 && targetMatches(stored->target(), rec.status.node())) {
        targeted.push_back(id);
      }
    }
    wakeAll();
  }
  for (auto& id : targeted) {
    resp.add_targeted_nodes(std::move(id));
  }
  std::vector<std::string> changes;
  constexpr int kMaxLoggedChanges = 20;
  for (const auto& c : resp.diff().changes()) {
    if (static_cast<int>(changes.size()) == kMaxLoggedChanges) {
      changes.push_back(
          absl::StrCat("(", resp.diff().changes_size() - kMaxLoggedChanges, " more)"));
      break;
    }
    changes.push_back(absl::StrCat(c.kind() == gateway::v1::ResourceChange::ADDED     ? "+"
                                   : c.kind() == gateway::v1::ResourceChange::REMOVED ? "-"
                                                                                      : "~",
                                   c.resource_type(), ":", c.name()));
  }
  log(absl::StrCat(what, " version=", *version, " by ", who, " target=", target_text,
                   stored->rolled_back_from() != 0
                       ? absl::StrCat(" rolled_back_from=", stored->rolled_back_from())
                       : "",
                   message.empty() ? "" : absl::StrCat(" message=\"", message, "\""), " from=",
                   from, " changes=", changes.empty() ? "none" : absl::StrJoin(changes, ","),
                   " connected_targeted_nodes=", resp.targeted_nodes_size()));
  return resp;
}

ApplyResponse ControlPlane::apply(const ApplyRequest& request) {
  StoredSnapshot s;
  s.set_author(request.author());
  s.set_message(request.message());
  *s.mutable_target() = request.target();
  *s.mutable_config() = request.config();
  return store(std::move(s), request.dry_run(), "apply");
}

ApplyResponse ControlPlane::applyIfChanged(const ApplyRequest& request, bool* changed) {
  *changed = false;
  auto base = baseFor(request.target());
  if (base != nullptr && sameConfig(base->config(), request.config()) &&
      base->target().SerializeAsString() == request.target().SerializeAsString()) {
    ApplyResponse resp;
    resp.set_accepted(true);
    resp.set_version(base->version());
    resp.mutable_diff()->set_from_version(base->version());
    return resp;
  }
  ApplyResponse resp = apply(request);
  *changed = resp.accepted() && !request.dry_run();
  return resp;
}

absl::StatusOr<StoredSnapshotConstSharedPtr> ControlPlane::snapshot(uint64_t version) const {
  if (version == 0) {
    auto latest = store_.latest();
    if (latest == nullptr) {
      return absl::NotFoundError("no snapshot yet: the store is empty");
    }
    return latest;
  }
  auto s = store_.get(version);
  if (s == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no snapshot version ", version, " (latest is ", store_.latestVersion(), ")"));
  }
  return s;
}

gateway::v1::HistoryResponse ControlPlane::history(uint32_t limit) const {
  gateway::v1::HistoryResponse resp;
  for (const auto& s : store_.history(limit)) {
    auto* out = resp.add_snapshots();
    out->set_version(s->version());
    out->set_author(s->author());
    out->set_message(s->message());
    *out->mutable_applied_at() = s->applied_at();
    *out->mutable_target() = s->target();
    out->set_rolled_back_from(s->rolled_back_from());
  }
  return resp;
}

absl::StatusOr<ApplyResponse> ControlPlane::rollback(const gateway::v1::RollbackRequest& request) {
  StoredSnapshotConstSharedPtr from;
  {
    auto recent = store_.history(2);
    if (recent.empty()) {
      return absl::FailedPreconditionError("nothing to roll back to: the store is empty");
    }
    const uint64_t latest = recent[0]->version();
    if (request.to_version() == 0) {
      if (recent.size() < 2) {
        return absl::FailedPreconditionError(
            absl::StrCat("nothing to roll back to: version ", latest, " is the only snapshot"));
      }
      from = recent[1];
    } else if (request.to_version() == latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "version ", latest, " is already the latest snapshot; nothing to roll back"));
    } else {
      from = store_.get(request.to_version());
      if (from == nullptr) {
        return absl::NotFoundError(absl::StrCat("no snapshot version ", request.to_version(),
                                                " (latest is ", latest, ")"));
      }
    }
  }
  StoredSnapshot s;
  s.set_author(request.author());
  s.set_message(request.message().empty() ? absl::StrCat("rollback to version ", from->version())
                                          : request.message());
  *s.mutable_target() = from->target();
  *s.mutable_config() = from->config();
  s.set_rolled_back_from(from->version());
  return store(std::move(s), false, "rollback");
}

gateway::v1::StatusResponse ControlPlane::status() const {
  gateway::v1::StatusResponse resp;
  resp.set_latest_version(store_.latestVersion());
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, rec] : nodes_) {
    auto* n = resp.add_nodes();
    *n = rec.status;
    n->set_connected(rec.streams > 0);
    auto desired = desiredFor(rec.status.node());
    n->set_desired_version(desired ? absl::StrCat(desired->version()) : "");
  }
  return resp;
}

// --- discovery streams ---------------------------------------------------------------------

absl::StatusOr<ControlPlane::StreamSharedPtr> ControlPlane::openStream(
    const DiscoveryRequest& hello, const std::string& peer) {
  if (hello.node().id().empty()) {
    log(absl::StrCat("refused a discovery stream from ", peer,
                     ": its first request has no node.id"));
    return absl::InvalidArgumentError(
        "the first DiscoveryRequest of a stream must carry node.id (the proxy's --node-id)");
  }
  auto s = std::make_shared<Stream>();
  s->node = hello.node();
  s->peer = peer;
  s->running_version = hello.version_info();
  s->last_heard = Clock::now();
  s->last_sent = s->last_heard;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    return absl::UnavailableError("gateway-control is shutting down");
  }
  s->id = ++stream_counter_;
  s->registered = true;
  streams_.insert(s.get());
  const auto now = TimeUtil::GetCurrentTime();
  NodeRecord& rec = nodes_[s->node.id()];
  const bool was_connected = rec.streams > 0;
  rec.streams++;
  if (!rec.nacked_build.empty() || !rec.status.nacked_version().empty()) {
    if (rec.nacked_build != s->node.build_version()) {
      // Another build may accept what the previous one refused: allow one more push.
      log(absl::StrCat("node ", s->node.id(), " reconnected with build '", s->node.build_version(),
                       "' (NACKed version ", rec.status.nacked_version(), " with build '",
                       rec.nacked_build, "'): that version may be pushed again"));
      rec.status.clear_nacked_version();
      rec.nacked_build.clear();
    }
  }
  *rec.status.mutable_node() = s->node;
  if (!was_connected) {
    *rec.status.mutable_connected_since() = now;
  }
  *rec.status.mutable_last_seen() = now;
  rec.status.set_acked_version(s->running_version);
  auto desired = desiredFor(s->node);
  log(absl::StrCat(
      "connect node=", s->node.id(), " peer=", peer, " labels=", labelsText(s->node.labels()),
      " build=", orDash(s->node.build_version()), " running=", orDash(s->running_version),
      " desired=", desired ? absl::StrCat(desired->version()) : "-",
      was_connected
          ? absl::StrCat(" (", rec.streams, " streams open for this id: duplicate node id?)")
          : ""));
  return s;
}

void ControlPlane::onRequest(Stream& s, const DiscoveryRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  s.last_heard = Clock::now();
  NodeRecord& rec = nodes_[s.node.id()];
  *rec.status.mutable_last_seen() = TimeUtil::GetCurrentTime();
  if (req.heartbeat()) {
    return;  // liveness only
  }
  const std::string& nonce = req.response_nonce();
  auto it = std::find_if(s.outstanding.begin(), s.outstanding.end(),
                         [&nonce](const auto& p) { return p.first == nonce; });
  const bool known = it != s.outstanding.end();
  const std::string pushed = known ? it->second : "";
  if (known) {
    s.outstanding.erase(s.outstanding.begin(), it + 1);  // older pushes are superseded
  }
  if (req.has_error_detail()) {
    // NACK: the node refused `pushed` and keeps running version_info.
    s.running_version = req.version_info();
    rec.status.set_acked_version(req.version_info());
    rec.status.set_nacked_version(pushed);
    *rec.status.mutable_last_nack() = req.error_detail();
    *rec.status.mutable_last_nack_at() = TimeUtil::GetCurrentTime();
    rec.nacked_build = s.node.build_version();
    std::string detail = req.error_detail().message();
    if (detail.empty() && req.error_detail().errors_size() > 0) {
      const auto& e = req.error_detail().errors(0);
      detail = e.path().empty() ? e.message() : absl::StrCat(e.path(), ": ", e.message());
    }
    log(absl::StrCat("NACK node=", s.node.id(), " version=", orDash(pushed),
                     " nonce=", orDash(nonce), " running=", orDash(req.version_info()),
                     known ? "" : " (unknown nonce)", ": ", firstLine(detail)));
  } else if (known && req.version_info() == pushed) {
    s.running_version = pushed;
    rec.status.set_acked_version(pushed);
    log(absl::StrCat("ACK node=", s.node.id(), " version=", pushed, " nonce=", nonce));
  } else {
    // A version report without a matching push (a repeated hello, a stale nonce): the node says
    // what it runs.
    s.running_version = req.version_info();
    rec.status.set_acked_version(req.version_info());
    if (!nonce.empty()) {
      log(absl::StrCat("node ", s.node.id(), " answered nonce ", nonce,
                       known ? absl::StrCat(" (version ", pushed, ")") : " (not outstanding)",
                       " with version '", req.version_info(), "' and no error: taken as the ",
                       "version it runs"));
    }
  }
  s.cv.notify_all();
}

void ControlPlane::onReadEnd(Stream& s) {
  std::lock_guard<std::mutex> lock(mu_);
  s.read_ended = true;
  s.cv.notify_all();
}

ControlPlane::Next ControlPlane::next(Stream& s) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    Next out;
    if (stopping_) {
      out.kind = Next::Kind::kStopping;
      return out;
    }
    if (s.read_ended) {
      out.kind = Next::Kind::kPeerClosed;
      return out;
    }
    const auto now = Clock::now();
    if (now - s.last_heard >= options_.liveness_timeout) {
      out.kind = Next::Kind::kDead;
      return out;
    }
    NodeRecord& rec = nodes_[s.node.id()];
    auto desired = desiredFor(s.node);
    if (desired != nullptr) {
      const std::string v = absl::StrCat(desired->version());
      if (v != s.running_version && v != s.sent_version && v != rec.status.nacked_version()) {
        out.response.set_version_info(v);
        const std::string nonce = nextNonce();
        out.response.set_nonce(nonce);
        *out.response.mutable_snapshot() = desired->config();
        out.response.mutable_snapshot()->set_version(v);
        s.sent_version = v;
        s.outstanding.emplace_back(nonce, v);
        while (s.outstanding.size() > kMaxOutstanding) {
          s.outstanding.pop_front();
        }
        s.last_sent = now;
        rec.status.set_sent_version(v);
        log(absl::StrCat("push node=", s.node.id(), " version=", v, " nonce=", nonce,
                         " running=", orDash(s.running_version)));
        return out;
      }
    }
    if (now - s.last_sent >= options_.heartbeat_interval) {
      out.response.set_heartbeat(true);
      s.last_sent = now;
      return out;
    }
    s.cv.wait_until(lock, std::min(s.last_sent + options_.heartbeat_interval,
                                   s.last_heard + options_.liveness_timeout));
  }
}

void ControlPlane::closeStream(Stream& s, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.registered) {
    return;
  }
  s.registered = false;
  streams_.erase(&s);
  NodeRecord& rec = nodes_[s.node.id()];
  rec.streams = std::max(0, rec.streams - 1);
  log(absl::StrCat(
      "disconnect node=", s.node.id(), " peer=", s.peer, " (", reason, ")",
      rec.streams > 0 ? absl::StrCat("; ", rec.streams, " stream(s) still open") : ""));
}

void ControlPlane::wakeAll() {
  for (Stream* s : streams_) {
    s->cv.notify_all();
  }
}

void ControlPlane::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  wakeAll();
}

size_t ControlPlane::openStreams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

} // namespace gw::control
