// API keys and usage plans (source/policy/api_keys.h, quota_period.h): quota periods at their
// boundaries (month ends, weeks from Monday, DST days in a zone), the lock-free quota cell
// (limit, reset at a new period, concurrent takers), key hashing, and the store's validation with
// full field paths.
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/time/civil_time.h"
#include "google/protobuf/util/json_util.h"
#include "source/policy/api_keys.h"

namespace gw::policy {
namespace {

using Quota = gateway::v1::UsagePlan::Quota;

absl::Time utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

std::string fmt(absl::Time t, const absl::TimeZone& tz) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %z", t, tz);
}

TEST_CASE("quota periods: day, week and month boundaries in UTC") {
  const absl::TimeZone z = absl::UTCTimeZone();
  QuotaPeriod d = quotaPeriodAt(utc(2026, 12, 31, 23, 59, 59), Quota::DAY, z);
  CHECK(d.start == utc(2026, 12, 31));
  CHECK(d.end == utc(2027, 1, 1));
  CHECK(d.secondsLeft(utc(2026, 12, 31, 23, 59, 59)) == 1);
  // The first second of the next day is in the next period.
  CHECK(quotaPeriodAt(utc(2027, 1, 1), Quota::DAY, z).start == utc(2027, 1, 1));

  // 2026-12-05 is a Saturday: the week began on Monday 2026-11-30.
  QuotaPeriod w = quotaPeriodAt(utc(2026, 12, 5, 12), Quota::WEEK, z);
  CHECK(w.start == utc(2026, 11, 30));
  CHECK(w.end == utc(2026, 12, 7));
  CHECK(quotaPeriodAt(utc(2026, 12, 7), Quota::WEEK, z).start == utc(2026, 12, 7));
  CHECK(quotaPeriodAt(utc(2026, 12, 6, 23, 59, 59), Quota::WEEK, z).start == utc(2026, 11, 30));

  // Months of 28, 29, 30 and 31 days.
  CHECK(quotaPeriodAt(utc(2027, 2, 28, 23), Quota::MONTH, z).end == utc(2027, 3, 1));
  CHECK(quotaPeriodAt(utc(2028, 2, 29, 23), Quota::MONTH, z).end == utc(2028, 3, 1));
  CHECK(quotaPeriodAt(utc(2026, 4, 30, 23, 59), Quota::MONTH, z).end == utc(2026, 5, 1));
  QuotaPeriod m = quotaPeriodAt(utc(2026, 12, 31, 23, 59, 59), Quota::MONTH, z);
  CHECK(m.start == utc(2026, 12, 1));
  CHECK(m.end == utc(2027, 1, 1));
}

TEST_CASE("quota periods: local midnight in a zone, across DST") {
  absl::TimeZone berlin;
  REQUIRE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  // 2026-03-29: clocks go from 02:00 to 03:00; the day is 23 hours long.
  QuotaPeriod spring = quotaPeriodAt(utc(2026, 3, 29, 12), Quota::DAY, berlin);
  CHECK(fmt(spring.start, berlin) == "2026-03-29 00:00:00 +0100");
  CHECK(fmt(spring.end, berlin) == "2026-03-30 00:00:00 +0200");
  CHECK(spring.end - spring.start == absl::Hours(23));
  // 2026-10-25: 25 hours.
  QuotaPeriod autumn = quotaPeriodAt(utc(2026, 10, 25, 12), Quota::DAY, berlin);
  CHECK(autumn.end - autumn.start == absl::Hours(25));
  // 23:30 UTC on Dec 31 is already Jan 1 in Berlin: a new day, and a new month.
  QuotaPeriod ny = quotaPeriodAt(utc(2026, 12, 31, 23, 30), Quota::MONTH, berlin);
  CHECK(fmt(ny.start, berlin) == "2027-01-01 00:00:00 +0100");
  CHECK(ny.start == utc(2026, 12, 31, 23));
}

TEST_CASE("quota periods: the per-thread cache answers like the computation, across a boundary") {
  absl::TimeZone berlin;
  REQUIRE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  for (const absl::TimeZone& z : {absl::UTCTimeZone(), berlin}) {
    for (auto period : {Quota::DAY, Quota::WEEK, Quota::MONTH}) {
      // Every 7 hours over two months, twice: the second pass is answered from the cache.
      for (int pass = 0; pass < 2; pass++) {
        for (absl::Time t = utc(2026, 10, 20); t < utc(2026, 12, 20); t += absl::Hours(7)) {
          const QuotaPeriod want = quotaPeriodAt(t, period, z);
          const QuotaPeriod got = cachedQuotaPeriodAt(t, period, z);
          REQUIRE(got.start == want.start);
          REQUIRE(got.end == want.end);
        }
      }
    }
  }
}

TEST_CASE("quota cell: counts to the limit, resets at a new period") {
  QuotaCell cell;
  const absl::TimeZone z = absl::UTCTimeZone();
  const QuotaPeriod day1 = quotaPeriodAt(utc(2026, 12, 5, 10), Quota::DAY, z);
  const QuotaPeriod day2 = quotaPeriodAt(utc(2026, 12, 6, 0), Quota::DAY, z);
  for (uint64_t i = 1; i <= 3; i++) {
    auto r = cell.take(day1, 3);
    CHECK(r.admitted);
    CHECK(r.count == i);
  }
  auto over = cell.take(day1, 3);
  CHECK_FALSE(over.admitted);
  CHECK(over.count == 3);
  CHECK(cell.count(day1) == 3);
  CHECK(cell.count(day2) == 0);
  auto next = cell.take(day2, 3);  // the period boundary resets the count
  CHECK(next.admitted);
  CHECK(next.count == 1);
  CHECK(cell.count(day1) == 0);  // the old period is gone
}

TEST_CASE("quota cell: concurrent takers admit exactly the limit") {
  QuotaCell cell;
  const QuotaPeriod p = quotaPeriodAt(utc(2026, 12, 5), Quota::DAY, absl::UTCTimeZone());
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; i++) {
        if (cell.take(p, 7777).admitted) {
          admitted++;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(admitted == 7777);
  CHECK(cell.count(p) == 7777);
}

TEST_CASE("quota cells are shared by name across configs") {
  auto a = QuotaCell::shared("plan\nkey\n0");
  auto b = QuotaCell::shared("plan\nkey\n0");
  auto c = QuotaCell::shared("plan\nkey\n1");
  CHECK(a == b);
  CHECK(a != c);
}

gateway::v1::Config parse(const std::string& json) {
  gateway::v1::Config c;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &c).ok());
  return c;
}

std::vector<std::string> errorsOf(const std::string& json, bool serving = false) {
  std::vector<FieldError> errors;
  auto store = ApiKeyStore::create(parse(json), serving, {"cache"}, &errors);
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(e.field + ": " + e.message);
  }
  CHECK((store == nullptr) == !out.empty());
  return out;
}

TEST_CASE("API keys: hashing, lookup by digest, expiry and plans") {
  CHECK(ApiKeyStore::sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string json = R"({
    "usage_plans": [{"name": "basic", "rate": {"requests_per_second": 5},
                     "quota": {"limit": 1000, "period": "DAY"},
                     "overrides": [{"methods": ["POST"], "quota": {"limit": 10}}]}],
    "api_keys": [
      {"id": "k1", "key_sha256": ")" + ApiKeyStore::sha256Hex("secret-1") + R"(",
       "consumer": {"id": "acme", "roles": ["partner"]}, "plan": "basic",
       "expires_at": "2030-01-01T00:00:00Z"},
      {"id": "k2", "key_sha256": ")" + absl::AsciiStrToUpper(ApiKeyStore::sha256Hex("secret-2")) +
                           R"(", "enabled": false}]})";
  std::vector<FieldError> errors;
  auto store = ApiKeyStore::create(parse(json), /*serving=*/true, {}, &errors);
  REQUIRE(errors.empty());
  REQUIRE(store != nullptr);
  const ApiKeyEntry* k1 = store->find(ApiKeyStore::sha256("secret-1"));
  REQUIRE(k1 != nullptr);
  CHECK(k1->id == "k1");
  CHECK(k1->consumer_id == "acme");
  CHECK(k1->roles == std::vector<std::string>{"partner"});
  CHECK(*k1->expires_at == utc(2030, 1, 1));
  REQUIRE(k1->plan != nullptr);
  CHECK(k1->plan->limits.rate != nullptr);
  CHECK(k1->plan->limits.rate->burst() == 5);
  CHECK(k1->cells.size() == 2);  // the plan's quota and the override's
  CHECK(&k1->plan->limitsFor("any", "POST") == &k1->plan->overrides[0]);
  CHECK(&k1->plan->limitsFor("any", "GET") == &k1->plan->limits);
  const ApiKeyEntry* k2 = store->find(ApiKeyStore::sha256("secret-2"));  // upper-case hex
  REQUIRE(k2 != nullptr);
  CHECK_FALSE(k2->enabled);
  CHECK(k2->consumer_id == "k2");  // no consumer: the key's id
  CHECK(k2->plan == nullptr);
  CHECK(store->find(ApiKeyStore::sha256("secret-3")) == nullptr);
  CHECK(store->find("secret-1") == nullptr);  // never by the key itself
  CHECK(store->findById("k2") == k2);
}

TEST_CASE("API keys and plans: errors with field paths") {
  const std::string h = ApiKeyStore::sha256Hex("x");
  CHECK(errorsOf(R"({"api_keys": [{"id": "a", "key_sha256": "not-a-hash"}]})") ==
        std::vector<std::string>{
            "api_keys[0].key_sha256: must be the key's SHA-256 as 64 hex digits (never the key "
            "itself)"});
  CHECK(errorsOf(R"({"api_keys": [{"id": "a", "key_sha256": ")" + h + R"("},
                                  {"id": "b", "key_sha256": ")" + h + R"("},
                                  {"id": "a", "key_sha256": ")" + h + R"("},
                                  {"key_sha256": ")" + h + R"("}]})") ==
        std::vector<std::string>{"api_keys[1].key_sha256: the same key as API key 'a'",
                                 "api_keys[2].id: duplicate API key id 'a'",
                                 "api_keys[3].id: required"});
  CHECK(errorsOf(R"({"api_keys": [{"id": "a", "key_sha256": ")" + h + R"(", "plan": "gold"}]})") ==
        std::vector<std::string>{"api_keys[0].plan: unknown usage plan 'gold'"});
  CHECK(errorsOf(R"({"usage_plans": [
      {"name": "p", "rate": {"requests_per_second": 0}, "quota": {"limit": 0,
       "time_zone": "Mars/Olympus"}, "redis": "nope"},
      {"name": "p", "rate": {"requests_per_second": 1}},
      {"name": "q"},
      {"name": "r", "overrides": [{"methods": ["get"], "quota": {"limit": 5}}, {}]}]})") ==
        std::vector<std::string>{
            "usage_plans[0].redis: unknown redis server 'nope'",
            "usage_plans[0].rate.requests_per_second: must be at least 1",
            "usage_plans[0].quota.limit: must be 1..4294967294",
            "usage_plans[0].quota.time_zone: unknown time zone 'Mars/Olympus' (an IANA name such "
            "as Europe/Berlin)",
            "usage_plans[1].name: duplicate usage plan 'p'",
            "usage_plans[2]: set a rate, a quota or overrides (a plan without limits is a key "
            "without a plan)",
            "usage_plans[3].overrides[0].methods[0]: 'get' is not an upper-case method",
            "usage_plans[3].overrides[1]: set a rate or a quota"});
  CHECK(errorsOf(R"({"usage_plans": [{"name": "shared", "quota": {"limit": 5}, "redis": "cache"}]})")
            .empty());
}

} // namespace
} // namespace gw::policy
