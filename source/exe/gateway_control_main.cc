// gateway-control: the control plane (docs/control-plane.md).
//
//   gateway-control --listen 127.0.0.1:18000 --store DIR [--config FILE_OR_DIR]
//                   [--auth-token-file F]
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/control/control_plane.h"
#include "source/control/control_server.h"
#include "source/control/snapshot_store.h"

namespace {

void usage(FILE* out) {
  fprintf(out,
          "usage: gateway-control --store DIR [--listen HOST:PORT] [--config FILE_OR_DIR]\n"
          "                       [--auth-token-file F]\n"
          "  --store DIR           snapshot history: one snapshot-<version>.json per applied\n"
          "                        snapshot (created if missing; survives restarts)\n"
          "  --listen HOST:PORT    gRPC address of the discovery and admin services\n"
          "                        (default 127.0.0.1:18000)\n"
          "  --config FILE_OR_DIR  YAML/JSON config applied at startup for all nodes, only when\n"
          "                        it differs from the stored one; a directory: every *.yaml,\n"
          "                        *.yml, *.json in it, merged in name order\n"
          "  --auth-token-file F   bearer token every call must carry (default: env\n"
          "                        GATEWAY_CONTROL_TOKEN); required off loopback\n"
          "exit codes: 0 stopped by SIGTERM/SIGINT, 1 runtime failure (store, bind),\n"
          "            2 usage or invalid --config\n");
}

bool readTokenFile(const std::string& path, std::string* token) {
  std::ifstream in(path);
  if (!in) {
    fprintf(stderr, "gateway-control: cannot read --auth-token-file %s: %s\n", path.c_str(),
            strerror(errno));
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *token = std::string(absl::StripAsciiWhitespace(ss.str()));
  if (token->empty()) {
    fprintf(stderr, "gateway-control: --auth-token-file %s is empty\n", path.c_str());
    return false;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
    fprintf(stderr,
            "gateway-control: warning: --auth-token-file %s is world-readable "
            "(chmod 600 it)\n",
            path.c_str());
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:18000";
  std::string config_path;
  std::string store_dir;
  std::string token_file;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    std::string value;
    bool has_inline = false;
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    }
    auto take = [&](std::string* out) {
      if (has_inline) {
        *out = value;
        return true;
      }
      if (i + 1 >= argc) {
        fprintf(stderr, "gateway-control: %s needs a value\n", a.c_str());
        return false;
      }
      *out = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--listen") {
      ok = take(&listen);
    } else if (a == "--config") {
      ok = take(&config_path);
    } else if (a == "--store") {
      ok = take(&store_dir);
    } else if (a == "--auth-token-file") {
      ok = take(&token_file);
    } else {
      fprintf(stderr, "gateway-control: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
    if (!ok) {
      return 2;
    }
  }
  if (store_dir.empty()) {
    fprintf(stderr, "gateway-control: --store DIR is required (where snapshots are kept)\n");
    usage(stderr);
    return 2;
  }

  std::string token;
  if (!token_file.empty()) {
    if (!readTokenFile(token_file, &token)) {
      return 2;
    }
  } else if (const char* env = getenv("GATEWAY_CONTROL_TOKEN"); env != nullptr) {
    token = std::string(absl::StripAsciiWhitespace(env));
  }
  auto loopback = gw::control::isLoopbackListenAddress(listen);
  if (!loopback.ok()) {
    fprintf(stderr, "gateway-control: --listen %s: %s\n", listen.c_str(),
            std::string(loopback.status().message()).c_str());
    return 2;
  }
  if (!*loopback && token.empty()) {
    fprintf(stderr,
            "gateway-control: --listen %s is not a loopback address: a token is then required "
            "(--auth-token-file FILE or env GATEWAY_CONTROL_TOKEN)\n",
            listen.c_str());
    return 2;
  }

  // Parse the startup config before touching the store: a typo exits 2 without side effects.
  std::optional<gateway::v1::Config> startup;
  if (!config_path.empty()) {
    auto loaded = gw::control::loadConfigPath(config_path);
    if (!loaded.ok()) {
      fprintf(stderr, "gateway-control: --config %s cannot be loaded:\n", config_path.c_str());
      for (absl::string_view line : absl::StrSplit(loaded.status().message(), '\n')) {
        fprintf(stderr, "  %s\n", std::string(line).c_str());
      }
      return 2;
    }
    auto errors = gw::control::validateSnapshotConfig(*loaded);
    if (!errors.empty()) {
      fprintf(stderr, "gateway-control: --config %s has %zu problem(s):\n", config_path.c_str(),
              errors.size());
      for (const auto& e : errors) {
        fprintf(stderr, "  %s%s\n", e.path().empty() ? "" : (e.path() + ": ").c_str(),
                e.message().c_str());
      }
      return 2;
    }
    startup = *std::move(loaded);
  }

  // Signals are taken by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto store = gw::control::SnapshotStore::open(store_dir);
  if (!store.ok()) {
    fprintf(stderr, "gateway-control: cannot open the snapshot store: %s\n",
            std::string(store.status().message()).c_str());
    return 1;
  }
  for (const auto& note : (*store)->notes()) {
    fprintf(stderr, "gateway-control: store: %s\n", note.c_str());
  }
  gw::control::ControlPlane plane(**store, {});

  if (startup.has_value()) {
    gateway::v1::ApplyRequest req;
    *req.mutable_config() = *startup;
    req.set_author("gateway-control --config");
    req.set_message(absl::StrCat("startup config ", config_path));
    bool changed = false;
    auto resp = plane.applyIfChanged(req, &changed);
    if (!resp.accepted()) {
      fprintf(stderr, "gateway-control: --config %s was refused:\n", config_path.c_str());
      for (const auto& e : resp.errors()) {
        fprintf(stderr, "  %s%s\n", e.path().empty() ? "" : (e.path() + ": ").c_str(),
                e.message().c_str());
      }
      return 2;
    }
    if (!changed) {
      fprintf(stderr,
              "gateway-control: --config %s is unchanged from stored version %llu; not "
              "re-applied\n",
              config_path.c_str(), static_cast<unsigned long long>(resp.version()));
    }
  }

  gw::control::ControlServerOptions options;
  options.listen = listen;
  options.token = token;
  gw::control::ControlServer server(plane, options);
  if (auto st = server.start(); !st.ok()) {
    fprintf(stderr, "gateway-control: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  fprintf(stderr,
          "gateway-control: listening on %s (port %d), store %s with %zu snapshot(s), latest "
          "version %llu, auth %s\n",
          listen.c_str(), server.port(), (*store)->dir().c_str(), (*store)->size(),
          static_cast<unsigned long long>((*store)->latestVersion()),
          token.empty() ? "off (loopback only)" : "bearer token");
  fflush(stderr);

  int sig = 0;
  sigwait(&signals, &sig);
  fprintf(stderr, "gateway-control: %s received, shutting down\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.shutdown();
  fprintf(stderr, "gateway-control: stopped\n");
  return 0;
}
