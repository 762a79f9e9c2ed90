// `redirect`: the Location built from the config and the request, the status, validation of
// every field, and what explain shows.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::FakeUpstream;

struct Answer {
  int status;
  std::vector<std::string> location;
  std::string body;
};

// What the filter of `config` answers a request for host/path?query with.
Answer answerOf(const std::string& config, const std::string& host, const std::string& path,
                const std::string& query = "") {
  auto c = createOk("redirect", config);
  FilterPtr owned;
  Filter& f = test::instanceOf(*c, owned);
  FakeRequestContext ctx;
  ctx.request().host = host;
  ctx.request().path = path;
  ctx.request().query = query;
  FakeUpstream upstream(ctx.fakeWorker().http);
  CHECK(f.onRoute(ctx, upstream) == FilterStatus::StopAndRespond);
  CHECK(upstream.proxied.empty());
  CHECK(ctx.failures.empty());
  REQUIRE(ctx.responses.size() == 1);
  const auto& r = ctx.responses[0];
  return {r.status, test::values(r.head.headers, "location"), r.body};
}

TEST_CASE("redirect: the default is 301 to https on the same host, path and query",
          "[filters][redirect]") {
  const Answer a = answerOf("{}", "shop.example.com", "/cart/7", "a=1&b=2");
  CHECK(a.status == 301);
  CHECK(a.location == std::vector<std::string>{"https://shop.example.com/cart/7?a=1&b=2"});
  CHECK(a.body.empty());
  CHECK(answerOf("{}", "127.0.0.1", "/").location ==
        std::vector<std::string>{"https://127.0.0.1/"});
  CHECK(answerOf("{}", "[::1]", "/x").location == std::vector<std::string>{"https://[::1]/x"});
  auto c = createOk("redirect", "{}");
  CHECK(c->staticRoute()->kind == StaticRoute::Kind::DirectResponse);
  CHECK(c->staticRoute()->status == 301);
  CHECK(c->shared() != nullptr);
  CHECK(test::factory("redirect").kind() == FilterKind::Route);
}

TEST_CASE("redirect: scheme, host, port, path, status and strip_query from the config",
          "[filters][redirect]") {
  CHECK(answerOf(R"({"port": 8443})", "localhost", "/api/users/1").location ==
        std::vector<std::string>{"https://localhost:8443/api/users/1"});
  CHECK(answerOf(R"({"host": "www.example.com", "status": 308})", "example.com", "/a", "q=1")
            .location == std::vector<std::string>{"https://www.example.com/a?q=1"});
  CHECK(answerOf(R"({"status": 308})", "h", "/").status == 308);
  CHECK(answerOf(R"({"path": "/moved", "strip_query": true})", "h", "/old", "x=1").location ==
        std::vector<std::string>{"https://h/moved"});
  CHECK(answerOf(R"({"scheme": "HTTP", "status": 302})", "h", "/p").location ==
        std::vector<std::string>{"http://h/p"});
  http::RequestHead head;
  head.host = "api.test";
  head.path = "/v1/x";
  CHECK(test::explain(*createOk("redirect", R"({"port": 8443})"), head) ==
        "redirect 301 to https://api.test:8443/v1/x");
}

TEST_CASE("redirect: invalid fields are named", "[filters][redirect]") {
  CHECK_THAT(createError("redirect", R"({"scheme": "ftp"})"), Catch::StartsWith("scheme:"));
  for (const char* h : {"a b", "evil.com/x", "h:443", "user@h", "[zz]", "a\\r\\nb"}) {
    INFO(h);
    CHECK_THAT(createError("redirect", std::string(R"({"host": ")") + h + "\"}"),
               Catch::StartsWith("host:"));
  }
  CHECK_THAT(createError("redirect", R"({"port": 70000})"), Catch::StartsWith("port:"));
  for (const char* p : {"x", "//evil.com", "/a b", "/a?b", "/a#b", "/a\\\\b"}) {
    INFO(p);
    CHECK_THAT(createError("redirect", std::string(R"({"path": ")") + p + "\"}"),
               Catch::StartsWith("path:"));
  }
  for (const char* s : {"200", "300", "304", "404"}) {
    INFO(s);
    CHECK_THAT(createError("redirect", std::string(R"({"status": )") + s + "}"),
               Catch::StartsWith("status:"));
  }
  CHECK_FALSE(createError("redirect", R"({"to": "x"})").empty());
}

} // namespace
} // namespace gw::filters
