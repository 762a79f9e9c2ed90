#include "tools/demo_upstream/endpoints.h"

namespace demo {

namespace {

struct Route {
  std::string_view path;
  bool prefix;  // `path` is a prefix of the request path
  EndpointHandler handler;
};

// path -> handler; the first match wins.
constexpr Route kRoutes[] = {
    {"/oauth2/introspect", false, &serveIntrospection},
    {"/2015-03-31/functions/", true, &serveFunction},
    {"/soap/customers", false, &serveSoapCustomers},
};

} // namespace

EndpointHandler findEndpoint(std::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path) {
      return r.handler;
    }
  }
  return nullptr;
}

} // namespace demo
