#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "source/ctl/args.h"

namespace gw::ctl {

// gatewayctl's command table and global flags (usage, help and parsing come from these), and the
// duration syntax of --timeout.

const std::vector<FlagSpec>& globalFlags();
const std::vector<CommandSpec>& commands();

// "5s", "500ms", "1m", "1.5s", "2" (seconds); nullopt when not a duration of at most a day.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);
// "5s" for whole seconds, else "1500ms".
std::string formatMs(std::chrono::milliseconds d);

} // namespace gw::ctl
