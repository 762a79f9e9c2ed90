#pragma once

namespace gw {
// The embedded example config (the demo's four services). `gatewayd --print-example-config`.
extern const char* const kExampleConfig;
} // namespace gw
