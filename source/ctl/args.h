#pragma once

#include <map>
#include <string>
#include <vector>

namespace gw::ctl {

// A command-line flag: `--name VALUE`, `--name=VALUE`, `-s VALUE`, `-sVALUE`, or `--name` (Bool).
enum class FlagKind {
  Bool,      // present or not; `--name=true|false` also accepted
  Value,     // one value; the last occurrence wins
  Repeated,  // every occurrence is kept, in order
};

struct FlagSpec {
  std::string name;     // long name without the dashes, e.g. "dry-run"
  char short_name = 0;  // e.g. 'f' for -f; 0: none
  FlagKind kind = FlagKind::Value;
  std::string value_name;  // shown in usage, e.g. "FILE"
  std::string help;        // one line
};

// A command, possibly of two words ("proxy explain"). The first word of a two-word command is a
// group ("proxy") that is not a command by itself.
struct CommandSpec {
  std::string name;
  std::string args_usage;   // positional arguments in usage, e.g. "METHOD URL"
  std::string summary;      // one line, shown in the command list
  std::string description;  // shown by `CMD --help` after the usage line (may be empty)
  std::vector<FlagSpec> flags;
  size_t min_args = 0;
  size_t max_args = 0;
};

struct ParsedArgs {
  const CommandSpec* command = nullptr;  // null: no (complete) command was given
  std::string group;                     // "proxy" when only the group word was given
  std::vector<std::string> args;         // positional arguments after the command words
  std::map<std::string, std::vector<std::string>> flags;  // by long name; Bool: {"true"|"false"}
  bool help = false;                                      // --help / -h anywhere
  std::string error;                                      // a usage error ("" when none)

  bool has(const std::string& name) const { return flags.count(name) > 0; }
  // Bool flags: true when given (and not `=false`).
  bool boolFlag(const std::string& name) const;
  // The last value of a flag, or `fallback`.
  std::string value(const std::string& name, const std::string& fallback = "") const;
  // Every value of a Repeated flag (empty when absent).
  std::vector<std::string> values(const std::string& name) const;
};

// Parses argv without argv[0]. Global flags are accepted anywhere (before or after the command);
// a command's own flags only after its name. Never fails: a usage problem is put in `error`
// (unknown command, unknown flag for that command, missing flag value, wrong argument count).
// With --help, argument-count problems are not reported.
ParsedArgs parseArgs(const std::vector<std::string>& argv, const std::vector<FlagSpec>& globals,
                     const std::vector<CommandSpec>& commands);

// Usage text. `program` is the binary name.
std::string generalUsage(const std::string& program, const std::vector<FlagSpec>& globals,
                         const std::vector<CommandSpec>& commands);
std::string commandUsage(const std::string& program, const CommandSpec& command,
                         const std::vector<FlagSpec>& globals);
std::string groupUsage(const std::string& program, const std::string& group,
                       const std::vector<CommandSpec>& commands);

} // namespace gw::ctl
