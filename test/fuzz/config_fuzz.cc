// Fuzzes the config pipeline: gw::config::parseConfig (YAML, or JSON when the text starts with
// '{'), then on whatever parses validateConfig and gw::server::compileConfig(serving=false), as
// gatewayd --validate and the control plane's checks run them. Inputs above 64 KiB are skipped
// (a config that size parses in milliseconds; the fuzzer looks for crashes and hangs, not for
// slow big inputs). Invariants (abort() on violation): compileConfig accepts exactly the configs
// validateConfig finds no problem in, every problem has a message, and a compiled config has a
// listener per configured listener and a cluster per configured cluster.
//
// Name resolution: compileConfig resolves listener and endpoint hosts with getaddrinfo. This
// binary defines getaddrinfo itself: numeric hosts as libc reads them, and every host name as
// 127.0.0.1, so no fuzz input ever makes a DNS query (and a name never fails to resolve).
#include <dlfcn.h>
#include <netdb.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "source/config/config.h"
#include "source/server/runtime_config.h"

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo h = {};
  if (hints != nullptr) {
    h = *hints;
  }
  h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
  const int rc = real(node, service, &h, res);
  if (rc != EAI_NONAME || node == nullptr) {
    return rc;
  }
  return real("127.0.0.1", service, &h, res);
}

namespace gw::fuzz {
namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  fprintf(stderr, "config fuzz invariant violated: %s\n%s\n", what, detail.c_str());
  abort();
}

void check(absl::string_view text) {
  auto parsed = config::parseConfig(text);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) {
      fail("a parse error without a message", std::string(text));
    }
    return;
  }
  const std::vector<config::ConfigError> errors = config::validateConfig(*parsed);
  std::string listed;
  for (const auto& e : errors) {
    if (e.message.empty()) {
      fail("a validation problem without a message", e.path);
    }
    listed += e.toString() + "\n";
  }
  const int listeners = parsed->listeners_size();
  const int clusters = parsed->clusters_size();
  auto compiled = server::compileConfig(*parsed, /*serving=*/false);
  if (compiled.ok() != errors.empty()) {
    fail(compiled.ok() ? "compiled a config validateConfig refuses"
                       : "refused a config validateConfig accepts",
         compiled.ok() ? listed : std::string(compiled.status().message()));
  }
  if (compiled.ok()) {
    const server::RuntimeConfig& rc = **compiled;
    if (static_cast<int>(rc.listeners.size()) != listeners ||
        static_cast<int>(rc.clusters.size()) != clusters) {
      fail("compiled listeners or clusters differ from the config", std::string(text));
    }
  }
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) {
    return 0;
  }
  gw::fuzz::check(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
