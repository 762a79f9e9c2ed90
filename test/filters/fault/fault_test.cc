// `fault`: config validation, abort, delay through a request timer and the request's handle,
// the header gate, explain, and the delayed / aborted counters.
#include <chrono>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using namespace std::chrono_literals;
using test::counter;
using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::instanceOf;

TEST_CASE("fault: registered as a stage filter and validated", "[filters][fault]") {
  const FilterFactory* f = FilterRegistry::get("fault");
  REQUIRE(f != nullptr);
  CHECK(f->kind() == FilterKind::Stage);
  CHECK_THAT(createError("fault", "{}"), Catch::StartsWith("delay_ms:"));
  CHECK_THAT(createError("fault", R"({"abort_status": 700})"), Catch::StartsWith("abort_status:"));
  CHECK_THAT(createError("fault", R"({"abort_status": 503, "abort_percent": 101})"),
             Catch::StartsWith("abort_percent:"));
  CHECK_THAT(createError("fault", R"({"delay_ms": 5, "delay_percent": 101})"),
             Catch::StartsWith("delay_percent:"));
  CHECK_THAT(createError("fault", R"({"delay_ms": 3600001})"), Catch::StartsWith("delay_ms:"));
}

TEST_CASE("fault: abort fails the request", "[filters][fault]") {
  auto c = createOk("fault", R"({"abort_status": 503})");
  FakeRequestContext ctx;
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].status == 503);
  CHECK(ctx.failures[0].code == "fault_injected");
  CHECK(ctx.failures[0].source == ErrorSource::Filter);
  CHECK(ctx.failures[0].kind == ErrorKind::FilterAbort);
  CHECK_FALSE(ctx.failures[0].retryable);
  CHECK(ctx.timers.empty());
  CHECK(ctx.resumes == 0);
}

TEST_CASE("fault: delay pauses and resumes through runAfter", "[filters][fault]") {
  auto c = createOk("fault", R"({"delay_ms": 250})");
  FakeRequestContext ctx;
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
  REQUIRE(ctx.timers.size() == 1);
  CHECK(ctx.timers[0].delay == 250ms);
  CHECK(ctx.resumes == 0);
  ctx.timers[0].fn();
  CHECK(ctx.resumes == 1);
  CHECK(ctx.failures.empty());
}

TEST_CASE("fault: delay then abort", "[filters][fault]") {
  auto c = createOk("fault", R"({"delay_ms": 10, "abort_status": 429})");
  FakeRequestContext ctx;
  FilterPtr owned;
  CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
  REQUIRE(ctx.timers.size() == 1);
  CHECK(ctx.failures.empty());
  ctx.timers[0].fn();
  CHECK(ctx.resumes == 0);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].status == 429);
}

TEST_CASE("fault: header gate", "[filters][fault]") {
  auto c = createOk("fault", R"({"abort_status": 500, "header": "X-Chaos"})");
  FilterPtr owned;
  Filter& f = instanceOf(*c, owned);
  FakeRequestContext without;
  CHECK(f.onRequestHeaders(without) == FilterStatus::Continue);
  CHECK(without.failures.empty());
  FakeRequestContext with;
  with.request().headers.add("x-chaos", "");
  CHECK(f.onRequestHeaders(with) == FilterStatus::StopAndRespond);
  CHECK(with.failures.size() == 1);
}

TEST_CASE("fault: the delayed resume goes through the request's handle", "[filters][fault]") {
  FilterPtr owned;
  SECTION("resume after the request ended does nothing") {
    auto c = createOk("fault", R"({"delay_ms": 250})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
    REQUIRE(ctx.timers.size() == 1);
    ctx.end();
    CHECK_FALSE(ctx.handle().alive());
    ctx.timers[0].fn();
    CHECK(ctx.resumes == 0);
    CHECK(ctx.failures.empty());
    CHECK(ctx.responses.empty());
  }
  SECTION("a delayed abort after the request ended does nothing") {
    auto c = createOk("fault", R"({"delay_ms": 10, "abort_status": 503})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
    REQUIRE(ctx.timers.size() == 1);
    ctx.end();
    ctx.timers[0].fn();
    CHECK(ctx.resumes == 0);
    CHECK(ctx.failures.empty());
    CHECK(ctx.responses.empty());
  }
  SECTION("the timer fn does not need the filter instance or the config") {
    FakeRequestContext ctx;
    {
      auto c = createOk("fault", R"({"delay_ms": 10, "abort_status": 502})");
      FilterPtr local;
      CHECK(instanceOf(*c, local).onRequestHeaders(ctx) == FilterStatus::Pause);
    }  // config (and its shared instance) gone, as after a config change
    REQUIRE(ctx.timers.size() == 1);
    ctx.timers[0].fn();
    REQUIRE(ctx.failures.size() == 1);
    CHECK(ctx.failures[0].status == 502);
    CHECK(ctx.failures[0].code == "fault_injected");
  }
}

TEST_CASE("fault: delayed and aborted counters", "[filters][fault]") {
  FilterPtr owned;
  SECTION("abort only") {
    auto c = createOk("fault", R"({"abort_status": 503})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(counter(ctx, "fault", "aborted") == 1);
    CHECK(counter(ctx, "fault", "delayed") == 0);
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::StopAndRespond);
    CHECK(counter(ctx, "fault", "aborted") == 2);
  }
  SECTION("delay only") {
    auto c = createOk("fault", R"({"delay_ms": 5})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
    CHECK(counter(ctx, "fault", "delayed") == 1);
    CHECK(counter(ctx, "fault", "aborted") == 0);
    ctx.timers.at(0).fn();
    CHECK(counter(ctx, "fault", "delayed") == 1);  // counted once, when the delay starts
  }
  SECTION("delay then abort counts both, the abort when it happens") {
    auto c = createOk("fault", R"({"delay_ms": 5, "abort_status": 500})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
    CHECK(counter(ctx, "fault", "delayed") == 1);
    CHECK(counter(ctx, "fault", "aborted") == 0);
    ctx.timers.at(0).fn();
    CHECK(counter(ctx, "fault", "aborted") == 1);
    CHECK(ctx.failures.size() == 1);
  }
  SECTION("a request that ended during the delay is not counted as aborted") {
    auto c = createOk("fault", R"({"delay_ms": 5, "abort_status": 500})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Pause);
    ctx.end();
    ctx.timers.at(0).fn();
    CHECK(counter(ctx, "fault", "aborted") == 0);
    CHECK(ctx.failures.empty());
  }
  SECTION("a request without the gate header counts nothing") {
    auto c = createOk("fault", R"({"delay_ms": 5, "abort_status": 500, "header": "x-chaos"})");
    FakeRequestContext ctx;
    CHECK(instanceOf(*c, owned).onRequestHeaders(ctx) == FilterStatus::Continue);
    CHECK(counter(ctx, "fault", "delayed") == 0);
    CHECK(counter(ctx, "fault", "aborted") == 0);
    CHECK(ctx.untouched());
  }
}

TEST_CASE("fault: explain", "[filters][fault]") {
  http::RequestHead head;
  CHECK(test::explain(*createOk("fault", R"({"delay_ms": 200, "delay_percent": 10,
                                             "abort_status": 503, "abort_percent": 1})"),
                      head) == "delay 200 ms for 10% of requests; abort 503 for 1%");
  CHECK(test::explain(*createOk("fault", R"({"abort_status": 503})"), head) ==
        "abort 503 for 100% of requests");
  auto gated = createOk("fault", R"({"delay_ms": 200, "header": "X-Chaos"})");
  CHECK(test::explain(*gated, head) ==
        "continue (no x-chaos header; faults apply only to requests carrying it)");
  head.headers.add("x-chaos", "1");
  CHECK(test::explain(*gated, head) == "delay 200 ms for 100% of requests carrying x-chaos");
}

} // namespace
} // namespace gw::filters
