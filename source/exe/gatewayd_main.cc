// gatewayd: the data plane.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "source/config/config.h"
#include "source/exe/example_config.h"
#include "source/server/runtime_config.h"
#include "source/server/server.h"

namespace {

void usage() {
  fprintf(stderr,
          "usage: gatewayd [--config FILE] [--workers N] [--admin-address HOST:PORT]\n"
          "                [--validate] [--access-log PATH|-|off] [--drain-timeout-ms N]\n"
          "                [--print-example-config]\n"
          "  --config FILE        YAML or JSON config (default: the embedded example)\n"
          "  --workers N          worker threads, one event loop each (default: cores)\n"
          "  --admin-address A    admin HTTP endpoint (default 127.0.0.1:9901)\n"
          "  --validate           check the config, print every problem, exit 0 or 2\n"
          "  --access-log DEST    JSON access log: '-' stdout (default), a file, or 'off'\n"
          "  --drain-timeout-ms N how long SIGTERM waits for in-flight requests (20000)\n");
}

} // namespace

int main(int argc, char** argv) {
  // Body data moves through 64 KiB heap buffers that are freed as soon as they are written. With
  // glibc's default trim threshold (128 KiB) each free gives the worker arena's top back to the
  // kernel and the next buffer page-faults it in again: streaming ran ~7x slower. Keep up to
  // 16 MiB of free top per arena instead.
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  std::string config_path;
  bool validate = false;
  gw::server::ServerConfig sc;
  sc.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string access_log = "-";
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
    } else if (a == "--validate") {
      validate = true;
    } else if (a == "--access-log") {
      access_log = next("--access-log");
    } else if (a == "--drain-timeout-ms") {
      int ms = 0;
      if (!absl::SimpleAtoi(next("--drain-timeout-ms"), &ms) || ms < 0) {
        fprintf(stderr, "gatewayd: --drain-timeout-ms must be a number\n");
        return 2;
      }
      sc.drain_timeout = std::chrono::milliseconds(ms);
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

  auto parsed = config_path.empty() ? gw::config::parseConfig(gw::kExampleConfig)
                                    : gw::config::loadConfigFile(config_path);
  if (!parsed.ok()) {
    fprintf(stderr, "gatewayd: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  auto errors = gw::config::validateConfig(*parsed);
  if (!errors.empty()) {
    fprintf(stderr, "gatewayd: config has %zu problem(s):\n", errors.size());
    for (const auto& e : errors) {
      fprintf(stderr, "  %s\n", e.toString().c_str());
    }
    return 2;
  }
  auto compiled = gw::server::compileConfig(*parsed);
  if (!compiled.ok()) {
    fprintf(stderr, "gatewayd: config rejected:\n  %s\n",
            std::string(compiled.status().message()).c_str());
    return 2;
  }
  if (validate) {
    printf("config OK: %d listener(s), %d cluster(s)\n", parsed->listeners_size(),
           parsed->clusters_size());
    return 0;
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
  gw::server::Server server(sc, *compiled);
  return server.run();
}
