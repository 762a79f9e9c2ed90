#pragma once

#include <string>

namespace gw::config {

// One problem found in a config: the field path ("listeners[0].routes[2].timeout") and what is
// wrong with the value there.
struct ConfigError {
  std::string path;
  std::string message;
  std::string toString() const { return path.empty() ? message : path + ": " + message; }
};

} // namespace gw::config
