#include "tools/demo_upstream/jwks_endpoint.h"

#include <fstream>
#include <sstream>

namespace demo {
namespace {

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

} // namespace

bool serveJwks(const std::string& dir, std::string_view path, int& status, std::string& body) {
  if (dir.empty() || path != "/.well-known/jwks.json") {
    return false;
  }
  std::string fail;
  if (readFile(dir + "/fail", fail)) {
    status = 503;
    try {
      const int s = std::stoi(fail);
      if (s >= 200 && s <= 999) {
        status = s;
      }
    } catch (...) {
    }
    body = "{\"error\":\"jwks endpoint failing (" + dir + "/fail)\"}";
    return true;
  }
  if (!readFile(dir + "/jwks.json", body)) {
    status = 404;
    body = "{\"error\":\"no jwks.json in " + dir + "\"}";
    return true;
  }
  status = 200;
  return true;
}

} // namespace demo
