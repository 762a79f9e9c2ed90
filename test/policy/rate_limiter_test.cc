// Token buckets: burst, refill, keys, the bounded key table, concurrency, policy validation and
// state carried over for an unchanged policy.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/policy/rate_limiter.h"

namespace gw::policy {
namespace {

constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1000 * kSec;

std::shared_ptr<const RateLimiter> limiter(const gateway::v1::RateLimitPolicy& p) {
  std::vector<FieldError> errors;
  auto l = RateLimiter::create(p, &errors);
  REQUIRE(errors.empty());
  REQUIRE(l != nullptr);
  return l;
}

gateway::v1::RateLimitPolicy perSecond(uint32_t rate, uint32_t burst = 0) {
  gateway::v1::RateLimitPolicy p;
  p.set_name("p");
  p.set_requests_per_unit(rate);
  p.set_burst(burst);
  return p;
}

std::vector<std::string> errorsOf(const gateway::v1::RateLimitPolicy& p) {
  std::vector<FieldError> errors;
  CHECK(RateLimiter::create(p, &errors) == nullptr);
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(e.field + ": " + e.message);
  }
  return out;
}

TEST_CASE("rate limiter: burst, then one token per interval", "[policy][ratelimit]") {
  auto l = limiter(perSecond(2, 4));  // 2/s = one token per 500 ms, bucket of 4
  CHECK(l->peek("", kT0).remaining == 4);
  for (uint32_t i = 0; i < 4; i++) {
    auto d = l->take("", kT0);
    CHECK(d.allowed);
    CHECK(d.remaining == 3 - i);
  }
  auto d = l->take("", kT0);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_ns == kSec / 2);
  CHECK_FALSE(l->take("", kT0 + kSec / 2 - 1).allowed);
  CHECK(l->take("", kT0 + kSec / 2).allowed);  // exactly one token back
  CHECK_FALSE(l->take("", kT0 + kSec / 2).allowed);
  // Long idle: the bucket refills to the burst, not beyond.
  CHECK(l->peek("", kT0 + 100 * kSec).remaining == 4);
  int allowed = 0;
  for (int i = 0; i < 10; i++) {
    allowed += l->take("", kT0 + 100 * kSec).allowed;
  }
  CHECK(allowed == 4);
  // Rejections take nothing.
  CHECK(l->take("", kT0 + 100 * kSec + kSec / 2).allowed);
}

TEST_CASE("rate limiter: peek takes nothing", "[policy][ratelimit]") {
  auto l = limiter(perSecond(1, 1));
  for (int i = 0; i < 5; i++) {
    CHECK(l->peek("", kT0).allowed);
  }
  CHECK(l->take("", kT0).allowed);
  auto d = l->peek("", kT0);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_ns == kSec);
}

TEST_CASE("rate limiter: tokens_per_fill and units", "[policy][ratelimit]") {
  gateway::v1::RateLimitPolicy p;
  p.set_name("fill");
  p.set_tokens_per_fill(10);
  p.mutable_fill_interval()->set_seconds(5);
  auto l = limiter(p);
  CHECK(l->burst() == 10);
  CHECK(l->nanosPerToken() == kSec / 2);
  CHECK(l->describeRate() == "10 per 5s, burst 10");
  gateway::v1::RateLimitPolicy m = perSecond(120);
  m.set_unit(gateway::v1::RateLimitPolicy::MINUTE);
  CHECK(limiter(m)->nanosPerToken() == kSec / 2);
  m.set_unit(gateway::v1::RateLimitPolicy::HOUR);
  CHECK(limiter(m)->nanosPerToken() == 30 * kSec);
}

TEST_CASE("rate limiter: keys have their own buckets", "[policy][ratelimit]") {
  auto p = perSecond(1, 2);
  p.mutable_key_by()->set_header("X-Tenant");
  auto l = limiter(p);
  CHECK(l->keyHeader() == "x-tenant");
  CHECK(l->take("a", kT0).allowed);
  CHECK(l->take("a", kT0).allowed);
  CHECK_FALSE(l->take("a", kT0).allowed);
  CHECK(l->take("b", kT0).allowed);
  CHECK(l->take("b", kT0).allowed);
  CHECK_FALSE(l->take("b", kT0).allowed);
  CHECK(l->peek("c", kT0).remaining == 2);
  CHECK_FALSE(l->peek("a", kT0).allowed);
}

TEST_CASE("rate limiter: the key table is bounded and reuses idle slots", "[policy][ratelimit]") {
  auto p = perSecond(1, 1);
  p.mutable_key_by()->set_client_ip(true);
  p.set_max_keys(16);
  auto l = limiter(p);
  CHECK(l->slots() == 16);
  // 1000 distinct keys within one second: at most one allowed per slot (a slot of an exhausted
  // key is never idle, so newcomers take over the closest-to-full slot and inherit its debt:
  // fail closed), and memory stays at 16 slots.
  int allowed = 0;
  for (int i = 0; i < 1000; i++) {
    allowed += l->take(absl::StrCat("10.0.0.", i), kT0).allowed;
  }
  CHECK(allowed >= 8);  // the first 8 keys surely find an empty slot in their window
  CHECK(allowed <= 16);
  // Much later every slot is idle (full bucket): new keys get their full burst.
  for (int i = 0; i < 1000; i++) {
    INFO(i);
    REQUIRE(l->take(absl::StrCat("10.1.0.", i), kT0 + 10000 * kSec + i * 2 * kSec).allowed);
  }
  // And a key's state survives while it is in the table.
  CHECK(l->take("k", kT0 + 20000 * kSec).allowed);
  CHECK_FALSE(l->take("k", kT0 + 20000 * kSec).allowed);
}

TEST_CASE("rate limiter: two threads never get more than the burst", "[policy][ratelimit]") {
  auto p = perSecond(1, 1000);
  p.set_unit(gateway::v1::RateLimitPolicy::HOUR);  // no refill during the test
  for (bool keyed : {false, true}) {
    if (keyed) {
      p.mutable_key_by()->set_header("x-k");
    }
    auto l = limiter(p);
    std::atomic<int> allowed{0};
    const int64_t now = RateLimiter::nowNs();
    auto run = [&] {
      for (int i = 0; i < 20000; i++) {
        allowed += l->take("same-key", now).allowed;
      }
    };
    std::thread a(run), b(run);
    a.join();
    b.join();
    INFO("keyed " << keyed);
    CHECK(allowed.load() == 1000);
  }
}

TEST_CASE("rate limiter: validation names fields", "[policy][ratelimit]") {
  gateway::v1::RateLimitPolicy p;
  p.set_name("x");
  CHECK(errorsOf(p) == std::vector<std::string>{
                           "requests_per_unit: a rate is required: requests_per_unit (+ unit) or "
                           "tokens_per_fill + fill_interval (zero allows nothing)"});
  p.set_requests_per_unit(1);
  p.set_tokens_per_fill(1);
  CHECK(errorsOf(p).at(0) ==
        "tokens_per_fill: set either requests_per_unit (+ unit) or tokens_per_fill + "
        "fill_interval, not both");
  p.clear_requests_per_unit();
  CHECK(errorsOf(p) == std::vector<std::string>{"fill_interval: required with tokens_per_fill"});
  p.mutable_fill_interval()->set_nanos(1000);
  CHECK(errorsOf(p) == std::vector<std::string>{"fill_interval: must be at least 1ms"});
  p.mutable_fill_interval()->set_seconds(1);
  p.set_status(200);
  p.set_max_keys(20000000);
  p.mutable_key_by()->set_header("");
  CHECK(errorsOf(p) == std::vector<std::string>{"key_by.header: invalid header name ''",
                                                "max_keys: must be at most 10000000",
                                                "status: must be 400..599"});
}

TEST_CASE("rate limiter: a bucket too deep to refill is refused, not overflowed",
          "[policy][ratelimit]") {
  // burst x interval once overflowed int64 nanoseconds (every request was then refused).
  gateway::v1::RateLimitPolicy p = perSecond(1, 3000000);
  p.set_unit(gateway::v1::RateLimitPolicy::HOUR);
  CHECK(errorsOf(p) == std::vector<std::string>{
                           "burst: a burst of 3000000 at one token every 3600s takes more than 100 "
                           "years to refill"});
  gateway::v1::RateLimitPolicy f;
  f.set_name("f");
  f.set_tokens_per_fill(1);
  f.mutable_fill_interval()->set_seconds(86400);
  f.set_burst(200000);
  CHECK(errorsOf(f).size() == 1);
  // The default burst (the rate's token count) is bounded like an explicit one.
  CHECK(errorsOf(perSecond(200000000)) ==
        std::vector<std::string>{"burst: defaults to the rate's token count (200000000), which "
                                 "must be at most 100000000: set burst"});
  // Deep but within bounds: 10,000 tokens at one per hour still limits correctly.
  p.set_burst(10000);
  auto l = limiter(p);
  for (int i = 0; i < 10000; i++) {
    REQUIRE(l->take("", kT0).allowed);
  }
  CHECK_FALSE(l->take("", kT0).allowed);
  CHECK(l->take("", kT0 + 3600 * kSec).allowed);
}

TEST_CASE("rate limiter: an unchanged policy keeps its live buckets", "[policy][ratelimit]") {
  auto p = perSecond(1, 1);
  p.set_name("carried");
  p.set_unit(gateway::v1::RateLimitPolicy::HOUR);
  std::vector<FieldError> errors;
  auto a = RateLimiter::createShared(p, &errors);
  REQUIRE(a != nullptr);
  CHECK(a->take("", RateLimiter::nowNs()).allowed);
  auto b = RateLimiter::createShared(p, &errors);
  CHECK(b == a);
  CHECK_FALSE(b->take("", RateLimiter::nowNs()).allowed);
  p.set_burst(2);  // changed: a new bucket
  auto c = RateLimiter::createShared(p, &errors);
  CHECK(c != a);
  CHECK(c->take("", RateLimiter::nowNs()).allowed);
  // Once nothing holds it, an identical policy starts afresh.
  p.set_burst(1);
  a.reset();
  b.reset();
  auto d = RateLimiter::createShared(p, &errors);
  CHECK(d->take("", RateLimiter::nowNs()).allowed);
}

} // namespace
} // namespace gw::policy
