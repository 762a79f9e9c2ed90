// Validation of Config.cache_purges (fleet-wide cache purges): ids and selectors, with field
// paths.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "source/config/config.h"

namespace gw::config {
namespace {

constexpr char kBase[] = R"yaml(
listeners:
  - name: public
    address: 127.0.0.1:8080
    virtual_hosts:
      - name: main
        domains: ["*"]
        routes:
          - name: api
            match: {prefix: /}
            route_filter: {name: router, config: {cluster: backend}}
clusters:
  - name: backend
    endpoints: [{address: "127.0.0.1:9000"}]
)yaml";

std::vector<std::string> errorsOf(const std::string& extra) {
  auto c = parseConfig(std::string(kBase) + extra);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  std::vector<std::string> out;
  for (const ConfigError& e : validateConfig(*c)) {
    out.push_back(e.toString());
  }
  return out;
}

TEST_CASE("cache_purges: valid purges pass", "[config][cache]") {
  CHECK(errorsOf(R"yaml(
cache_purges:
  - {id: p1, prefix: /api/products/}
  - {id: p2, key: "/api/products/7?a=1"}
  - {id: p3, tag: catalog}
  - {id: p4, all: true, issued_at: "2026-12-06T04:00:00Z"}
)yaml")
            .empty());
}

TEST_CASE("cache_purges: every problem with its field path", "[config][cache]") {
  const auto errors = errorsOf(R"yaml(
cache_purges:
  - {prefix: /a/}
  - {id: p1, prefix: /a/, tag: t}
  - {id: p1, key: products/7}
  - {id: p3}
  - {id: p4, prefix: a/}
)yaml");
  const std::vector<std::string> want = {
      "cache_purges[0].id: required",
      "cache_purges[1]: set exactly one of key, prefix, tag or all",
      "cache_purges[2].id: duplicate purge id 'p1' (also cache_purges[1])",
      "cache_purges[2].key: must be a path starting with '/'",
      "cache_purges[3]: set exactly one of key, prefix, tag or all",
      "cache_purges[4].prefix: must be a path starting with '/'",
  };
  CHECK(errors == want);
}

} // namespace
} // namespace gw::config
