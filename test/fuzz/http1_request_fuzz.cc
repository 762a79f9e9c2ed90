// Fuzzes gw::http::Http1Parser as gatewayd's request parser: one downstream connection's bytes,
// pipelined requests, fed whole and in random pieces (the driver and its invariants:
// test/fuzz/http1_fuzz.h).
#include "test/fuzz/http1_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gw::fuzz::runHttp1Fuzz(gw::http::Http1Parser::Kind::Request, data, size);
}
