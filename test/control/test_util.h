#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "gateway/v1/config.pb.h"
#include "source/config/config.h"

namespace gw::control::testing {

// A fresh directory under the test's temp dir, removed (with its content) at scope exit.
class TempDir {
public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/gwctl-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline gateway::v1::Config parse(const std::string& yaml) {
  auto c = config::parseConfig(yaml);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

// A small valid config: one listener "edge" (port 0) with virtual host "api" routing /NAME to the
// cluster NAME for each of `clusters`, plus a direct-response route "health".
inline gateway::v1::Config validConfig(std::initializer_list<std::string> clusters = {"users"},
                                       const std::string& health_body = "ok") {
  std::string routes;
  std::string cluster_defs;
  for (const auto& c : clusters) {
    routes += "          - name: " + c + "\n            match: {prefix: /" + c +
              "}\n            route_filter: {name: router, config: {cluster: " + c + "}}\n";
    cluster_defs += "  - name: " + c + "\n    endpoints: [{address: \"127.0.0.1:9\"}]\n";
  }
  return parse(
      "listeners:\n"
      "  - name: edge\n"
      "    address: 127.0.0.1:0\n"
      "    virtual_hosts:\n"
      "      - name: api\n"
      "        domains: [\"*\"]\n"
      "        routes:\n" +
      routes +
      "          - name: health\n"
      "            match: {path: /healthz}\n"
      "            route_filter: {name: direct_response, config: {status: 200, body: \"" +
      health_body + "\"}}\n" + "clusters:\n" + cluster_defs);
}

} // namespace gw::control::testing
