// gatewayd: the data plane.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "source/config/config.h"
#include "source/exe/example_config.h"
#include "source/server/admin.h"
#include "source/server/proxy_admin.h"
#include "source/server/runtime_config.h"
#include "source/server/server.h"
#include "source/server/xds_client.h"

namespace {

#ifndef GW_BUILD_VERSION
#define GW_BUILD_VERSION "dev"
#endif
constexpr char kBuildVersion[] = "gatewayd/" GW_BUILD_VERSION;

void usage() {
  fprintf(stderr,
          "usage: gatewayd [--config FILE] [--workers N] [--admin-address HOST:PORT]\n"
          "                [--validate] [--access-log PATH|-|off] [--drain-grace D]\n"
          "                [--drain-timeout-ms N]\n"
          "                [--print-example-config]\n"
          "                [--admin-grpc-address HOST:PORT|off] [--admin-token-file F]\n"
          "                [--control-plane ADDR --node-id ID [--node-label K=V]...\n"
          "                 [--control-plane-token-file F]]\n"
          "  --config FILE        YAML or JSON config (default: the embedded example)\n"
          "  --workers N          worker threads, one event loop each (default: cores)\n"
          "  --admin-address A    admin HTTP endpoint (default 127.0.0.1:9901)\n"
          "  --admin-grpc-address A  admin gRPC service for gatewayctl --proxy (default\n"
          "                       127.0.0.1:9902; 'off' disables)\n"
          "  --admin-token-file F bearer token both admin endpoints require (default: env\n"
          "                       GATEWAY_ADMIN_TOKEN); mandatory when one is not on loopback\n"
          "  --validate           check the config, print every problem, exit 0 or 2\n"
          "  --access-log DEST    JSON access log: '-' stdout (default), a file, or 'off'\n"
          "  --drain-grace D      after SIGTERM, /ready is 503 and traffic is served as usual\n"
          "                       for D (e.g. 5s, 500ms; default 5s), then listeners close\n"
          "                       and every response carries Connection: close\n"
          "  --drain-timeout-ms N the longest a drain takes, from the signal (20000)\n"
          "live configuration:\n"
          "  --control-plane ADDR gateway-control's discovery service (host:port). With --config\n"
          "                       that file serves until the first snapshot arrives; without it\n"
          "                       the gateway starts with no listeners and waits\n"
          "  --node-id ID         this proxy's node id (required with --control-plane)\n"
          "  --node-label K=V     a label the control plane can target (repeatable)\n"
          "  --control-plane-token-file F  bearer token for the control plane (default: env\n"
          "                       GATEWAY_CONTROL_TOKEN)\n");
}

// The file's content without surrounding whitespace; false (with a message) if unreadable.
bool readTokenFile(const std::string& path, const char* flag, std::string* token) {
  std::ifstream in(path);
  if (!in.is_open()) {
    fprintf(stderr, "gatewayd: cannot read %s %s: %s\n", flag, path.c_str(), strerror(errno));
    return false;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  *token = std::string(absl::StripAsciiWhitespace(buf.str()));
  return true;
}

} // namespace

namespace {

// glibc's per-thread cache keeps only 7 freed chunks of each size. A worker frees request heads,
// header vectors and streams in bursts (every request an event-loop iteration finished), so the
// 8th and later frees of a size went to the shared bins and the next allocations took malloc's
// slow path: about 250 instructions per allocation instead of about 30, some 2,000 of the
// ~21,500 instructions of a proxied request (callgrind). The cache size can only be set through
// the GLIBC_TUNABLES environment variable, read when the process starts, so gatewayd re-executes
// itself once with it set. An operator who sets GLIBC_TUNABLES (to anything) is left alone, and
// GATEWAYD_MALLOC_DEFAULTS=1 keeps glibc's defaults (needed under valgrind, which an exec would
// leave).
void reexecWithMallocCache(char** argv) {
  if (getenv("GATEWAYD_MALLOC_DEFAULTS") != nullptr || getenv("GLIBC_TUNABLES") != nullptr) {
    return;  // set by the operator (who is then in charge of glibc's tunables), or by the exec
  }
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    return;
  }
  self[n] = '\0';
  setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=128", 1);
  execv(self, argv);
  unsetenv("GLIBC_TUNABLES");  // the exec failed: carry on with the defaults
}

} // namespace

int main(int argc, char** argv) {
  reexecWithMallocCache(argv);
  // Body data moves through 64 KiB heap buffers that are freed as soon as they are written. With
  // glibc's default trim threshold (128 KiB) each free gives the worker arena's top back to the
  // kernel and the next buffer page-faults it in again: streaming ran ~7x slower. Keep up to
  // 16 MiB of free top per arena instead.
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  // Every downstream and upstream connection is a descriptor; the soft limit is often 1024, far
  // below what an edge proxy holds. Raise it to the hard limit (what nginx's
  // worker_rlimit_nofile and HAProxy's automatic maxconn sizing do).
  if (rlimit nofile{}; getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    const rlim_t soft = nofile.rlim_cur;
    nofile.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      nofile.rlim_cur = soft;
    }
  }
  std::string config_path;
  bool validate = false;
  gw::server::ServerConfig sc;
  sc.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string access_log = "-";
  gw::server::DiscoveryClientOptions cp;
  cp.build_version = kBuildVersion;
  std::string token_file;
  gw::server::ProxyAdminOptions admin_grpc;
  bool admin_grpc_explicit = false;
  std::string admin_token_file;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "gatewayd: %s needs a value\n", name);
        usage();
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--config" || a == "-c") {
      config_path = next("--config");
    } else if (a == "--workers") {
      if (!absl::SimpleAtoi(next("--workers"), &sc.workers) || sc.workers < 1 ||
          sc.workers > 256) {
        fprintf(stderr, "gatewayd: --workers must be 1..256\n");
        return 2;
      }
    } else if (a == "--admin-address") {
      sc.admin_address = next("--admin-address");
    } else if (a == "--admin-grpc-address") {
      admin_grpc.address = next("--admin-grpc-address");
      admin_grpc_explicit = true;
    } else if (a == "--admin-token-file") {
      admin_token_file = next("--admin-token-file");
    } else if (a == "--validate") {
      validate = true;
    } else if (a == "--access-log") {
      access_log = next("--access-log");
    } else if (a == "--drain-grace") {
      const std::string v = next("--drain-grace");
      absl::string_view num = v;
      int64_t scale = 1000;  // a bare number is seconds
      if (absl::ConsumeSuffix(&num, "ms")) {
        scale = 1;
      } else if (absl::ConsumeSuffix(&num, "s")) {
        scale = 1000;
      }
      int64_t n = 0;
      if (!absl::SimpleAtoi(num, &n) || n < 0 || n > 3600 * 1000) {
        fprintf(stderr, "gatewayd: --drain-grace must be a duration like 5s or 500ms, got '%s'\n",
                v.c_str());
        return 2;
      }
      sc.drain_grace = std::chrono::milliseconds(n * scale);
    } else if (a == "--drain-timeout-ms") {
      int ms = 0;
      if (!absl::SimpleAtoi(next("--drain-timeout-ms"), &ms) || ms < 0) {
        fprintf(stderr, "gatewayd: --drain-timeout-ms must be a number\n");
        return 2;
      }
      sc.drain_timeout = std::chrono::milliseconds(ms);
    } else if (a == "--control-plane") {
      cp.address = next("--control-plane");
    } else if (a == "--node-id") {
      cp.node_id = next("--node-id");
    } else if (a == "--node-label") {
      const std::string kv = next("--node-label");
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        fprintf(stderr, "gatewayd: --node-label must be KEY=VALUE, got '%s'\n", kv.c_str());
        return 2;
      }
      cp.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "--control-plane-token-file") {
      token_file = next("--control-plane-token-file");
    } else if (a == "--print-example-config") {
      fputs(gw::kExampleConfig, stdout);
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      fprintf(stderr, "gatewayd: unknown argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }

  const bool live = !cp.address.empty();
  if (live && cp.node_id.empty()) {
    fprintf(stderr, "gatewayd: --control-plane needs --node-id\n");
    return 2;
  }
  if (!live && (!cp.node_id.empty() || !cp.labels.empty() || !token_file.empty())) {
    fprintf(stderr, "gatewayd: --node-id, --node-label and --control-plane-token-file need "
                    "--control-plane\n");
    return 2;
  }
  if (live) {
    if (!token_file.empty()) {
      if (!readTokenFile(token_file, "--control-plane-token-file", &cp.token)) {
        return 2;
      }
    } else if (const char* env = getenv("GATEWAY_CONTROL_TOKEN"); env != nullptr) {
      cp.token = std::string(absl::StripAsciiWhitespace(env));
    }
  }

  gw::server::RuntimeConfigConstSharedPtr initial;
  if (live && config_path.empty()) {
    // No bootstrap: no listeners, no clusters until the first snapshot arrives.
    initial = std::make_shared<gw::server::RuntimeConfig>();
    sc.wait_for_config = true;
    if (validate) {
      fprintf(stderr, "gatewayd: --validate needs --config\n");
      return 2;
    }
  } else {
    if (config_path.empty()) {
      // The embedded example's IdP secret is the demo's public one (overwrite = 0: a value the
      // operator set wins).
      setenv(gw::kExampleIdpSecretEnv, gw::kExampleIdpSecret, 0);
    }
    auto parsed = config_path.empty() ? gw::config::parseConfig(gw::kExampleConfig)
                                      : gw::config::loadConfigFile(config_path);
    if (!parsed.ok()) {
      fprintf(stderr, "gatewayd: %s\n", std::string(parsed.status().message()).c_str());
      return 2;
    }
    std::vector<gw::config::ConfigError> errors;
    const int listeners = parsed->listeners_size();
    const int clusters = parsed->clusters_size();
    auto compiled = gw::server::compileConfig(*std::move(parsed), true, &errors);
    if (!errors.empty()) {
      fprintf(stderr, "gatewayd: config has %zu problem(s):\n", errors.size());
      for (const auto& e : errors) {
        fprintf(stderr, "  %s\n", e.toString().c_str());
      }
      return 2;
    }
    if (!compiled.ok()) {
      fprintf(stderr, "gatewayd: config rejected:\n  %s\n",
              std::string(compiled.status().message()).c_str());
      return 2;
    }
    if (validate) {
      printf("config OK: %d listener(s), %d cluster(s)\n", listeners, clusters);
      return 0;
    }
    initial = *compiled;
  }
  if (access_log == "off") {
    sc.options.access_log = false;
  } else if (access_log != "-") {
    FILE* f = fopen(access_log.c_str(), "a");
    if (f == nullptr) {
      fprintf(stderr, "gatewayd: cannot open access log %s: %s\n", access_log.c_str(),
              strerror(errno));
      return 2;
    }
    sc.options.access_log_fd = fileno(f);
  }
  // Admin endpoints: loopback by default; anywhere else only with a token.
  if (!admin_token_file.empty()) {
    if (!readTokenFile(admin_token_file, "--admin-token-file", &sc.admin_token)) {
      return 2;
    }
    if (sc.admin_token.empty()) {
      fprintf(stderr, "gatewayd: --admin-token-file %s is empty\n", admin_token_file.c_str());
      return 2;
    }
  } else if (const char* env = getenv("GATEWAY_ADMIN_TOKEN"); env != nullptr) {
    sc.admin_token = std::string(absl::StripAsciiWhitespace(env));
  }
  const bool admin_grpc_on = admin_grpc.address != "off";
  for (const auto& [flag, address] :
       {std::pair<const char*, std::string>{"--admin-address", sc.admin_address},
        std::pair<const char*, std::string>{"--admin-grpc-address",
                                            admin_grpc_on ? admin_grpc.address : ""}}) {
    if (address.empty()) {
      continue;
    }
    auto loopback = gw::server::isLoopbackAddress(address);
    if (!loopback.ok()) {
      fprintf(stderr, "gatewayd: %s: %s\n", flag, std::string(loopback.status().message()).c_str());
      return 2;
    }
    if (!*loopback && sc.admin_token.empty()) {
      fprintf(stderr,
              "gatewayd: %s %s is not a loopback address: the admin endpoints then need a token "
              "(--admin-token-file FILE or env GATEWAY_ADMIN_TOKEN)\n",
              flag, address.c_str());
      return 2;
    }
  }
  admin_grpc.token = sc.admin_token;
  // A bootstrap config did not come from the control plane: report no version, so a static
  // config whose `version` happens to equal a snapshot version is never mistaken for it.
  const std::string initial_version;
  gw::server::Server server(sc, std::move(initial));  // not kept here: old generations must die
  std::unique_ptr<gw::server::ProxyAdminServer> proxy_admin;
  if (admin_grpc_on) {
    proxy_admin = std::make_unique<gw::server::ProxyAdminServer>(server, admin_grpc);
    if (auto st = proxy_admin->start(); !st.ok()) {
      if (admin_grpc_explicit) {
        fprintf(stderr, "gatewayd: %s\n", std::string(st.message()).c_str());
        return 1;
      }
      // The default port is shared by every gatewayd on the host (tests, a demo): run without
      // the gRPC admin rather than not at all.
      fprintf(stderr, "gatewayd: %s; continuing without it\n", std::string(st.message()).c_str());
      proxy_admin.reset();
    } else {
      fprintf(stderr, "gatewayd: admin gRPC on %s%s\n", proxy_admin->boundAddress().c_str(),
              sc.admin_token.empty() ? "" : " (token required)");
    }
    fflush(stderr);
  }
  std::unique_ptr<gw::server::DiscoveryClient> client;
  if (live) {
    client = std::make_unique<gw::server::DiscoveryClient>(server, std::move(cp), initial_version);
    gw::server::DiscoveryClient* c = client.get();
    server.onDrain([c] { c->requestStop(); });  // a draining proxy takes no new config
    client->start();  // snapshots it posts are published once the main loop runs
  }
  const int rc = server.run();
  if (proxy_admin) {
    proxy_admin->shutdown();  // before the server goes: calls still waiting give up
  }
  client.reset();  // cancels the stream and joins the client thread
  return rc;
}
