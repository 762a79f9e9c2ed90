#include "source/ctl/args.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gw::ctl {
namespace {

const FlagSpec* findLong(const std::vector<const FlagSpec*>& allowed, absl::string_view name) {
  for (const FlagSpec* f : allowed) {
    if (f->name == name) {
      return f;
    }
  }
  return nullptr;
}

const FlagSpec* findShort(const std::vector<const FlagSpec*>& allowed, char c) {
  for (const FlagSpec* f : allowed) {
    if (f->short_name != 0 && f->short_name == c) {
      return f;
    }
  }
  return nullptr;
}

std::vector<std::string> words(const std::string& name) {
  return absl::StrSplit(name, ' ', absl::SkipEmpty());
}

std::string flagTitle(const FlagSpec& f) {
  std::string s =
      f.short_name != 0 ? absl::StrCat("-", std::string(1, f.short_name), ", ") : "    ";
  absl::StrAppend(&s, "--", f.name);
  if (f.kind != FlagKind::Bool) {
    absl::StrAppend(&s, " ", f.value_name.empty() ? "VALUE" : f.value_name);
  }
  if (f.kind == FlagKind::Repeated) {
    absl::StrAppend(&s, " ...");
  }
  return s;
}

void appendFlagList(std::string& out, const std::vector<FlagSpec>& flags) {
  size_t width = 0;
  for (const auto& f : flags) {
    width = std::max(width, flagTitle(f).size());
  }
  for (const auto& f : flags) {
    std::string title = flagTitle(f);
    absl::StrAppend(&out, "  ", title, std::string(width - title.size() + 2, ' '), f.help, "\n");
  }
}

} // namespace

bool ParsedArgs::boolFlag(const std::string& name) const {
  auto it = flags.find(name);
  return it != flags.end() && !it->second.empty() && it->second.back() != "false";
}

std::string ParsedArgs::value(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::values(const std::string& name) const {
  auto it = flags.find(name);
  return it == flags.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parseArgs(const std::vector<std::string>& argv, const std::vector<FlagSpec>& globals,
                     const std::vector<CommandSpec>& commands) {
  ParsedArgs out;
  std::vector<std::string> command_words;
  bool only_positional = false;
  auto fail = [&out](std::string message) {
    if (out.error.empty()) {
      out.error = std::move(message);
    }
  };
  auto allowedFlags = [&]() {
    std::vector<const FlagSpec*> allowed;
    for (const auto& f : globals) {
      allowed.push_back(&f);
    }
    if (out.command != nullptr) {
      for (const auto& f : out.command->flags) {
        allowed.push_back(&f);
      }
    }
    return allowed;
  };
  auto where = [&]() {
    if (out.command != nullptr) {
      return absl::StrCat(" for '", out.command->name, "'");
    }
    return std::string();
  };

  for (size_t i = 0; i < argv.size(); i++) {
    const std::string& tok = argv[i];
    bool is_flag = !only_positional && tok.size() > 1 && tok[0] == '-';
    if (!is_flag) {
      if (out.command != nullptr) {
        out.args.push_back(tok);
        continue;
      }
      command_words.push_back(tok);
      std::string joined = absl::StrJoin(command_words, " ");
      bool prefix = false;
      for (const auto& c : commands) {
        if (c.name == joined) {
          out.command = &c;
          out.group.clear();
          break;
        }
        if (absl::StartsWith(c.name, joined + " ")) {
          prefix = true;
        }
      }
      if (out.command == nullptr) {
        if (prefix) {
          out.group = joined;
        } else {
          fail(out.group.empty() ? absl::StrCat("unknown command '", tok, "'")
                                 : absl::StrCat("unknown command '", joined, "'"));
          return out;
        }
      }
      continue;
    }
    if (tok == "--") {
      only_positional = true;
      continue;
    }
    if (tok == "--help" || tok == "-h") {
      out.help = true;
      continue;
    }
    std::vector<const FlagSpec*> allowed = allowedFlags();
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;
    if (absl::StartsWith(tok, "--")) {
      std::string body = tok.substr(2);
      size_t eq = body.find('=');
      if (eq != std::string::npos) {
        inline_value = body.substr(eq + 1);
        body = body.substr(0, eq);
      }
      shown = "--" + body;
      spec = findLong(allowed, body);
    } else {
      shown = tok.substr(0, 2);
      spec = findShort(allowed, tok[1]);
      if (tok.size() > 2) {
        inline_value = tok[2] == '=' ? tok.substr(3) : tok.substr(2);
      }
    }
    if (spec == nullptr) {
      fail(absl::StrCat("unknown flag '", shown, "'", where()));
      continue;
    }
    std::string value;
    if (spec->kind == FlagKind::Bool) {
      value = inline_value.value_or("true");
      if (value != "true" && value != "false") {
        fail(absl::StrCat("flag --", spec->name, " takes no value (or =true / =false)"));
        continue;
      }
    } else if (inline_value.has_value()) {
      value = *inline_value;
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      fail(absl::StrCat("flag ", shown, " needs a value (",
                        spec->value_name.empty() ? "VALUE" : spec->value_name, ")"));
      continue;
    }
    auto& slot = out.flags[spec->name];
    if (spec->kind != FlagKind::Repeated) {
      slot.clear();
    }
    slot.push_back(std::move(value));
  }

  if (out.help) {
    return out;
  }
  if (out.command == nullptr) {
    if (!out.group.empty()) {
      std::vector<std::string> subs;
      for (const auto& c : commands) {
        if (absl::StartsWith(c.name, out.group + " ")) {
          subs.push_back(words(c.name).back());
        }
      }
      fail(absl::StrCat("'", out.group, "' needs a subcommand: ", absl::StrJoin(subs, ", ")));
    } else {
      fail("no command given");
    }
    return out;
  }
  if (out.args.size() < out.command->min_args) {
    fail(
        absl::StrCat("'", out.command->name, "' needs ",
                     out.command->args_usage.empty() ? "more arguments" : out.command->args_usage));
  } else if (out.args.size() > out.command->max_args) {
    fail(absl::StrCat("unexpected argument '", out.args[out.command->max_args], "'", where()));
  }
  return out;
}

std::string generalUsage(const std::string& program, const std::vector<FlagSpec>& globals,
                         const std::vector<CommandSpec>& commands) {
  std::string out =
      absl::StrCat("Usage: ", program, " [global flags] COMMAND [flags] [args]\n\n", "Commands:\n");
  size_t width = 0;
  for (const auto& c : commands) {
    width = std::max(width, c.name.size() + 1 + c.args_usage.size());
  }
  for (const auto& c : commands) {
    std::string title = c.args_usage.empty() ? c.name : absl::StrCat(c.name, " ", c.args_usage);
    absl::StrAppend(&out, "  ", title, std::string(width - title.size() + 2, ' '), c.summary, "\n");
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  std::vector<FlagSpec> shown = globals;
  shown.push_back({"help", 'h', FlagKind::Bool, "",
                   absl::StrCat("show help (also: ", program, " COMMAND --help)")});
  appendFlagList(out, shown);
  absl::StrAppend(&out,
                  "\nExit codes: 0 ok; 1 refused, NACKed or not found; "
                  "2 usage or connection error.\n");
  return out;
}

std::string commandUsage(const std::string& program, const CommandSpec& command,
                         const std::vector<FlagSpec>& globals) {
  std::string out = absl::StrCat(
      "Usage: ", program, " ", command.name, command.flags.empty() ? "" : " [flags]",
      command.args_usage.empty() ? "" : " ", command.args_usage, "\n\n", command.summary, "\n");
  if (!command.description.empty()) {
    absl::StrAppend(&out, "\n", command.description);
    if (!absl::EndsWith(command.description, "\n")) {
      out.push_back('\n');
    }
  }
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    appendFlagList(out, command.flags);
  }
  absl::StrAppend(&out, "\nGlobal flags:\n");
  appendFlagList(out, globals);
  return out;
}

std::string groupUsage(const std::string& program, const std::string& group,
                       const std::vector<CommandSpec>& commands) {
  std::string out = absl::StrCat("Usage: ", program, " ", group, " SUBCOMMAND [flags] [args]\n\n",
                                 "Subcommands:\n");
  std::vector<const CommandSpec*> subs;
  size_t width = 0;
  for (const auto& c : commands) {
    if (absl::StartsWith(c.name, group + " ")) {
      subs.push_back(&c);
      width = std::max(width, c.name.size() + 1 + c.args_usage.size());
    }
  }
  for (const CommandSpec* c : subs) {
    std::string title = c->args_usage.empty() ? c->name : absl::StrCat(c->name, " ", c->args_usage);
    absl::StrAppend(&out, "  ", title, std::string(width - title.size() + 2, ' '), c->summary,
                    "\n");
  }
  absl::StrAppend(&out, "\nRun '", program, " ", group, " SUBCOMMAND --help' for its flags.\n");
  return out;
}

} // namespace gw::ctl
