// What the connection manager decides without I/O: request preparation (routing host, refusals,
// route), header policy (upstream head, hop-by-hop, Forwarded, underscores) and the access log
// line. No sockets.
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "source/config/config.h"
#include "source/filters/identity.h"
#include "source/server/access_log.h"
#include "source/server/header_policy.h"
#include "source/server/request_preparation.h"
#include "source/server/runtime_config.h"

namespace gw::server {
namespace {

RuntimeConfigConstSharedPtr compile(const std::string& yaml) {
  auto parsed = config::parseConfig(yaml);
  REQUIRE(parsed.ok());
  auto rc = compileConfig(*std::move(parsed), /*serving=*/false);
  INFO(rc.status().ToString());
  REQUIRE(rc.ok());
  return *rc;
}

const char* kConfig = R"(
listeners:
  - name: l
    address: 127.0.0.1:0
    limits: {max_request_body_bytes: 100}
    virtual_hosts:
      - name: secure
        domains: ["secure.example.com"]
        routes: [{name: s, match: {prefix: /}, route_filter: {name: direct_response}}]
      - name: other
        domains: ["*"]
        routes: [{name: o, match: {prefix: /o/}, route_filter: {name: direct_response}}]
)";

http::RequestHead head(const std::string& target, const std::string& host = "secure.example.com",
                       int minor = 1) {
  http::RequestHead h;
  h.method = "GET";
  h.target = target;
  h.version_minor = minor;
  if (!host.empty()) {
    h.headers.add("host", host);
  }
  return h;
}

TEST_CASE("routingHost: ports, case, one trailing dot; not a name is refused",
          "[request_policy]") {
  std::string out;
  for (const char* ok : {"secure.example.com", "SECURE.example.com.", "secure.example.com:8080",
                         "secure.example.com.:8080"}) {
    INFO(ok);
    REQUIRE(routingHost(ok, out));
    CHECK(out == "secure.example.com");
  }
  REQUIRE(routingHost("[::1]:80", out));
  CHECK(out == "[::1]");
  REQUIRE(routingHost("", out));
  CHECK(out.empty());
  for (const char* bad : {"a..b", ".a", "a..", "..", "a b", "a/b", "a@b", "[::1", "[::1]x",
                          "[::g]", "a:port", "a:123456", "a:8080:9"}) {
    INFO(bad);
    CHECK_FALSE(routingHost(bad, out));
  }
}

TEST_CASE("prepareRequest: routing and refusals", "[request_policy]") {
  auto rc = compile(kConfig);
  const ListenerConfig& l = *rc->listeners[0];
  SECTION("trailing dot: the same virtual host") {
    auto h = head("/x", "secure.example.com.");
    auto p = prepareRequest(l, h, {});
    REQUIRE(p.ok);
    CHECK(p.route->name() == "s");
    CHECK(h.host == "secure.example.com");
  }
  SECTION("absolute-form: the target's authority decides, and becomes the Host") {
    auto h = head("http://secure.example.com:81/p?q=1", "other.example");
    router::MatchTrace trace;
    auto p = prepareRequest(l, h, {}, &trace);
    REQUIRE(p.ok);
    CHECK(p.route->name() == "s");
    CHECK(*h.headers.get("host") == "secure.example.com:81");
    CHECK(h.path == "/p");
    CHECK(h.query == "q=1");
    CHECK(absl::StrContains(trace.lines[0], "replaced by the target's authority"));
  }
  SECTION("absolute-form with userinfo or no host: 400") {
    auto h = head("http://u@secure.example.com/p");
    CHECK(prepareRequest(l, h, {}).error->status == 400);
    auto e = head("http:///p");
    CHECK(prepareRequest(l, e, {}).error->status == 400);
  }
  SECTION("HTTP/1.1 needs exactly one Host; HTTP/1.0 may have none") {
    auto none = head("/o/x", "");
    auto p = prepareRequest(l, none, {});
    CHECK_FALSE(p.ok);
    CHECK(p.error->message == "missing Host header");
    CHECK(p.close_connection);
    auto two = head("/o/x");
    two.headers.add("host", "b");
    CHECK(prepareRequest(l, two, {}).error->message == "more than one Host header");
    auto ten = head("/o/x", "", 0);
    auto t = prepareRequest(l, ten, {});
    REQUIRE(t.ok);
    CHECK(t.route->name() == "o");
  }
  SECTION("CONNECT 405, bad paths 400, no route 404 (connection kept)") {
    auto c = head("secure.example.com:443");
    c.method = "CONNECT";
    CHECK(prepareRequest(l, c, {}).error->status == 405);
    auto bad = head("/a/%2F/b");
    auto p = prepareRequest(l, bad, {});
    CHECK(p.error->kind == filters::ErrorKind::InvalidPath);
    auto miss = head("/nothing", "elsewhere");
    auto m = prepareRequest(l, miss, {});
    CHECK(m.error->status == 404);
    CHECK(m.error->code == "no_route");
    CHECK_FALSE(m.close_connection);
  }
  SECTION("a Content-Length over the limit: 413 with the route known") {
    auto h = head("/x");
    auto p = prepareRequest(l, h, {true, 101});
    CHECK_FALSE(p.ok);
    CHECK(p.error->status == 413);
    REQUIRE(p.route != nullptr);
    CHECK(p.route->name() == "s");
    auto at = head("/x");
    CHECK(prepareRequest(l, at, {true, 100}).ok);
  }
  SECTION("header names with underscores: dropped by default") {
    auto h = head("/x");
    h.headers.add("x_user_id", "admin");
    h.headers.add("x-user-id", "alice");
    REQUIRE(prepareRequest(l, h, {}).ok);
    CHECK_FALSE(h.headers.has("x_user_id"));
    CHECK(*h.headers.get("x-user-id") == "alice");
  }
}

TEST_CASE("applyUnderscorePolicy: drop, allow, reject", "[request_policy]") {
  HeaderMap h;
  h.add("a_b", "1");
  h.add("c", "2");
  HeaderMap allow = h, drop = h, reject = h;
  CHECK(applyUnderscorePolicy(allow, UnderscoreAction::Allow));
  CHECK(allow.size() == 2);
  CHECK(applyUnderscorePolicy(drop, UnderscoreAction::Drop));
  CHECK(drop.size() == 1);
  CHECK_FALSE(applyUnderscorePolicy(reject, UnderscoreAction::Reject));
  HeaderMap clean;
  clean.add("c", "2");
  CHECK(applyUnderscorePolicy(clean, UnderscoreAction::Reject));
}

std::string upstreamHead(const http::RequestHead& h, UpstreamHeadOptions o) {
  std::string out;
  buildUpstreamHead(h, o, out);
  return out;
}

TEST_CASE("buildUpstreamHead: forwarding headers, hop-by-hop, framing", "[request_policy]") {
  http::RequestHead h = head("/p");
  h.path = "/p";
  h.headers.add("connection", "keep-alive, x-secret");
  h.headers.add("x-secret", "s");
  h.headers.add("keep-alive", "timeout=5");
  h.headers.add("x-forwarded-for", "6.6.6.6");
  h.headers.add("forwarded", "for=6.6.6.6");
  h.headers.add("expect", "100-continue");
  h.headers.add("content-length", "5");
  h.headers.add("x-app", "1");
  UpstreamHeadOptions o;
  o.path = "/p";
  o.query = "a=1";
  o.client_ip = "192.0.2.7";
  o.framing = {UpstreamFraming::Kind::ContentLength, 9};
  SECTION("at the edge: client forwarding headers replaced") {
    const std::string out = upstreamHead(h, o);
    CHECK(absl::StartsWith(out, "GET /p?a=1 HTTP/1.1\r\n"));
    CHECK(absl::StrContains(out, "x-app: 1\r\n"));
    CHECK(absl::StrContains(out, "x-forwarded-for: 192.0.2.7\r\n"));
    CHECK(absl::StrContains(out,
                            "forwarded: for=192.0.2.7;host=secure.example.com;proto=http\r\n"));
    CHECK(absl::StrContains(out, "content-length: 9\r\n"));
    CHECK_FALSE(absl::StrContains(out, "6.6.6.6"));
    CHECK_FALSE(absl::StrContains(out, "x-secret"));
    CHECK_FALSE(absl::StrContains(out, "keep-alive"));
    CHECK_FALSE(absl::StrContains(out, "expect"));
    CHECK_FALSE(absl::StrContains(out, "content-length: 5"));
    CHECK(absl::EndsWith(out, "\r\n\r\n"));
  }
  SECTION("behind a trusted hop: kept and appended") {
    o.xff_trusted_hops = 1;
    const std::string out = upstreamHead(h, o);
    CHECK(absl::StrContains(out, "x-forwarded-for: 6.6.6.6, 192.0.2.7\r\n"));
    CHECK(absl::StrContains(
        out, "forwarded: for=6.6.6.6, for=192.0.2.7;host=secure.example.com;proto=http\r\n"));
  }
  SECTION("no Host (HTTP/1.0): the endpoint's address, quoted in Forwarded (a port)") {
    http::RequestHead ten = head("/p", "", 0);
    o.default_host = "10.0.0.1:8080";
    o.framing = {};
    const std::string out = upstreamHead(ten, o);
    CHECK(absl::StrContains(out, "host: 10.0.0.1:8080\r\n"));
    CHECK(absl::StrContains(out, "forwarded: for=192.0.2.7;host=\"10.0.0.1:8080\";proto=http"));
    CHECK_FALSE(absl::StrContains(out, "x-forwarded-host"));
    CHECK_FALSE(absl::StrContains(out, "content-length"));
  }
  SECTION("chunked framing, IPv6 client") {
    o.framing = {UpstreamFraming::Kind::Chunked, 0};
    o.client_ip = "2001:db8::7";
    const std::string out = upstreamHead(h, o);
    CHECK(absl::StrContains(out, "transfer-encoding: chunked\r\n"));
    CHECK(absl::StrContains(out, "forwarded: for=\"[2001:db8::7]\";"));
  }
}

TEST_CASE("stripHopByHop and request ids", "[request_policy]") {
  HeaderMap h;
  h.add("connection", "close, X-Drop");
  h.add("x-drop", "1");
  h.add("te", "trailers");
  h.add("proxy-authorization", "x");
  h.add("x-keep", "1");
  stripHopByHop(h);
  REQUIRE(h.size() == 1);
  CHECK(h.entries()[0].first == "x-keep");
  CHECK(validRequestId("abc-123_.:"));
  CHECK_FALSE(validRequestId(""));
  CHECK_FALSE(validRequestId("a b"));
  CHECK_FALSE(validRequestId(std::string(129, 'a')));
}

TEST_CASE("access log: one JSON line with the error source and the filter state",
          "[request_policy]") {
  filters::FilterState state;
  filters::Identity& id = state.emplace(filters::kIdentity);
  id.subject = "alice";
  id.provider = "corp";
  filters::ErrorInfo e = filters::ErrorInfo::make(filters::ErrorKind::UpstreamReset, "x");
  AccessLogRecord r;
  r.request_id = "rid";
  r.client = "192.0.2.7";
  r.method = "GET";
  r.path = "/a\"b";
  r.status = 502;
  r.route = "r";
  r.cluster = "c";
  r.upstream_attempts = 2;
  r.error = &e;
  r.filter_state = &state;
  std::string line;
  appendAccessLogLine(r, line);
  CHECK(absl::EndsWith(line, "}\n"));
  CHECK(absl::StrContains(line, R"("path":"/a\"b")"));
  CHECK(absl::StrContains(line, R"("status":502)"));
  CHECK(absl::StrContains(line, R"("upstream_attempts":2)"));
  CHECK(absl::StrContains(line, R"("error":"upstream_reset","error_source":"upstream")"));
  CHECK(absl::StrContains(line, R"x("filter_state":{"identity":"alice (corp)"})x"));
  std::string rejected;
  appendRejectionLogLine("rid", "192.0.2.7", 431, "headers_too_large", rejected);
  CHECK(rejected == "{\"request_id\":\"rid\",\"client\":\"192.0.2.7\",\"status\":431,"
                    "\"error\":\"headers_too_large\",\"error_source\":\"downstream\"}\n");
}

} // namespace
} // namespace gw::server
