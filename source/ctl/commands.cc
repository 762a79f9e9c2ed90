#include "source/ctl/commands.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/ctl/rpc_error.h"
#include "absl/strings/strip.h"

namespace gw::ctl {

using std::chrono::milliseconds;

const std::vector<FlagSpec>& globalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"server", 0, FlagKind::Value, "ADDR",
       "gateway-control's admin address (default 127.0.0.1:18000)"},
      {"proxy", 0, FlagKind::Value, "ADDR",
       "gatewayd's gRPC admin, for proxy commands (default 127.0.0.1:9902)"},
      {"token-file", 0, FlagKind::Value, "FILE",
       "file holding the admin token (default: $GATEWAY_ADMIN_TOKEN)"},
      {"timeout", 0, FlagKind::Value, "DURATION",
       "deadline of each call (default 5s); with --wait: of the wait (default 30s)"},
      {"output", 'o', FlagKind::Value, "FORMAT", "table (default), json or yaml"},
  };
  return flags;
}

namespace {

FlagSpec targetNodeFlag() {
  return {"target-node", 0, FlagKind::Repeated, "ID", "only nodes with this id (repeatable)"};
}
FlagSpec targetLabelFlag() {
  return {"target-label", 0, FlagKind::Repeated, "K=V",
          "only nodes with this label (repeatable; all must match)"};
}
FlagSpec waitFlag() {
  return {"wait", 0, FlagKind::Bool, "",
          "wait until every targeted node ACKs or NACKs (--timeout, default 30s)"};
}

} // namespace

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> cmds = {
      {"apply",
       "",
       "validate and apply a config file to the fleet",
       "The file (YAML or JSON; '-' reads stdin) is parsed locally first: a parse error is\n"
       "reported with its line and nothing is sent. gateway-control validates it, prints the\n"
       "semantic diff and the version it stored, or every problem if it refuses.\n",
       {{"file", 'f', FlagKind::Value, "FILE", "config file (required)"},
        {"message", 'm', FlagKind::Value, "TEXT", "why (kept in history)"},
        {"author", 0, FlagKind::Value, "NAME", "who (default $USER)"},
        {"dry-run", 0, FlagKind::Bool, "", "validate and diff only; store nothing"},
        targetNodeFlag(),
        targetLabelFlag(),
        waitFlag()},
       0,
       0},
      {"diff",
       "",
       "show what applying a config file would change",
       "",
       {{"file", 'f', FlagKind::Value, "FILE", "config file (required)"},
        targetNodeFlag(),
        targetLabelFlag()},
       0,
       0},
      {"get",
       "KIND",
       "show the applied config (KIND: snapshot, routes, clusters, ...)",
       "KIND is snapshot, routes, clusters, listeners or policies.\n"
       "`get snapshot -o yaml|json` prints the config alone, so it can be edited and applied\n"
       "again; `history` has the metadata of every version.\n",
       {{"version", 0, FlagKind::Value, "N", "a stored version (default: the latest)"}},
       1,
       1},
      {"history",
       "",
       "list applied versions, newest first",
       "",
       {{"limit", 0, FlagKind::Value, "N", "at most N versions (default: all)"}},
       0,
       0},
      {"rollback",
       "",
       "apply an earlier version again, as a new version",
       "",
       {{"to", 0, FlagKind::Value, "VERSION", "the version to restore (default: the previous)"},
        {"message", 'm', FlagKind::Value, "TEXT", "why (kept in history)"},
        {"author", 0, FlagKind::Value, "NAME", "who (default $USER)"},
        waitFlag()},
       0,
       0},
      {"status", "", "every node: connected, running and desired version, last NACK", "", {}, 0, 0},
      {"proxy config", "", "the config a gatewayd runs and its bound listeners", "", {}, 0, 0},
      {"proxy clusters", "", "a gatewayd's clusters and endpoint health", "", {}, 0, 0},
      {"proxy stats", "", "a gatewayd's metrics (Prometheus text)", "", {}, 0, 0},
      {"proxy drain", "", "make a gatewayd stop accepting and finish its requests", "", {}, 0, 0},
      {"proxy explain",
       "METHOD URL",
       "how a gatewayd would route a request (nothing is sent upstream)",
       "URL is 'http://host/path?query' or '/path?query' (then give Host with -H).\n"
       "Shows the listener, the normalized path (or why the request is refused), the virtual\n"
       "host, why each earlier route did not match, the matched route, every filter in order\n"
       "with what it would do, the cluster, the endpoint the balancer would pick and the\n"
       "upstream path. Exit code 1 when the request would not be routed.\n",
       {{"header", 'H', FlagKind::Repeated, "'NAME: VALUE'", "a request header (repeatable)"},
        {"listener", 0, FlagKind::Value, "NAME", "the listener (default: the first)"},
        {"client-address", 0, FlagKind::Value, "IP", "the client's address (default 127.0.0.1)"}},
       2,
       2},
      {"cache purge",
       "",
       "remove response-cache entries on each gatewayd of --proxy, or --fleet-wide",
       "Exactly one of --key (a path with its query: every host and variant), --prefix (a path\n"
       "prefix), --tag (a surrogate key) or --all. Each proxy drops the entries from memory and\n"
       "from then on ignores copies made earlier that it finds in the Redis tier.\n"
       "By default the purge goes to each proxy of --proxy (comma-separated) at once. With\n"
       "--fleet it goes through gateway-control instead: a new version of the snapshot carries\n"
       "it to every proxy the snapshot targets, including ones that connect later; --wait waits\n"
       "for their ACKs.\n",
       {{"key", 0, FlagKind::Value, "PATH", "the resource, e.g. /api/products/7?a=1"},
        {"prefix", 0, FlagKind::Value, "PATH", "every path under it, e.g. /api/products/"},
        {"tag", 0, FlagKind::Value, "TAG", "entries carrying this surrogate key"},
        {"all", 0, FlagKind::Bool, "", "every entry"},
        {"fleet", 0, FlagKind::Bool, "", "through gateway-control, to every targeted proxy"},
        {"wait", 0, FlagKind::Bool, "", "with --fleet: wait until every node ACKed or NACKed"},
        {"message", 'm', FlagKind::Value, "TEXT", "with --fleet: the history message"}},
       0,
       0},
      {"cache stats", "",
       "response-cache hits, misses, bytes, evictions and hit ratio per route, per --proxy", "",
       {}, 0, 0},
      {"keys create",
       "",
       "make an API key: prints it once, stores only its SHA-256 in a new version",
       "The key is 256 random bits ('gwk_' + base64url). gateway-control validates the new\n"
       "snapshot (the plan must exist) and pushes it; the key works once the proxies ACK.\n",
       {{"consumer", 0, FlagKind::Value, "ID", "who holds the key (required)"},
        {"plan", 0, FlagKind::Value, "NAME", "its usage plan (default: none, no limits)"},
        {"expires", 0, FlagKind::Value, "AGE", "expires after AGE: 30d, 12h, 90m (default never)"},
        {"roles", 0, FlagKind::Value, "A,B", "the consumer's roles"},
        {"id", 0, FlagKind::Value, "ID", "the key's id (default <consumer>-<8 hex>)"},
        {"message", 'm', FlagKind::Value, "TEXT", "why (kept in history)"},
        {"author", 0, FlagKind::Value, "NAME", "who (default $USER)"},
        waitFlag()},
       0,
       0},
      {"keys list", "", "the API keys of the latest version (no secrets)", "", {}, 0, 0},
      {"keys revoke",
       "ID",
       "disable an API key (401 api_key_disabled) in a new version",
       "",
       {{"message", 'm', FlagKind::Value, "TEXT", "why (kept in history)"},
        {"author", 0, FlagKind::Value, "NAME", "who (default $USER)"},
        waitFlag()},
       1,
       1},
      {"keys usage",
       "ID",
       "a key's requests today and this period, and its remaining quota (from Redis)",
       "Reads the counters of the key's plan in the plan's Redis (the address of the latest\n"
       "snapshot's redis_servers entry). Plans that count in memory are per proxy: see /metrics.\n",
       {},
       1,
       1},
      {"help", "[COMMAND]", "show help for a command", "", {}, 0, 2},
  };
  return cmds;
}

// "5s", "500ms", "1m", "1.5s", "2" (seconds).
std::optional<milliseconds> parseDuration(const std::string& text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view s = lower;
  double scale = 1000;
  if (absl::ConsumeSuffix(&s, "ms")) {
    scale = 1;
  } else if (absl::ConsumeSuffix(&s, "s")) {
    scale = 1000;
  } else if (absl::ConsumeSuffix(&s, "m")) {
    scale = 60000;
  }
  double v;
  if (s.empty() || !absl::SimpleAtod(s, &v) || !(v >= 0) || v * scale > 86400.0 * 1000) {
    return std::nullopt;
  }
  return milliseconds(static_cast<int64_t>(v * scale + 0.5));
}

std::string formatMs(milliseconds d) {
  return d.count() % 1000 == 0 ? absl::StrCat(d.count() / 1000, "s")
                               : absl::StrCat(d.count(), "ms");
}

namespace {

const CommandSpec* findCommand(const std::string& name) {
  for (const auto& c : commands()) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

} // namespace

int printHelp(const std::vector<std::string>& words, std::ostream& out, std::ostream& err) {
  if (words.empty()) {
    out << generalUsage(kProgram, globalFlags(), commands());
    return kExitOk;
  }
  const std::string name = absl::StrJoin(words, " ");
  if (const CommandSpec* c = findCommand(name); c != nullptr) {
    out << commandUsage(kProgram, *c, globalFlags());
    return kExitOk;
  }
  for (const auto& c : commands()) {
    if (absl::StartsWith(c.name, name + " ")) {
      out << groupUsage(kProgram, name, commands());
      return kExitOk;
    }
  }
  err << "error: unknown command '" << name << "'\nrun '" << kProgram << " --help' for usage\n";
  return kExitUsage;
}

} // namespace gw::ctl
