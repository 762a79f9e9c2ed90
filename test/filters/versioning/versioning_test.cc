// `versioning`: routing by version, default, 400 for unknown or missing versions, path
// stripping, Deprecation / Sunset / Link headers, 410 after sunset, the per-consumer counter,
// explain and config errors. The fake request starts at 2024-06-01T12:00:00Z.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "source/filters/filter_stats.h"
#include "source/filters/identity.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::clusters;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::FakeUpstream;
using test::instanceOf;
using test::values;

constexpr char kConfig[] = R"({
  "sources": [{"header": "API-Version"}, {"path_prefix": "/api/"}],
  "default_version": "2",
  "versions": [
    {"name": "1", "cluster": "products-v1", "deprecation": "2024-01-01T00:00:00Z",
     "sunset": "2030-06-30T23:59:59Z", "link": "https://docs.example.com/migrate-v2"},
    {"name": "2", "cluster": "products"},
    {"name": "0", "cluster": "products-v1", "sunset": "2024-05-01T00:00:00Z",
     "gone_after_sunset": true, "link": "https://docs.example.com/v0-gone"}]})";

// The filter's state object, read through its base (describe() is what the access log shows).
constexpr FilterStateKey<FilterStateObject> kApiVersionState{"api_version"};

ValidationContext ctxClusters() { return clusters({"products", "products-v1"}); }

struct Run {
  explicit Run(const FilterConfig& c) : config(c), upstream(ctx.fakeWorker().http) {}
  FilterStatus route() { return instanceOf(config, owned).onRoute(ctx, upstream); }
  FilterStatus respond() { return instanceOf(config, owned).onResponseHeaders(ctx); }
  const FilterConfig& config;
  FakeRequestContext ctx;
  FakeUpstream upstream;
  FilterPtr owned;
};

TEST_CASE("versioning: a header version routes to its cluster", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  CHECK(c->seesResponse());
  CHECK(c->shared() != nullptr);
  Run r(*c);
  r.ctx.request().path = "/api/products/1";
  r.ctx.request().headers.add("api-version", "2");
  CHECK(r.route() == FilterStatus::Continue);
  CHECK(r.upstream.proxied == std::vector<std::string>{"products"});
  CHECK(r.ctx.request().path == "/api/products/1");
  CHECK(r.respond() == FilterStatus::Continue);
  CHECK_FALSE(r.ctx.response().headers.has("deprecation"));
  CHECK_FALSE(r.ctx.response().headers.has("sunset"));
  CHECK_FALSE(r.ctx.response().headers.has("link"));
  CHECK(r.ctx.filterState().get(kApiVersionState)->describe() == "2 (header api-version)");
}

TEST_CASE("versioning: a deprecated version gets Deprecation, Sunset and Link", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  Run r(*c);
  r.ctx.request().path = "/api/v1/products/1";
  CHECK(r.route() == FilterStatus::Continue);
  CHECK(r.upstream.proxied == std::vector<std::string>{"products-v1"});
  CHECK(r.ctx.request().path == "/api/products/1");  // the version segment is stripped
  r.respond();
  CHECK(values(r.ctx.response().headers, "deprecation") == std::vector<std::string>{"@1704067200"});
  CHECK(values(r.ctx.response().headers, "sunset") ==
        std::vector<std::string>{"Sun, 30 Jun 2030 23:59:59 GMT"});
  CHECK(values(r.ctx.response().headers, "link") ==
        std::vector<std::string>{"<https://docs.example.com/migrate-v2>; rel=\"deprecation\", "
                                 "<https://docs.example.com/migrate-v2>; rel=\"sunset\""});
}

TEST_CASE("versioning: deprecated calls are counted per consumer", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  Run anon(*c);
  anon.ctx.request().headers.add("api-version", "1");
  anon.route();
  Run alice(*c);
  alice.ctx.request().headers.add("api-version", "v1");
  auto id = std::make_unique<Identity>();
  id->subject = "alice";
  alice.ctx.filterState().set(kIdentity, std::move(id));
  alice.route();
  Run current(*c);
  current.ctx.request().headers.add("api-version", "2");
  current.route();
  const std::string a = renderFilterStats({&anon.ctx.worker().filterStats()});
  CHECK_THAT(a, Catch::Contains(
                    "gateway_filter_versioning_deprecated_calls_total{version=\"1\",consumer=\"-\"} 1"));
  const std::string b = renderFilterStats({&alice.ctx.worker().filterStats()});
  CHECK_THAT(b, Catch::Contains("gateway_filter_versioning_deprecated_calls_total{version=\"1\","
                                "consumer=\"alice\"} 1"));
  const std::string n = renderFilterStats({&current.ctx.worker().filterStats()});
  CHECK_THAT(n, !Catch::Contains("consumer="));
}

TEST_CASE("versioning: no version given: the default", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  Run r(*c);
  r.ctx.request().path = "/api/products/1";
  CHECK(r.route() == FilterStatus::Continue);
  CHECK(r.upstream.proxied == std::vector<std::string>{"products"});
  CHECK(r.ctx.filterState().get(kApiVersionState)->describe() ==
        "2 (no version given: the default)");
}

TEST_CASE("versioning: an unknown version gets 400 listing the supported ones", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  Run r(*c);
  r.ctx.request().headers.add("api-version", "9");
  CHECK(r.route() == FilterStatus::StopAndRespond);
  CHECK(r.upstream.proxied.empty());
  REQUIRE(r.ctx.failures.size() == 1);
  const ErrorInfo& e = r.ctx.failures[0];
  CHECK(e.status == 400);
  CHECK(e.code == "unsupported_api_version");
  CHECK(e.message ==
        "API version '9' (header api-version) is not supported; supported: 1, 2, 0");
  CHECK(*test::header(e.details, "supported_versions") == "1, 2, 0");
  CHECK(test::counter(r.ctx, "versioning", "unsupported") == 1);
  Run p(*c);
  p.ctx.request().path = "/api/v7/products";
  CHECK(p.route() == FilterStatus::StopAndRespond);
  CHECK(p.ctx.failures[0].message ==
        "API version '7' (path /api/v<version>/ (stripped)) is not supported; supported: 1, 2, 0");
}

TEST_CASE("versioning: without a default, a request without a version gets 400",
          "[versioning]") {
  auto c = createOk("versioning", R"({"sources": [{"query": "version"}],
      "versions": [{"name": "1", "cluster": "products"}]})", ctxClusters());
  Run r(*c);
  CHECK(r.route() == FilterStatus::StopAndRespond);
  REQUIRE(r.ctx.failures.size() == 1);
  CHECK(r.ctx.failures[0].status == 400);
  CHECK(r.ctx.failures[0].code == "api_version_required");
  CHECK(r.ctx.failures[0].message ==
        "an API version is required (query version); supported: 1");
}

TEST_CASE("versioning: keep_path sends the version segment on", "[versioning]") {
  auto c = createOk("versioning", R"({"sources": [{"path_prefix": "/api/", "keep_path": true}],
      "versions": [{"name": "1", "cluster": "products"}]})", ctxClusters());
  Run r(*c);
  r.ctx.request().path = "/api/v1/x";
  CHECK(r.route() == FilterStatus::Continue);
  CHECK(r.ctx.request().path == "/api/v1/x");
}

TEST_CASE("versioning: after its sunset a gone version gets 410 with Sunset and Link",
          "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  Run r(*c);
  r.ctx.request().headers.add("api-version", "0");
  CHECK(r.route() == FilterStatus::StopAndRespond);
  CHECK(r.upstream.proxied.empty());
  REQUIRE(r.ctx.failures.size() == 1);
  const ErrorInfo& e = r.ctx.failures[0];
  CHECK(e.status == 410);
  CHECK(e.code == "api_version_gone");
  CHECK(e.message ==
        "API version '0' was sunset at 2024-05-01T00:00:00Z; see https://docs.example.com/v0-gone");
  CHECK(*test::header(e.headers, "sunset") == "Wed, 01 May 2024 00:00:00 GMT");
  CHECK(*test::header(e.headers, "link") == "<https://docs.example.com/v0-gone>; rel=\"sunset\"");
  CHECK(test::counter(r.ctx, "versioning", "gone") == 1);
}

TEST_CASE("versioning: explain says which version and why", "[versioning]") {
  auto c = createOk("versioning", kConfig, ctxClusters());
  http::RequestHead h;
  h.method = "GET";
  h.path = "/api/v1/products/1";
  const std::string e = test::explain(*c, h);
  CHECK_THAT(e, Catch::StartsWith("version 1 (path /api/v<version>/ (stripped)) -> proxy to "
                                  "cluster 'products-v1', path /api/products/1; deprecated since "
                                  "2024-01-01T00:00:00Z; sunset 2030-06-30T23:59:59Z"));
  http::RequestHead bad;
  bad.path = "/api/products/1";
  bad.headers.add("api-version", "9");
  CHECK(test::explain(*c, bad) == "400 unsupported_api_version: API version '9' (header "
                                  "api-version) is not supported; supported: 1, 2, 0");
}

TEST_CASE("versioning: config errors", "[versioning]") {
  auto err = [](const std::string& json) { return createError("versioning", json, ctxClusters()); };
  const std::string v = R"("versions": [{"name": "1", "cluster": "products"}])";
  CHECK(err("{" + v + "}") ==
        "sources: required (e.g. [{header: API-Version}, {path_prefix: /api/}])");
  CHECK(err(R"({"sources": [{}], )" + v + "}") ==
        "sources[0]: set exactly one of header, path_prefix, query, media_type");
  CHECK(err(R"({"sources": [{"header": "a", "query": "b"}], )" + v + "}") ==
        "sources[0]: set exactly one of header, path_prefix, query, media_type");
  CHECK(err(R"({"sources": [{"header": "bad name"}], )" + v + "}") ==
        "sources[0].header: invalid header name 'bad name'");
  CHECK(err(R"({"sources": [{"path_prefix": "/api"}], )" + v + "}") ==
        "sources[0].path_prefix: must start and end with '/' (e.g. /api/)");
  CHECK(err(R"({"sources": [{"query": "v", "keep_path": true}], )" + v + "}") ==
        "sources[0].keep_path: path_prefix only");
  CHECK(err(R"({"sources": [{"media_type": "vnd.example"}], )" + v + "}") ==
        "sources[0].media_type: a type/subtype prefix such as application/vnd.example");
  const std::string s = R"("sources": [{"header": "api-version"}])";
  CHECK(err("{" + s + "}") == "versions: required (at least one version)");
  CHECK(err("{" + s + R"(, "versions": [{"cluster": "products"}]})") ==
        "versions[0].name: required");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1 2", "cluster": "products"}]})") ==
        "versions[0].name: letters, digits, '.', '_' and '-' only ('1 2')");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "products"},
                                        {"name": "1", "cluster": "products"}]})") ==
        "versions[1].name: duplicate version '1'");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1"}]})") == "versions[0].cluster: required");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "nope"}]})") ==
        "versions[0].cluster: unknown cluster 'nope'");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "products",
                                         "sunset": "next year"}]})") ==
        "versions[0].sunset: not an RFC 3339 time ('next year'; e.g. 2026-12-31T23:59:59Z)");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "products",
                                         "gone_after_sunset": true}]})") ==
        "versions[0].gone_after_sunset: needs sunset");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "products",
                                         "link": "https://x"}]})") ==
        "versions[0].link: needs deprecation or sunset");
  CHECK(err("{" + s + R"(, "versions": [{"name": "1", "cluster": "products",
                         "deprecation": "2024-01-01T00:00:00Z", "link": "<x>"}]})") ==
        "versions[0].link: a URI (no spaces, quotes or angle brackets)");
  CHECK(err("{" + s + ", " + v + R"(, "default_version": "3"})") ==
        "default_version: '3' is not one of versions");
}

} // namespace
} // namespace gw::filters
