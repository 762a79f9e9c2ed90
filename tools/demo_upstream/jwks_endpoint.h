#pragma once
// The demo upstream's JWKS endpoint (--jwks-dir DIR): GET /.well-known/jwks.json answers with the
// file DIR/jwks.json as it is on disk at that moment (so a test rotates keys by rewriting it).
// When DIR/fail exists, its content is the status to answer (e.g. "503"), to play an IdP that is
// down; a missing jwks.json is a 404.
#include <string>
#include <string_view>

namespace demo {

// True when `path` is the JWKS endpoint; then `status` and `body` are the answer.
bool serveJwks(const std::string& dir, std::string_view path, int& status, std::string& body);

} // namespace demo
