#pragma once

#include <chrono>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace gw::ctl {

// What the CLI takes from its process, injectable for tests.
struct CliContext {
  // Environment lookup (GATEWAY_ADMIN_TOKEN, USER, LOGNAME). Default: ::getenv.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // Read by `apply -f -` / `diff -f -`.
  std::istream* in = &std::cin;
  // How often `apply --wait` polls Status.
  std::chrono::milliseconds poll_interval{50};
};

// gatewayctl: `args` is argv without argv[0]. Results go to `out`, diagnostics to `err`.
// Returns the exit code (kExitOk / kExitRefused / kExitUsage in rpc_error.h).
int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CliContext& context);

} // namespace gw::ctl
