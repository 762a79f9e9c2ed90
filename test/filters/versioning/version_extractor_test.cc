// Where `versioning` finds the version: each source kind, the configured order, and what does
// not count as a version.
#include <catch2/catch.hpp>

#include "source/filters/versioning/version_extractor.h"

namespace gw::filters::versioning {
namespace {

Source header(const char* n) { return {Source::Kind::Header, n, false}; }
Source path(const char* p, bool keep = false) { return {Source::Kind::PathPrefix, p, keep}; }
Source query(const char* q) { return {Source::Kind::Query, q, false}; }
Source media(const char* m) { return {Source::Kind::MediaType, m, false}; }

http::RequestHead head(const char* p, const char* q = "") {
  http::RequestHead h;
  h.method = "GET";
  h.path = p;
  h.query = q;
  return h;
}

TEST_CASE("versions: a header, with or without v", "[versioning]") {
  std::vector<Source> s = {header("api-version")};
  auto h = head("/api/products/1");
  CHECK(extract(s, h).source == nullptr);
  h.headers.add("api-version", " 2 ");
  auto e = extract(s, h);
  REQUIRE(e.source == &s[0]);
  CHECK(e.version == "2");
  h.headers.set("api-version", "v3");
  CHECK(extract(s, h).version == "3");
  h.headers.set("api-version", "");
  CHECK(extract(s, h).source == nullptr);  // empty does not count
}

TEST_CASE("versions: a path segment after the prefix, stripped", "[versioning]") {
  std::vector<Source> s = {path("/api/")};
  auto e = extract(s, head("/api/v1/products/1"));
  REQUIRE(e.source == &s[0]);
  CHECK(e.version == "1");
  CHECK(e.stripped_path == "/api/products/1");
  auto end = extract(s, head("/api/V2"));
  CHECK(end.version == "2");
  CHECK(end.stripped_path == "/api/");
  CHECK(extract(s, head("/api/v2.1-beta/x")).version == "2.1-beta");
  // Not versions: "values", "v" alone, a non-digit after v, other prefixes, odd characters.
  for (const char* p : {"/api/values/1", "/api/v/1", "/api/vx/1", "/other/v1/x", "/api/v1%2f/x",
                        "/api", "/apiv1/x"}) {
    INFO(p);
    CHECK(extract(s, head(p)).source == nullptr);
  }
}

TEST_CASE("versions: a query parameter, percent-decoded", "[versioning]") {
  std::vector<Source> s = {query("version")};
  CHECK(extract(s, head("/x", "a=1&version=2")).version == "2");
  CHECK(extract(s, head("/x", "%76ersion=v4")).version == "4");
  CHECK(extract(s, head("/x", "versions=2")).source == nullptr);
  CHECK(extract(s, head("/x", "version=")).source == nullptr);
}

TEST_CASE("versions: a vendor media type in Accept", "[versioning]") {
  std::vector<Source> s = {media("application/vnd.example")};
  auto h = head("/x");
  h.headers.add("accept", "text/html, Application/VND.example.v2+json; q=0.9");
  CHECK(extract(s, h).version == "2");
  auto plain = head("/x");
  plain.headers.add("accept", "application/vnd.example.v10");
  CHECK(extract(s, plain).version == "10");
  auto other = head("/x");
  other.headers.add("accept", "application/vnd.examplev2+json, application/vnd.example.x2+json,"
                              " application/vnd.example.v+json, application/json");
  CHECK(extract(s, other).source == nullptr);
}

TEST_CASE("versions: the first source in order that has one decides", "[versioning]") {
  std::vector<Source> s = {header("api-version"), path("/api/"), query("version"),
                           media("application/vnd.example")};
  auto h = head("/api/v1/products", "version=3");
  h.headers.add("accept", "application/vnd.example.v4+json");
  auto e = extract(s, h);
  CHECK(e.source == &s[1]);
  CHECK(e.version == "1");
  h.headers.add("api-version", "2");
  auto by_header = extract(s, h);
  CHECK(by_header.version == "2");
  CHECK(by_header.stripped_path == "/api/products");  // the path's segment still goes
  std::vector<Source> kept = {header("api-version"), path("/api/", true)};
  CHECK(extract(kept, h).stripped_path.empty());
  auto q = head("/api/products", "version=3");
  q.headers.add("accept", "application/vnd.example.v4+json");
  CHECK(extract(s, q).version == "3");
  CHECK(s[0].describe() == "header api-version");
  CHECK(s[1].describe() == "path /api/v<version>/ (stripped)");
  CHECK(s[3].describe() == "media type application/vnd.example.v<version>+json");
}

} // namespace
} // namespace gw::filters::versioning
