// The pure parts of the discovery client: NACK error details and the reconnect backoff. The
// stream itself is covered by test/integration/test_live_config.py against a real gRPC server.
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/v1/config.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/server/runtime_config.h"
#include "source/server/xds_client.h"

namespace gw::server {
namespace {

using std::chrono::milliseconds;

TEST_CASE("one problem: path and message split at the first ': '", "[xds]") {
  auto d = errorDetailFromMessage(
      "listeners[0].virtual_hosts[0].routes[2].route_filter.config.cluster: unknown cluster 'x'");
  REQUIRE(d.errors_size() == 1);
  CHECK(d.errors(0).path() ==
        "listeners[0].virtual_hosts[0].routes[2].route_filter.config.cluster");
  CHECK(d.errors(0).message() == "unknown cluster 'x'");
  CHECK(d.message() ==
        "listeners[0].virtual_hosts[0].routes[2].route_filter.config.cluster: unknown cluster 'x'");
}

TEST_CASE("one FieldError per line; the message keeps later ': '", "[xds]") {
  auto d = errorDetailFromMessage(
      "clusters[0].endpoints[0].address: cannot resolve 'nx:80': Name or service not known\n"
      "listeners[1].name: duplicate listener name 'main'\n");
  REQUIRE(d.errors_size() == 2);
  CHECK(d.errors(0).path() == "clusters[0].endpoints[0].address");
  CHECK(d.errors(0).message() == "cannot resolve 'nx:80': Name or service not known");
  CHECK(d.errors(1).path() == "listeners[1].name");
  CHECK(d.errors(1).message() == "duplicate listener name 'main'");
  CHECK(d.message() == "2 problems, first: clusters[0].endpoints[0].address: cannot resolve "
                       "'nx:80': Name or service not known");
}

TEST_CASE("a line without a field path is all message", "[xds]") {
  auto d = errorDetailFromMessage("gatewayd is draining; no new config is applied\n\n"
                                  "cannot resolve 'a b': bad\n");
  REQUIRE(d.errors_size() == 2);
  CHECK(d.errors(0).path().empty());
  CHECK(d.errors(0).message() == "gatewayd is draining; no new config is applied");
  CHECK(d.errors(1).path().empty());  // "cannot resolve 'a b'" has spaces: not a path
  CHECK(d.errors(1).message() == "cannot resolve 'a b': bad");
}

TEST_CASE("an empty message still says the config was rejected", "[xds]") {
  auto d = errorDetailFromMessage("");
  CHECK(d.errors_size() == 0);
  CHECK(d.message() == "config rejected");
}

TEST_CASE("compileConfig errors become field errors with their paths", "[xds]") {
  gateway::v1::Config c;
  REQUIRE(google::protobuf::util::JsonStringToMessage(R"({
    "listeners": [{"name": "main", "address": "127.0.0.1:0", "virtual_hosts": [{
      "name": "all", "domains": ["*"], "routes": [
        {"name": "a", "match": {"prefix": "/"},
         "route_filter": {"name": "router", "config": {"cluster": "missing"}}},
        {"name": "b", "match": {"prefix": "/"},
         "route_filter": {"name": "no_such_filter"}}]}]}]})",
                                                      &c)
              .ok());
  auto compiled = compileConfig(c);
  REQUIRE_FALSE(compiled.ok());
  auto d = errorDetailFromMessage(compiled.status().message());
  REQUIRE(d.errors_size() >= 2);
  bool cluster = false;
  bool filter = false;
  for (const auto& e : d.errors()) {
    INFO(e.path() << ": " << e.message());
    CHECK(e.path().rfind("listeners[0].virtual_hosts[0].routes[", 0) == 0);
    const std::string route = "listeners[0].virtual_hosts[0].routes[";
    cluster = cluster || e.path() == route + "0].route_filter.config.cluster";
    filter = filter || e.path().rfind(route + "1].route_filter", 0) == 0;
  }
  CHECK(cluster);
  CHECK(filter);
}

TEST_CASE("backoff: full jitter under an exponential ceiling capped at the max", "[xds]") {
  const milliseconds base(250);
  const milliseconds max(5000);
  const uint64_t top = std::numeric_limits<uint64_t>::max();
  CHECK(backoffDelay(0, base, max, 0).count() == 0);
  // random % (ceiling + 1): the largest value reachable is the ceiling itself.
  CHECK(backoffDelay(0, base, max, 250).count() == 250);
  CHECK(backoffDelay(1, base, max, 500).count() == 500);
  CHECK(backoffDelay(2, base, max, 1000).count() == 1000);
  CHECK(backoffDelay(4, base, max, 4000).count() == 4000);
  CHECK(backoffDelay(5, base, max, 5000).count() == 5000);  // 8000 capped at 5000
  for (int attempt = 0; attempt < 100; attempt++) {
    for (uint64_t r : {uint64_t{1}, uint64_t{12345}, top, top / 3}) {
      const auto d = backoffDelay(attempt, base, max, r);
      CHECK(d.count() >= 0);
      CHECK(d.count() <= std::min<int64_t>(5000, 250LL << std::min(attempt, 10)));
    }
  }
}

TEST_CASE("every config generation is counted while alive", "[xds]") {
  const int64_t before = RuntimeConfig::liveGenerations();
  {
    auto a = std::make_shared<RuntimeConfig>();
    auto b = std::make_shared<RuntimeConfig>();
    CHECK(RuntimeConfig::liveGenerations() == before + 2);
  }
  CHECK(RuntimeConfig::liveGenerations() == before);
}

} // namespace
} // namespace gw::server
