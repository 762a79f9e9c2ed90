#pragma once

namespace gw {
// The embedded example config (the demo's four services and IdP). `gatewayd
// --print-example-config`.
extern const char* const kExampleConfig;

// The public demo secret of the example's IdP client, in the environment variable the example
// names; gatewayd sets it (when unset) before it runs the embedded example.
inline constexpr char kExampleIdpSecretEnv[] = "DEMO_IDP_CLIENT_SECRET";
inline constexpr char kExampleIdpSecret[] = "demo-secret";
} // namespace gw
