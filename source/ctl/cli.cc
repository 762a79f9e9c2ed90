#include "source/ctl/cli.h"

#include "source/ctl/cli_session.h"

namespace gw::ctl {
namespace detail {

int Cli::run() {
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

} // namespace detail

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
  detail::Cli cli(args, out, err, context);
  return cli.run();
}

} // namespace gw::ctl
