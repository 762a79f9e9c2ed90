// Fuzzes gw::http::Http1Parser as the upstream response parser: one pooled upstream
// connection's bytes (1xx heads, responses to HEAD, bodies read until the connection closes),
// fed whole and in random pieces (the driver and its invariants: test/fuzz/http1_fuzz.h).
#include "test/fuzz/http1_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gw::fuzz::runHttp1Fuzz(gw::http::Http1Parser::Kind::Response, data, size);
}
