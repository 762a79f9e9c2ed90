#include "source/ctl/args.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace gw::ctl {
namespace {

const std::vector<FlagSpec> kGlobals = {
    {"server", 0, FlagKind::Value, "ADDR", "server"},
    {"output", 'o', FlagKind::Value, "FORMAT", "format"},
};

const std::vector<CommandSpec> kCommands = {
    {"apply",
     "",
     "apply",
     "",
     {{"file", 'f', FlagKind::Value, "FILE", "file"},
      {"dry-run", 0, FlagKind::Bool, "", "dry"},
      {"target-node", 0, FlagKind::Repeated, "ID", "node"}},
     0,
     0},
    {"get", "KIND", "get", "", {{"version", 0, FlagKind::Value, "N", "v"}}, 1, 1},
    {"proxy explain",
     "METHOD URL",
     "explain",
     "",
     {{"header", 'H', FlagKind::Repeated, "H", "h"}},
     2,
     2},
    {"proxy stats", "", "stats", "", {}, 0, 0},
};

ParsedArgs parse(std::vector<std::string> argv) { return parseArgs(argv, kGlobals, kCommands); }

TEST_CASE("args: command flags, globals before and after the command") {
  auto a = parse({"--server", "h:1", "apply", "-f", "x.yaml", "--dry-run", "-o", "json"});
  REQUIRE(a.error.empty());
  REQUIRE(a.command != nullptr);
  CHECK(a.command->name == "apply");
  CHECK(a.value("server") == "h:1");
  CHECK(a.value("file") == "x.yaml");
  CHECK(a.boolFlag("dry-run"));
  CHECK(a.value("output") == "json");
  CHECK_FALSE(a.has("target-node"));
  CHECK(a.value("target-node", "dflt") == "dflt");
}

TEST_CASE("args: --flag=value, -fVALUE, -o=json, repeated flags keep order, last value wins") {
  auto a = parse({"apply", "--file=a.yaml", "-fb.yaml", "-o=yaml", "--target-node", "n1",
                  "--target-node=n2", "--dry-run=false", "--server=s:1", "--server", "s:2"});
  REQUIRE(a.error.empty());
  CHECK(a.value("file") == "b.yaml");
  CHECK(a.value("output") == "yaml");
  CHECK(a.values("target-node") == std::vector<std::string>{"n1", "n2"});
  CHECK(a.has("dry-run"));
  CHECK_FALSE(a.boolFlag("dry-run"));
  CHECK(a.value("server") == "s:2");
}

TEST_CASE("args: two-word commands and positionals") {
  auto a = parse({"proxy", "explain", "GET", "/api/users/1", "-H", "host: a", "-H", "x: 1"});
  REQUIRE(a.error.empty());
  CHECK(a.command->name == "proxy explain");
  CHECK(a.args == std::vector<std::string>{"GET", "/api/users/1"});
  CHECK(a.values("header") == std::vector<std::string>{"host: a", "x: 1"});

  auto b = parse({"proxy", "--server", "x:1", "stats"});  // a global between the words
  REQUIRE(b.error.empty());
  CHECK(b.command->name == "proxy stats");
}

TEST_CASE("args: -- ends flags") {
  auto a = parse({"proxy", "explain", "--", "GET", "-weird"});
  REQUIRE(a.error.empty());
  CHECK(a.args == std::vector<std::string>{"GET", "-weird"});
}

TEST_CASE("args: usage errors name what is wrong") {
  CHECK(parse({"frobnicate"}).error == "unknown command 'frobnicate'");
  CHECK(parse({"proxy", "frob"}).error == "unknown command 'proxy frob'");
  CHECK(parse({"apply", "--bogus"}).error == "unknown flag '--bogus' for 'apply'");
  CHECK(parse({"apply", "-z"}).error == "unknown flag '-z' for 'apply'");
  // A command's own flag before the command is not known yet.
  CHECK(parse({"-f", "x", "apply"}).error == "unknown flag '-f'");
  // Another command's flag.
  CHECK(parse({"get", "routes", "--dry-run"}).error == "unknown flag '--dry-run' for 'get'");
  CHECK(parse({"apply", "-f"}).error == "flag -f needs a value (FILE)");
  CHECK(parse({"apply", "--file"}).error == "flag --file needs a value (FILE)");
  CHECK(parse({"apply", "--dry-run=maybe"}).error ==
        "flag --dry-run takes no value (or =true / =false)");
  CHECK(parse({"get"}).error == "'get' needs KIND");
  CHECK(parse({"get", "a", "b"}).error == "unexpected argument 'b' for 'get'");
  CHECK(parse({"apply", "extra"}).error == "unexpected argument 'extra' for 'apply'");
  CHECK(parse({"proxy"}).error == "'proxy' needs a subcommand: explain, stats");
  CHECK(parse({}).error == "no command given");
}

TEST_CASE("args: --help anywhere, without argument-count errors") {
  auto a = parse({"get", "--help"});
  CHECK(a.error.empty());
  CHECK(a.help);
  CHECK(a.command->name == "get");
  auto b = parse({"-h"});
  CHECK(b.help);
  CHECK(b.command == nullptr);
  auto c = parse({"proxy", "--help"});
  CHECK(c.help);
  CHECK(c.group == "proxy");
}

TEST_CASE("args: usage texts list commands and flags") {
  std::string general = generalUsage("gatewayctl", kGlobals, kCommands);
  CHECK(absl::StrContains(general, "Usage: gatewayctl [global flags] COMMAND"));
  CHECK(absl::StrContains(general, "  proxy explain METHOD URL  explain\n"));
  CHECK(absl::StrContains(general, "  -o, --output FORMAT"));
  CHECK(absl::StrContains(general, "  -h, --help"));
  CHECK(absl::StrContains(general, "Exit codes:"));

  std::string apply = commandUsage("gatewayctl", kCommands[0], kGlobals);
  CHECK(absl::StrContains(apply, "Usage: gatewayctl apply [flags]\n"));
  CHECK(absl::StrContains(apply, "  -f, --file FILE"));
  CHECK(absl::StrContains(apply, "      --target-node ID ..."));
  CHECK(absl::StrContains(apply, "      --dry-run "));

  std::string group = groupUsage("gatewayctl", "proxy", kCommands);
  CHECK(absl::StrContains(group, "proxy explain METHOD URL"));
  CHECK(absl::StrContains(group, "proxy stats"));
  CHECK_FALSE(absl::StrContains(group, "apply"));
}

} // namespace
} // namespace gw::ctl
