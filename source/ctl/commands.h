#pragma once

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "source/ctl/args.h"

namespace gw::ctl {

// gatewayctl's command table and global flags (usage, help and parsing come from these), and the
// duration syntax of --timeout.

inline constexpr char kProgram[] = "gatewayctl";

const std::vector<FlagSpec>& globalFlags();
const std::vector<CommandSpec>& commands();

// `gatewayctl help [COMMAND...]`: the usage of everything, of a command or of a group; exit code.
int printHelp(const std::vector<std::string>& words, std::ostream& out, std::ostream& err);

// "5s", "500ms", "1m", "1.5s", "2" (seconds); nullopt when not a duration of at most a day.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);
// "5s" for whole seconds, else "1500ms".
std::string formatMs(std::chrono::milliseconds d);

} // namespace gw::ctl
