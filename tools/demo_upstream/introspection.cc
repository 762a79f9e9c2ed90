#include <openssl/evp.h>

#include <cctype>
#include <cstdlib>
#include <ctime>

#include "tools/demo_upstream/endpoints.h"

namespace demo {

// OAuth2 token introspection (RFC 7662) for the oauth2_introspection filter's tests.
// POST /oauth2/introspect, form body token=...; client auth: HTTP basic demo-gateway:demo-secret
// (else 401 invalid_client). Fixed demo tokens:
//   demo-active-payments  active, scope "payments read", sub alice, exp in one hour
//   demo-active-orders    active, scope "orders:read", sub bob, exp in one hour
//   demo-inactive         {"active": false} (as is any unknown token)
//   demo-hang             never answered (the connection stays open)
//   demo-error            500
//   demo-notjson          200 with a text body
// GET /oauth2/introspect answers {"calls": N}: the POSTs received so far.
namespace {
uint64_t gIntrospectCalls = 0;

std::string formParam(std::string_view body, std::string_view name) {
  for (size_t pos = 0; pos <= body.size();) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) {
      amp = body.size();
    }
    std::string_view kv = body.substr(pos, amp - pos);
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == name) {
      std::string out;
      std::string_view v = kv.substr(eq + 1);
      for (size_t i = 0; i < v.size(); i++) {
        if (v[i] == '%' && i + 2 < v.size() && isxdigit(static_cast<unsigned char>(v[i + 1])) &&
            isxdigit(static_cast<unsigned char>(v[i + 2]))) {
          out.push_back(static_cast<char>(strtol(std::string(v.substr(i + 1, 2)).c_str(), nullptr, 16)));
          i += 2;
        } else {
          out.push_back(v[i] == '+' ? ' ' : v[i]);
        }
      }
      return out;
    }
    pos = amp + 1;
  }
  return "";
}

}  // namespace

EndpointResponse serveIntrospection(const EndpointRequest& r) {
  EndpointResponse out;
  int& status = out.status;
  std::string& body = out.body;
  if (r.method == "GET") {
    body = "{\"calls\":" + std::to_string(gIntrospectCalls) + "}";
  } else {
    ++gIntrospectCalls;
    static const std::string kExpectedAuth = [] {
      const std::string userpass = "demo-gateway:demo-secret";
      unsigned char out[64];
      const int n = EVP_EncodeBlock(out, reinterpret_cast<const unsigned char*>(userpass.data()),
                                    static_cast<int>(userpass.size()));
      return "Basic " + std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    }();
    const std::string* found = findHeader(r.headers, "authorization");
    const std::string auth = found == nullptr ? "" : *found;
    const std::string token = formParam(r.body, "token");
    const long long exp = static_cast<long long>(time(nullptr)) + 3600;
    if (auth != kExpectedAuth) {
      status = 401;
      body = "{\"error\":\"invalid_client\"}";
    } else if (token == "demo-hang") {
      out.hang = true;  // never answered
      return out;
    } else if (token == "demo-error") {
      status = 500;
      body = "{\"error\":\"server_error\"}";
    } else if (token == "demo-notjson") {
      out.content_type = "text/plain";
      body = "this is not json";
    } else if (token == "demo-active-payments") {
      body = "{\"active\":true,\"scope\":\"payments read\",\"sub\":\"alice\","
             "\"client_id\":\"demo-app\",\"username\":\"alice\",\"exp\":" +
             std::to_string(exp) + "}";
    } else if (token == "demo-active-orders") {
      body = "{\"active\":true,\"scope\":\"orders:read\",\"sub\":\"bob\","
             "\"client_id\":\"demo-app\",\"username\":\"bob\",\"exp\":" +
             std::to_string(exp) + "}";
    } else {
      body = "{\"active\":false}";
    }
  }
  return out;
}

} // namespace demo
