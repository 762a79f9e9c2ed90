#pragma once
// The demo upstream's application endpoints: requests whose whole body (up to kMaxBody) a handler
// reads and answers, e.g. the OAuth2 introspection endpoint. Every other path gets the default
// echo JSON (main.cc). Adding an endpoint is one handler file and one row in endpoints.cc.
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/demo_upstream/text_util.h"

namespace demo {

struct EndpointRequest {
  std::string_view method;
  std::string_view path;
  std::string_view query;  // without '?'
  const HeaderList& headers;
  std::string_view body;   // the whole body, at most kMaxEndpointBody bytes (the rest is cut)
  std::string_view service;   // --service
  std::string_view instance;  // --instance
};

struct EndpointResponse {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // more response headers
  std::string body;
  bool hang = false;  // never answer (the connection stays open): for timeout tests
};

using EndpointHandler = EndpointResponse (*)(const EndpointRequest&);

constexpr size_t kMaxEndpointBody = 64 * 1024;

// The handler of `path`, or nullptr (the default echo JSON answers).
EndpointHandler findEndpoint(std::string_view path);

// The handlers (one file each).
EndpointResponse serveIntrospection(const EndpointRequest& r);  // introspection.cc
EndpointResponse serveFunction(const EndpointRequest& r);       // function_runtime.cc
EndpointResponse serveSoapCustomers(const EndpointRequest& r);  // soap_service.cc

} // namespace demo
