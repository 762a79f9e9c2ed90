// Validation of Cluster.health_check, Cluster.outlier_detection and
// Cluster.panic_threshold_percent: every problem with its exact field path.
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
    endpoints: [{address: "127.0.0.1:9000"}, {address: "127.0.0.1:9001"}]
)yaml";

Config withCluster(const std::string& extra) {
  auto c = parseConfig(std::string(kBase) + extra);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

std::vector<std::string> errorLines(const Config& c) {
  std::vector<std::string> out;
  for (const auto& e : validateConfig(c)) {
    out.push_back(e.toString());
  }
  return out;
}

void expectOne(const std::string& extra, const std::string& path, const std::string& needle) {
  const auto errors = validateConfig(withCluster(extra));
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(e.toString());
  INFO(extra << "\n-> " << absl::StrJoin(lines, "\n"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == path);
  CHECK(absl::StrContains(errors[0].message, needle));
}

TEST_CASE("a full health_check, outlier_detection and panic threshold validate") {
  const Config c = withCluster(R"yaml(    health_check:
      path: /healthz
      interval: 2s
      interval_jitter: 0.5s
      timeout: 1s
      healthy_threshold: 2
      unhealthy_threshold: 3
      expected_statuses: ["200-299", "404"]
      host: backend.internal
      method: HEAD
    outlier_detection:
      consecutive_5xx: 5
      consecutive_gateway_failure: 3
      base_ejection_time: 30s
      max_ejection_time: 300s
      max_ejection_percent: 50
      interval: 10s
    panic_threshold_percent: 0
)yaml");
  INFO(absl::StrJoin(errorLines(c), "\n"));
  CHECK(validateConfig(c).empty());
}

TEST_CASE("health_check problems point at their field") {
  const std::string p = "clusters[0].health_check.";
  expectOne("    health_check: {interval: 1s}\n", p + "path", "required");
  expectOne("    health_check: {path: healthz}\n", p + "path", "must start with '/'");
  expectOne("    health_check: {path: \"/a b\"}\n", p + "path", "spaces");
  expectOne("    health_check: {path: /h, interval: 0s}\n", p + "interval", "positive");
  expectOne("    health_check: {path: /h, interval: -1s}\n", p + "interval", "negative");
  expectOne("    health_check: {path: /h, interval: 100000s}\n", p + "interval", "24h");
  expectOne("    health_check: {path: /h, interval_jitter: -1s}\n", p + "interval_jitter",
            "negative");
  expectOne("    health_check: {path: /h, timeout: 0s}\n", p + "timeout", "positive");
  expectOne("    health_check: {path: /h, timeout: 0.0000001s}\n", p + "timeout", "1ms");
  expectOne("    health_check: {path: /h, healthy_threshold: 1001}\n", p + "healthy_threshold",
            "1000");
  expectOne("    health_check: {path: /h, unhealthy_threshold: 5000}\n",
            p + "unhealthy_threshold", "1000");
  expectOne("    health_check: {path: /h, expected_statuses: [\"200\", \"2xx\"]}\n",
            p + "expected_statuses[1]", "'2xx'");
  expectOne("    health_check: {path: /h, expected_statuses: [\"300-200\"]}\n",
            p + "expected_statuses[0]", "lo <= hi");
  expectOne("    health_check: {path: /h, expected_statuses: [\"600\"]}\n",
            p + "expected_statuses[0]", "100..599");
  expectOne("    health_check: {path: /h, host: \"a b\"}\n", p + "host", "spaces");
  expectOne("    health_check: {path: /h, method: POST}\n", p + "method", "unsupported method");
  expectOne("    health_check: {path: /h, method: \"G T\"}\n", p + "method", "invalid method");
}

TEST_CASE("outlier_detection problems point at their field") {
  const std::string p = "clusters[0].outlier_detection.";
  expectOne("    outlier_detection: {consecutive_5xx: 1001}\n", p + "consecutive_5xx", "1000");
  expectOne("    outlier_detection: {consecutive_5xx: 0}\n", p + "consecutive_5xx",
            "consecutive_gateway_failure");
  expectOne("    outlier_detection: {consecutive_gateway_failure: 2000}\n",
            p + "consecutive_gateway_failure", "1000");
  expectOne("    outlier_detection: {base_ejection_time: 0s}\n", p + "base_ejection_time",
            "positive");
  expectOne("    outlier_detection: {max_ejection_time: 10s}\n", p + "max_ejection_time",
            "base_ejection_time");  // default base 30s
  expectOne("    outlier_detection: {base_ejection_time: 5s, max_ejection_time: 1s}\n",
            p + "max_ejection_time", "base_ejection_time");
  expectOne("    outlier_detection: {max_ejection_percent: 101}\n", p + "max_ejection_percent",
            "0..100");
  expectOne("    outlier_detection: {interval: -2s}\n", p + "interval", "negative");
  // consecutive_5xx 0 with the gateway trigger on is fine.
  CHECK(validateConfig(withCluster(
                           "    outlier_detection: {consecutive_5xx: 0, "
                           "consecutive_gateway_failure: 3}\n"))
            .empty());
}

TEST_CASE("panic_threshold_percent is 0..100") {
  expectOne("    panic_threshold_percent: 101\n", "clusters[0].panic_threshold_percent",
            "0..100");
  CHECK(validateConfig(withCluster("    panic_threshold_percent: 100\n")).empty());
}

} // namespace
} // namespace gw::config
