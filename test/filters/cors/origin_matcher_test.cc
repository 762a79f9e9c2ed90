// `cors` origin rules alone: parsing serialized origins, exact / wildcard / null / '*' / regex
// matching (case, ports, schemes, look-alike hosts), and the errors of allow_origins and
// allow_origin_regexes with their field paths, the credentials rules included.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/filters/cors/origin_matcher.h"

namespace gw::filters::cors {
namespace {

using Origins = google::protobuf::RepeatedPtrField<std::string>;

Origins list(std::initializer_list<const char*> items) {
  Origins out;
  for (const char* i : items) {
    out.Add(i);
  }
  return out;
}

std::shared_ptr<const OriginMatcher> matcherOk(std::initializer_list<const char*> origins,
                                               std::initializer_list<const char*> regexes = {},
                                               bool credentials = false) {
  auto m = OriginMatcher::create(list(origins), list(regexes), credentials);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  return *m;
}

std::string matcherError(std::initializer_list<const char*> origins,
                         std::initializer_list<const char*> regexes = {},
                         bool credentials = false) {
  auto m = OriginMatcher::create(list(origins), list(regexes), credentials);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(m.status().message());
}

bool allowed(const OriginMatcher& m, absl::string_view origin) {
  return m.match(origin) != nullptr;
}

TEST_CASE("cors origins: parseOrigin takes serialized origins only", "[filters][cors]") {
  OriginParts p;
  REQUIRE(parseOrigin("https://app.example.com", p));
  CHECK(p.scheme == "https");
  CHECK(p.host == "app.example.com");
  CHECK(p.port.empty());
  REQUIRE(parseOrigin("HTTP://App.Example.COM:8443", p));
  CHECK(p.scheme == "HTTP");
  CHECK(p.host == "App.Example.COM");
  CHECK(p.port == "8443");
  REQUIRE(parseOrigin("http://[::1]:3000", p));
  CHECK(p.host == "[::1]");
  CHECK(p.port == "3000");
  CHECK(parseOrigin("http://localhost", p));
  CHECK(parseOrigin("chrome-extension://abcdef", p));
  CHECK(parseOrigin("https://my_host.example.com", p));
  CHECK(parseOrigin("https://a.example.com:65535", p));

  for (const char* bad : {"", "null", "app.example.com", "://app.example.com", "https://",
                          "https:/app.example.com", "https://app.example.com/",
                          "https://app.example.com/path", "https://app.example.com?x=1",
                          "https://app.example.com#f", "https://user@app.example.com",
                          "https://app.example.com.", "https://.example.com",
                          "https://a..example.com", "https://app.example.com:",
                          "https://app.example.com:0", "https://app.example.com:0443",
                          "https://app.example.com:65536", "https://app.example.com:123456",
                          "https://app.example.com:8x", "https://app.example.com:443:1",
                          "1https://a.com", "ht tp://a.com", "https://a b.com", "https://[::1",
                          "https://[]", "https://[::1]x", "https://[zz::1]", "https://*.a.com",
                          "https://\xc3\xa9.example.com", "https://a.com\r\nx: y"}) {
    INFO(bad);
    CHECK_FALSE(parseOrigin(bad, p));
  }
}

TEST_CASE("cors origins: exact, case-insensitive scheme and host, exact port",
          "[filters][cors]") {
  auto m = matcherOk({"https://app.example.com", "http://localhost:3000"});
  CHECK(allowed(*m, "https://app.example.com"));
  CHECK(allowed(*m, "HTTPS://APP.Example.com"));
  CHECK(allowed(*m, "http://localhost:3000"));
  CHECK(allowed(*m, "HTTP://LOCALHOST:3000"));
  CHECK_FALSE(allowed(*m, "http://app.example.com"));        // scheme
  CHECK_FALSE(allowed(*m, "https://app.example.com:443"));   // port written out
  CHECK_FALSE(allowed(*m, "https://app.example.com:8443"));  // port
  CHECK_FALSE(allowed(*m, "http://localhost"));
  CHECK_FALSE(allowed(*m, "http://localhost:30000"));
  CHECK_FALSE(allowed(*m, "https://app.example.com/"));
  CHECK_FALSE(allowed(*m, "https://app.example.com.evil.com"));
  CHECK_FALSE(allowed(*m, "https://evil.app.example.com"));
  CHECK_FALSE(allowed(*m, "https://app.example.co"));
  CHECK_FALSE(allowed(*m, "null"));
  CHECK_FALSE(allowed(*m, ""));
  // The configured text's case does not matter either.
  auto upper = matcherOk({"HTTPS://App.Example.Com"});
  CHECK(allowed(*upper, "https://app.example.com"));
  CHECK(upper->match("https://app.example.com")->describe() == "exact 'HTTPS://App.Example.Com'");
}

TEST_CASE("cors origins: a wildcard matches subdomains only, same scheme and port",
          "[filters][cors]") {
  auto m = matcherOk({"https://*.example.com"});
  CHECK(allowed(*m, "https://a.example.com"));
  CHECK(allowed(*m, "https://a.b.example.com"));
  CHECK(allowed(*m, "https://A.Example.COM"));
  CHECK(allowed(*m, "HTTPS://x-1.example.com"));
  CHECK_FALSE(allowed(*m, "https://example.com"));
  CHECK_FALSE(allowed(*m, "https://evilexample.com"));
  CHECK_FALSE(allowed(*m, "https://a.evilexample.com"));
  CHECK_FALSE(allowed(*m, "http://a.example.com"));
  CHECK_FALSE(allowed(*m, "https://a.example.com:8443"));
  CHECK_FALSE(allowed(*m, "https://a.example.com.evil.com"));
  CHECK_FALSE(allowed(*m, "https://a.example.com."));
  CHECK_FALSE(allowed(*m, "https://.example.com"));
  CHECK_FALSE(allowed(*m, "https://a.example.com/x.example.com"));
  CHECK_FALSE(allowed(*m, "https://evil.com#.example.com"));
  CHECK_FALSE(allowed(*m, "https://evil.com?.example.com"));
  CHECK_FALSE(allowed(*m, "https://evil.com%2e.example.com"));
  CHECK_FALSE(allowed(*m, "https://user@a.example.com"));
  CHECK_FALSE(allowed(*m, "null"));
  CHECK(m->match("https://a.example.com")->describe() == "wildcard 'https://*.example.com'");

  auto ported = matcherOk({"https://*.example.com:8443"});
  CHECK(allowed(*ported, "https://a.example.com:8443"));
  CHECK_FALSE(allowed(*ported, "https://a.example.com"));
  CHECK_FALSE(allowed(*ported, "https://a.example.com:443"));
}

TEST_CASE("cors origins: null only when listed; '*' allows every other origin",
          "[filters][cors]") {
  auto with_null = matcherOk({"null", "https://app.example.com"});
  CHECK(allowed(*with_null, "null"));
  CHECK(with_null->match("null")->describe() == "'null'");
  CHECK_FALSE(allowed(*with_null, "https://null"));

  auto all = matcherOk({"*"});
  CHECK(all->allowAll());
  CHECK(allowed(*all, "https://anything.example"));
  CHECK(allowed(*all, "http://localhost:1234"));
  CHECK(all->match("http://x.test")->describe() == "'*'");
  CHECK_FALSE(allowed(*all, "null"));       // not listed explicitly
  CHECK_FALSE(allowed(*all, "not-an-origin"));
  CHECK_FALSE(allowed(*all, "https://a.test/path"));

  auto re = matcherOk({}, {".*"});
  CHECK(allowed(*re, "https://x.test"));
  CHECK_FALSE(allowed(*re, "null"));  // regexes never see null
}

TEST_CASE("cors origins: regexes match the whole origin, case-insensitively",
          "[filters][cors]") {
  auto m = matcherOk({"https://app.example.com"},
                     {R"(https://[a-z0-9-]+\.preview\.example\.com)", R"(http://localhost:\d+)"});
  CHECK(allowed(*m, "https://pr-12.preview.example.com"));
  CHECK(allowed(*m, "HTTPS://PR-12.Preview.Example.com"));
  CHECK(allowed(*m, "http://localhost:5173"));
  CHECK(m->match("http://localhost:5173")->describe() == R"(regex 'http://localhost:\\d+')");
  CHECK_FALSE(allowed(*m, "https://a.b.preview.example.com"));
  CHECK_FALSE(allowed(*m, "https://pr-12.preview.example.com.evil.com"));  // full match
  CHECK_FALSE(allowed(*m, "xhttp://localhost:5173"));
  CHECK_FALSE(allowed(*m, "http://localhost"));
  // A value that is not an origin is not handed to the regexes.
  auto loose = matcherOk({}, {R"(https://app\.example\.com.*)"});
  CHECK(allowed(*loose, "https://app.example.com"));
  CHECK_FALSE(allowed(*loose, "https://app.example.com/evil"));
  CHECK(allowed(*loose, "https://app.example.com.evil.com"));  // why credentials refuse it
  // The first rule in config order answers.
  auto both = matcherOk({"https://*.example.com"}, {R"(https://a\.example\.com)"});
  CHECK(both->match("https://a.example.com")->describe() == "wildcard 'https://*.example.com'");
}

TEST_CASE("cors origins: config errors name the field", "[filters][cors]") {
  CHECK(matcherError({}) ==
        "allow_origins: required (at least one origin, or allow_origin_regexes)");
  CHECK(matcherError({"https://a.com", ""}) == "allow_origins[1]: must not be empty");
  CHECK(matcherError({"https://app.example.com/"}) ==
        "allow_origins[0]: 'https://app.example.com/' is not an origin: write "
        "scheme://host[:port] without a path, query or trailing '/' (e.g. "
        "'https://app.example.com')");
  CHECK(matcherError({"https://a.com", "app.example.com"}).rfind(
            "allow_origins[1]: 'app.example.com' is not an origin", 0) == 0);
  CHECK(matcherError({"https://a.com:99999"}).rfind("allow_origins[0]: 'https://a.com:99999' is "
                                                    "not an origin", 0) == 0);
  for (const char* bad : {"https://*", "https://a*.example.com", "https://*example.com",
                          "*://a.example.com", "https://a.*.example.com", "*.example.com",
                          "https://*.*.example.com", "https://*.example.com:*"}) {
    INFO(bad);
    CHECK(matcherError({bad}) ==
          absl::StrCat("allow_origins[0]: '", bad,
                       "': '*' may only be a whole leftmost host label followed by '.', as in "
                       "'https://*.example.com'"));
  }
  CHECK(matcherError({"https://*.com"}) ==
        "allow_origins[0]: 'https://*.com' would allow every host under a top-level domain; a "
        "wildcard needs at least two labels after '*.'");
  CHECK(matcherError({"https://*.example.com/"}).rfind(
            "allow_origins[0]: 'https://*.example.com/' is not an origin", 0) == 0);
  CHECK(matcherError({"https://a.com", "HTTPS://A.com"}) ==
        "allow_origins[1]: 'HTTPS://A.com' repeats allow_origins[0]");
  CHECK(matcherError({"null", "NULL"}) == "allow_origins[1]: 'NULL' repeats allow_origins[0]");
  CHECK(matcherError({"https://a.com", "*"}) ==
        "allow_origins[1]: '*' allows every origin and cannot be combined with other entries");
  CHECK(matcherError({"*"}, {"x"}) ==
        "allow_origin_regexes: cannot be combined with allow_origins '*'");
  CHECK(matcherError({}, {"https://a\\.com", ""}) == "allow_origin_regexes[1]: must not be empty");
  CHECK(matcherError({}, {"https://(a"}).rfind("allow_origin_regexes[0]: invalid RE2: ", 0) == 0);
}

TEST_CASE("cors origins: credentials refuse '*' and regexes that match foreign origins",
          "[filters][cors]") {
  CHECK(matcherError({"*"}, {}, true) ==
        "allow_origins[0]: '*' cannot be used with allow_credentials: true (browsers refuse "
        "'Access-Control-Allow-Origin: *' with credentials); list the origins");
  const std::string tail =
      ", an origin nobody allows on purpose: with allow_credentials: true any site could make "
      "credentialed requests; anchor the pattern to your hosts (e.g. "
      "'https://[a-z0-9-]+\\.example\\.com')";
  CHECK(matcherError({}, {".*"}, true) ==
        "allow_origin_regexes[0]: matches 'https://cors-probe.invalid'" + tail);
  CHECK(matcherError({"https://a.com"}, {"https://a\\.com", "https?://.+"}, true) ==
        "allow_origin_regexes[1]: matches 'https://cors-probe.invalid'" + tail);
  CHECK(matcherError({}, {"http://[^/]*"}, true) ==
        "allow_origin_regexes[0]: matches 'http://cors-probe.invalid'" + tail);
  CHECK(matcherError({}, {R"(https://.*\.invalid)"}, true) ==
        "allow_origin_regexes[0]: matches 'https://cors-probe.invalid'" + tail);
  // Open-ended after the host: found by extending the smallest match.
  CHECK(matcherError({}, {R"(https://app\.example\.com.*)"}, true) ==
        "allow_origin_regexes[0]: matches 'https://app.example.com.cors-probe.invalid'" + tail);
  // The same regexes are accepted without credentials (they then reflect like '*' would allow).
  matcherOk({}, {".*"}, false);
  matcherOk({}, {R"(https://app\.example\.com.*)"}, false);
  // Anchored patterns pass with credentials.
  auto m = matcherOk({"https://*.example.com", "null"},
                     {R"(https://[a-z0-9-]+\.example\.com)", R"(http://localhost:\d{2,5})",
                      R"(https://(app|admin)\.example\.org(:8443)?)"},
                     true);
  CHECK(allowed(*m, "https://admin.example.org:8443"));
  CHECK(allowed(*m, "null"));
}

} // namespace
} // namespace gw::filters::cors
