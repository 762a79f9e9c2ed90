// Validation of Cluster.protocol and Cluster.http2: every problem with its exact field path.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "source/config/config.h"

namespace gw::config {
namespace {

using gateway::v1::Config;

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

std::vector<ConfigError> errorsOf(const std::string& extra) {
  auto c = parseConfig(std::string(kBase) + extra);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return validateConfig(*c);
}

void expectOne(const std::string& extra, const std::string& path, const std::string& needle) {
  const auto errors = errorsOf(extra);
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(e.toString());
  INFO(extra << "\n-> " << absl::StrJoin(lines, "\n"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == path);
  CHECK(absl::StrContains(errors[0].message, needle));
}

TEST_CASE("HTTP1 (default) and H2C with full http2 settings validate") {
  CHECK(errorsOf("").empty());
  CHECK(errorsOf("    protocol: HTTP1\n").empty());
  CHECK(errorsOf(R"yaml(    protocol: H2C
    http2:
      max_concurrent_streams: 10000
      initial_stream_window_size: 65535
      initial_connection_window_size: 2147483647
      max_header_list_size: 1024
)yaml").empty());
}

TEST_CASE("H2 and AUTO need TLS, H2C refuses it") {
  expectOne("    protocol: H2\n", "clusters[0].protocol", "H2 is HTTP/2 over TLS and needs `tls`");
  expectOne("    protocol: AUTO\n", "clusters[0].protocol",
            "AUTO is HTTP/2 over TLS and needs `tls`");
  CHECK(errorsOf("    protocol: H2\n    tls: {verify: false}\n").empty());
  CHECK(errorsOf("    protocol: AUTO\n    tls: {verify: false}\n").empty());
  CHECK(errorsOf("    protocol: H2\n    tls: {verify: false}\n    http2: {max_concurrent_streams: 7}\n")
            .empty());
  expectOne("    protocol: H2C\n    tls: {verify: false}\n", "clusters[0].protocol",
            "H2C is HTTP/2 without TLS");
}

TEST_CASE("the offered ALPN names fit the protocol") {
  CHECK(errorsOf("    protocol: H2\n    tls: {alpn: [h2]}\n").empty());
  CHECK(errorsOf("    protocol: AUTO\n    tls: {alpn: [h2, http/1.1]}\n").empty());
  CHECK(errorsOf("    tls: {alpn: [http/1.1]}\n").empty());
  expectOne("    protocol: H2\n    tls: {alpn: [http/1.1]}\n", "clusters[0].tls.alpn",
            "protocol H2 must offer h2");
  expectOne("    protocol: AUTO\n    tls: {alpn: [http/1.1]}\n", "clusters[0].tls.alpn",
            "protocol AUTO must offer h2");
  expectOne("    protocol: AUTO\n    tls: {alpn: [h2]}\n", "clusters[0].tls.alpn",
            "protocol AUTO must offer http/1.1 as well as h2");
  expectOne("    tls: {alpn: [http/1.1, h2]}\n", "clusters[0].tls.alpn[1]",
            "this cluster speaks HTTP1");
}

TEST_CASE("active health checks only on HTTP1 clusters, plaintext or TLS") {
  const std::string hc = "    health_check: {path: /healthz}\n";
  CHECK(errorsOf(hc).empty());
  CHECK(errorsOf("    tls: {verify: false}\n" + hc).empty());
  expectOne("    protocol: H2C\n" + hc, "clusters[0].health_check", "this cluster speaks H2C");
  expectOne("    protocol: H2\n    tls: {}\n" + hc, "clusters[0].health_check",
            "this cluster speaks H2");
}

TEST_CASE("an unknown protocol is refused by the parser") {
  auto c = parseConfig(std::string(kBase) + "    protocol: SPDY\n");
  CHECK_FALSE(c.ok());
}

TEST_CASE("http2 settings out of range name their field") {
  expectOne("    protocol: H2C\n    http2: {max_concurrent_streams: 0}\n",
            "clusters[0].http2.max_concurrent_streams", "must be 1..10000");
  expectOne("    protocol: H2C\n    http2: {max_concurrent_streams: 10001}\n",
            "clusters[0].http2.max_concurrent_streams", "must be 1..10000");
  expectOne("    protocol: H2C\n    http2: {initial_stream_window_size: 65534}\n",
            "clusters[0].http2.initial_stream_window_size", "must be 65535..2147483647");
  expectOne("    protocol: H2C\n    http2: {initial_connection_window_size: 2147483648}\n",
            "clusters[0].http2.initial_connection_window_size", "must be 65535..2147483647");
  expectOne("    protocol: H2C\n    http2: {max_header_list_size: 1023}\n",
            "clusters[0].http2.max_header_list_size", "must be 1024..16777216");
}

TEST_CASE("http2 on an HTTP1 cluster is refused") {
  expectOne("    http2: {max_concurrent_streams: 5}\n", "clusters[0].http2",
            "only for HTTP/2 clusters");
}

} // namespace
} // namespace gw::config
