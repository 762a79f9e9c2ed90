// Fuzzes the `soap` filter's XML -> JSON side, gw::filters::soap::parseResponse
// (source/filters/soap/soap_codec.h). The first byte picks the options (keep_namespaces,
// array_elements, max_depth 2..33), the rest is the SOAP response. Invariants: Ok gives a JSON
// object RapidJSON parses (the reference parser) and nothing else; Fault gives no JSON;
// Rejected and Invalid give a reason; a document with "<!DOCTYPE" or "<!ENTITY" is always
// Rejected; parsing again gives the same result. Any violation abort()s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "source/filters/soap/soap_codec.h"
#include "test/fuzz/json_reference.h"

namespace {

[[noreturn]] void fail(const char* what) {
  fprintf(stderr, "soap xml fuzz invariant violated: %s\n", what);
  abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gw::filters::soap::SoapResult;
  if (size == 0) {
    return 0;
  }
  gw::filters::soap::ResponseOptions o;
  o.response_element = "GetCustomerResponse";
  o.keep_namespaces = (data[0] & 1) != 0;
  if ((data[0] & 2) != 0) {
    o.array_elements = {"item", "c:item", "phone"};
  }
  o.max_depth = 2 + ((data[0] >> 2) & 31);
  const absl::string_view xml(reinterpret_cast<const char*>(data + 1), size - 1);

  const SoapResult r = gw::filters::soap::parseResponse(xml, o);
  switch (r.kind) {
  case SoapResult::Kind::Ok: {
    if (r.json.empty() || r.json[0] != '{' || !r.error.empty()) {
      fail("Ok without a JSON object, or with an error");
    }
    const gw::fuzz::JsonParse p = gw::fuzz::parseReferenceJson(r.json);
    if (!p.ok || !p.object) {
      fprintf(stderr, "json: %s\nerror: %s\n", r.json.c_str(), p.error.c_str());
      fail("Ok JSON that RapidJSON does not read as an object");
    }
    break;
  }
  case SoapResult::Kind::Fault:
    if (!r.json.empty()) {
      fail("a Fault with JSON");
    }
    break;
  case SoapResult::Kind::Rejected:
  case SoapResult::Kind::Invalid:
    if (r.error.empty() || !r.json.empty()) {
      fail("a refusal without a reason, or with JSON");
    }
    break;
  }
  if ((absl::StrContains(xml, "<!DOCTYPE") || absl::StrContains(xml, "<!ENTITY")) &&
      r.kind != SoapResult::Kind::Rejected) {
    fail("a DOCTYPE or ENTITY not refused");
  }
  const SoapResult again = gw::filters::soap::parseResponse(xml, o);
  if (again.kind != r.kind || again.json != r.json || again.fault_code != r.fault_code ||
      again.fault_string != r.fault_string || again.client_fault != r.client_fault ||
      again.error != r.error) {
    fail("a second parse differs");
  }
  return 0;
}
