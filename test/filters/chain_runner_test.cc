// The chain runner on its own (no sockets, no stream): which hooks run in which order, pause and
// resume, interrupts by respond()/fail(), the response path of local responses, onDestroy.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/filters/chain_runner.h"
#include "test/filters/fake_request_context.h"

namespace gw::filters {
namespace {

using Phase = ChainRunner::Phase;
using test::FakeRequestContext;

std::vector<std::string> g_log;

// A filter that logs "<name>.<hook>" and returns what its config says for that hook.
struct Script {
  std::string name;
  FilterStatus request_headers = FilterStatus::Continue;
  FilterStatus response_headers = FilterStatus::Continue;
  bool respond_in_request = false;   // calls ctx.respond(418) in onRequestHeaders
  bool fail_in_request = false;      // calls ctx.fail(...) in onRequestHeaders
  bool sees_response = false;
  BodyPolicy request_body;
  bool shared = false;
};

class ScriptFilter : public Filter {
public:
  explicit ScriptFilter(const Script& s) : s_(s) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    g_log.push_back(s_.name + ".request_headers");
    if (s_.respond_in_request) {
      ctx.respond(418, "teapot", "text/plain");
      return FilterStatus::StopAndRespond;
    }
    if (s_.fail_in_request) {
      ctx.fail(ErrorInfo::make(ErrorKind::Forbidden, "no"));
      return FilterStatus::StopAndRespond;
    }
    return s_.request_headers;
  }
  FilterStatus onRequestBody(RequestContext&, std::string& body, bool eos) override {
    g_log.push_back(absl::StrCat(s_.name, ".request_body(", body, eos ? ",end" : "", ")"));
    body += "+" + s_.name;
    return FilterStatus::Continue;
  }
  FilterStatus onRoute(RequestContext&, Upstream& up) override {
    g_log.push_back(s_.name + ".route");
    up.proxyTo("c");
    return FilterStatus::Continue;
  }
  FilterStatus onResponseHeaders(RequestContext&) override {
    g_log.push_back(s_.name + ".response_headers");
    return s_.response_headers;
  }
  FilterStatus onError(RequestContext&) override {
    g_log.push_back(s_.name + ".error");
    return FilterStatus::Continue;
  }
  void onDestroy(RequestContext&) override { g_log.push_back(s_.name + ".destroy"); }

private:
  const Script& s_;
};

class ScriptConfig : public FilterConfig {
public:
  explicit ScriptConfig(Script s) : s_(std::move(s)), shared_(s_) {}
  Filter* shared() const override { return s_.shared ? &shared_ : nullptr; }
  FilterPtr create() const override { return std::make_unique<ScriptFilter>(s_); }
  bool seesResponse() const override { return s_.sees_response; }
  BodyPolicy requestBody() const override { return s_.request_body; }

private:
  Script s_;
  mutable ScriptFilter shared_;
};

FilterConfigConstSharedPtr cfg(Script s) { return std::make_shared<ScriptConfig>(std::move(s)); }

// A runner owner that records phase ends and turns respond/fail/proxyTo into interrupts, as the
// stream does.
class Owner : public ChainRunner::Owner, public FakeRequestContext, public Upstream {
public:
  explicit Owner(const FilterChain& chain) : runner(chain, *this) {}

  // ChainRunner::Owner
  RequestContext& context() override { return *this; }
  Upstream& upstream() override { return *this; }
  bool takeInterrupt() override {
    if (interrupt.empty()) {
      return false;
    }
    g_log.push_back("interrupt:" + interrupt);
    const std::string i = interrupt;
    interrupt.clear();
    runner.abandon();
    if (i == "respond") {
      runner.beginResponse();
      runner.run(Phase::ResponseHeaders);
    } else if (i == "fail") {
      runner.run(Phase::Error);
    }
    return true;
  }
  void onPhaseDone(Phase p) override { g_log.push_back(absl::StrCat("done:", phaseName(p))); }

  // RequestContext: what the stream does, reduced to interrupts.
  using FakeRequestContext::respond;
  void respond(http::ResponseHead, std::string) override {
    runner.noteAnswer();
    interrupt = "respond";
    if (!runner.inHook()) {
      takeInterrupt();
    }
  }
  void fail(ErrorInfo) override {
    runner.noteAnswer();
    interrupt = "fail";
    if (!runner.inHook()) {
      takeInterrupt();
    }
  }
  void resume() override { runner.resume(); }

  // Upstream
  using Upstream::proxyTo;
  void proxyTo(absl::string_view cluster, const ProxyPolicy*) override {
    g_log.push_back(absl::StrCat("proxy:", cluster));
    interrupt = "proxy";
  }
  uint64_t send(absl::string_view, HttpRequest, HttpCallback) override { return 0; }
  void cancel(uint64_t) override {}

  ChainRunner runner;
  std::string interrupt;
};

FilterChain chainOf(std::vector<Script> pre, std::vector<Script> post = {},
                    std::vector<Script> error = {}, Script route = {"route"}) {
  FilterChain c;
  for (auto& s : pre) {
    c.pre.push_back(cfg(s));
  }
  for (auto& s : post) {
    c.post.push_back(cfg(s));
  }
  for (auto& s : error) {
    c.error.push_back(cfg(s));
  }
  c.route = cfg(route);
  c.finalize();
  return c;
}

std::string log() { return absl::StrJoin(g_log, " "); }

TEST_CASE("runner: request headers run in order, then the route step", "[chain_runner]") {
  g_log.clear();
  FilterChain c = chainOf({{"a"}, {"b"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "a.request_headers b.request_headers done:request_headers");
  g_log.clear();
  o.runner.run(Phase::Route);
  CHECK(log() == "route.route proxy:c interrupt:proxy");
}

TEST_CASE("runner: pause stops the phase; resume continues after the pausing filter",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"};
  a.request_headers = FilterStatus::Pause;
  FilterChain c = chainOf({a, {"b"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "a.request_headers");
  CHECK(o.runner.paused());
  CHECK(o.runner.current() != nullptr);
  o.runner.resume();
  CHECK(log() == "a.request_headers b.request_headers done:request_headers");
  CHECK_FALSE(o.runner.paused());
  // A second resume has nothing to continue.
  o.runner.resume();
  CHECK(g_log.size() == 3);
}

TEST_CASE("runner: a local response from a pre filter skips the rest and runs the response path",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"};
  a.sees_response = true;  // saw the request: sees the response
  Script b{"b"};
  b.respond_in_request = true;
  b.sees_response = true;  // made the response: does not see it
  Script c_{"c"};
  c_.sees_response = true;  // never reached: does not see it
  FilterChain c = chainOf({a, b, c_}, {{"post"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "a.request_headers b.request_headers interrupt:respond a.response_headers "
                 "post.response_headers done:response_headers");
}

TEST_CASE("runner: a respond from a paused filter's completion excludes that filter",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"};
  a.sees_response = true;
  a.request_headers = FilterStatus::Pause;
  FilterChain c = chainOf({a, {"b"}}, {{"post"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  REQUIRE(o.runner.paused());
  RequestHandle h = o.handle();
  h.respond(http::ResponseHead(), "late");  // the completion answers through the handle
  CHECK(log() == "a.request_headers interrupt:respond post.response_headers "
                 "done:response_headers");
}

TEST_CASE("runner: fail runs the response path's pre filters, then the error filters",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"};
  a.sees_response = true;
  Script b{"b"};
  b.fail_in_request = true;
  FilterChain c = chainOf({a, b}, {{"post"}}, {{"err1"}, {"err2"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "a.request_headers b.request_headers interrupt:fail a.error err1.error "
                 "err2.error done:error");
}

TEST_CASE("runner: a proxied response runs route, seeing pre filters (reversed), then post",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"}, b{"b"}, c_{"c"};
  a.sees_response = true;
  c_.sees_response = true;
  Script route{"route"};
  route.sees_response = true;
  FilterChain c = chainOf({a, b, c_}, {{"p1"}, {"p2"}}, {}, route);
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  o.runner.run(Phase::Route);
  g_log.clear();
  o.runner.beginResponse();
  o.runner.run(Phase::ResponseHeaders);
  CHECK(log() == "route.response_headers c.response_headers a.response_headers "
                 "p1.response_headers p2.response_headers done:response_headers");
}

TEST_CASE("runner: body hooks run for filters that asked for the body, in order",
          "[chain_runner]") {
  g_log.clear();
  Script a{"a"}, b{"b"}, c_{"c"};
  a.request_body = BodyPolicy::buffer(1024);
  c_.request_body = BodyPolicy::stream();
  FilterChain c = chainOf({a, b, c_});
  CHECK(c.request_body.mode == BodyPolicy::Mode::Buffer);  // the strongest wins
  CHECK(c.request_body.max_bytes == 1024);
  Owner o(c);
  std::string body = "x";
  o.runner.setBody(&body, true);
  o.runner.run(Phase::RequestBody);
  CHECK(log() == "a.request_body(x,end) c.request_body(x+a,end) done:request_body");
  CHECK(body == "x+a+c");
}

TEST_CASE("runner: body policies combine: smallest buffer limit, stream alone",
          "[chain_runner]") {
  Script a{"a"}, b{"b"};
  a.request_body = BodyPolicy::buffer(4096);
  b.request_body = BodyPolicy::buffer(100);
  CHECK(chainOf({a, b}).request_body.max_bytes == 100);
  Script s{"s"};
  s.request_body = BodyPolicy::stream();
  CHECK(chainOf({s}).request_body.mode == BodyPolicy::Mode::Stream);
  CHECK(chainOf({{"x"}}).request_body.mode == BodyPolicy::Mode::Untouched);
  CHECK(chainOf({{"x"}}).response_body.mode == BodyPolicy::Mode::Untouched);
}

TEST_CASE("runner: onDestroy runs once for every per-request instance, never for shared ones",
          "[chain_runner]") {
  g_log.clear();
  Script shared{"shared"};
  shared.shared = true;
  FilterChain c = chainOf({{"a"}, shared}, {{"post"}});
  {
    Owner o(c);
    o.runner.run(Phase::RequestHeaders);
    o.runner.run(Phase::Route);
    o.runner.beginResponse();
    o.runner.run(Phase::ResponseHeaders);
    g_log.clear();
    o.runner.destroy();
    o.runner.destroy();
    CHECK(log() == "a.destroy route.destroy post.destroy");
  }
}

TEST_CASE("runner: StopAndRespond without an answer fails the request", "[chain_runner]") {
  g_log.clear();
  Script a{"a"};
  a.request_headers = FilterStatus::StopAndRespond;  // but never calls respond()
  FilterChain c = chainOf({a}, {}, {{"err"}});
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "a.request_headers interrupt:fail err.error done:error");
}

TEST_CASE("runner: resume inside the pausing hook continues once the hook returns",
          "[chain_runner]") {
  // A completion that turned out synchronous: resume() runs before the hook returns Pause.
  class SyncPause : public Filter {
  public:
    FilterStatus onRequestHeaders(RequestContext& ctx) override {
      g_log.push_back("sync.request_headers");
      ctx.resume();
      return FilterStatus::Pause;
    }
  };
  class SyncConfig : public FilterConfig {
  public:
    FilterPtr create() const override { return std::make_unique<SyncPause>(); }
  };
  g_log.clear();
  FilterChain c;
  c.pre.push_back(std::make_shared<SyncConfig>());
  c.pre.push_back(cfg({"b"}));
  c.route = cfg({"route"});
  c.finalize();
  Owner o(c);
  o.runner.run(Phase::RequestHeaders);
  CHECK(log() == "sync.request_headers b.request_headers done:request_headers");
  CHECK_FALSE(o.runner.paused());
}

TEST_CASE("handle: every operation is a no-op once the request ended", "[chain_runner]") {
  FakeRequestContext ctx;
  RequestHandle h = ctx.handle();
  RequestHandle copy = h;
  CHECK(h.alive());
  h.resume();
  CHECK(ctx.resumes == 1);
  ctx.end();
  CHECK_FALSE(copy.alive());
  CHECK(copy.context() == nullptr);
  copy.resume();
  copy.respond(http::ResponseHead(), "x");
  copy.fail(ErrorInfo::make(ErrorKind::Internal, "x"));
  CHECK(ctx.resumes == 1);
  CHECK(ctx.responses.empty());
  CHECK(ctx.failures.empty());
  RequestHandle empty;
  CHECK_FALSE(empty.alive());
  empty.resume();  // a default handle is dead too
}

TEST_CASE("filter state: typed objects by key, replaced on set", "[chain_runner]") {
  struct Slot : FilterStateObject {
    int v = 0;
    std::string describe() const override { return absl::StrCat("v=", v); }
  };
  static constexpr FilterStateKey<Slot> kSlot{"slot"};
  FilterState s;
  CHECK(s.get(kSlot) == nullptr);
  s.emplace(kSlot).v = 1;
  REQUIRE(s.get(kSlot) != nullptr);
  CHECK(s.get(kSlot)->v == 1);
  auto next = std::make_unique<Slot>();
  next->v = 2;
  s.set(kSlot, std::move(next));
  CHECK(s.get(kSlot)->v == 2);
  CHECK(s.entries().size() == 1);
  CHECK(s.entries()[0].second->describe() == "v=2");
}

TEST_CASE("errors: one table maps kinds to status, code, source and retryability",
          "[chain_runner]") {
  ErrorInfo e = ErrorInfo::make(ErrorKind::UpstreamConnectFailed, "refused");
  CHECK(e.status == 502);
  CHECK(e.code == "upstream_connect_failed");
  CHECK(e.source == ErrorSource::Upstream);
  CHECK(e.retryable);
  ErrorInfo r = ErrorInfo::make(ErrorKind::RateLimited, "slow down", {}, 503);
  CHECK(r.status == 503);  // a configured status wins
  CHECK(r.code == "rate_limited");
  ErrorInfo j = ErrorInfo::make(ErrorKind::Unauthenticated, "expired", "jwt_expired");
  CHECK(j.status == 401);
  CHECK(j.code == "jwt_expired");
  CHECK(errorKindForStatus(431) == ErrorKind::HeadersTooLarge);
  CHECK(errorKindForStatus(418) == ErrorKind::BadRequest);
  CHECK(std::string(errorSourceName(ErrorSource::Filter)) == "filter");
  for (int k = 0; k <= static_cast<int>(ErrorKind::FilterAbort); k++) {
    const ErrorKindInfo& info = errorKindInfo(static_cast<ErrorKind>(k));
    CHECK(info.status >= 400);
    CHECK(info.status <= 599);
    CHECK(std::string(info.code).size() > 3);
  }
}

} // namespace
} // namespace gw::filters
