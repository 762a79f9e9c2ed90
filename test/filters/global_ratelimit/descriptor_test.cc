// global_ratelimit's pieces without Redis: descriptor parts and their values (each part, a
// missing identity, API-key identities only for api_key_consumer), digests and keys, the local
// pre-check table, and the script reply parser.
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "source/filters/global_ratelimit/descriptor.h"
#include "source/filters/global_ratelimit/gcra_script.h"
#include "source/filters/global_ratelimit/precheck.h"

namespace gw::filters::global_ratelimit {
namespace {

// Keys must not change between gateway versions sharing one Redis (counters would restart):
// the digest of `by: [user]` for alice, computed independently (Python hashlib).
constexpr char kAliceHex[] = "417d044de9311e37618a6c3a4d613d7d";

std::vector<DescriptorPart> parts(std::initializer_list<const char*> names) {
  std::vector<DescriptorPart> out;
  for (const char* n : names) {
    auto p = parsePart(n);
    INFO(n << ": " << p.status().ToString());
    REQUIRE(p.ok());
    out.push_back(*p);
  }
  return out;
}

struct Request {
  HeaderMap headers;
  Identity identity;
  bool has_identity = false;
  RequestFacts facts() const {
    RequestFacts f;
    f.client_ip = "192.0.2.7";
    f.identity = has_identity ? &identity : nullptr;
    f.route = "orders";
    f.method = "GET";
    f.headers = &headers;
    return f;
  }
};

std::string valueOf(const char* part, const Request& r) {
  absl::string_view v;
  const bool ok = partValue(parts({part})[0], r.facts(), &v);
  return ok ? std::string(v) : std::string("(missing)");
}

TEST_CASE("descriptor: each part takes its value from the request", "[global_ratelimit]") {
  Request r;
  r.headers.add("x-tenant", "acme");  // the codec keeps names lower-case
  CHECK(valueOf("client_ip", r) == "192.0.2.7");
  CHECK(valueOf("route", r) == "orders");
  CHECK(valueOf("method", r) == "GET");
  CHECK(valueOf("header:x-tenant", r) == "acme");
  CHECK(valueOf("header:X-Tenant", r) == "acme");  // names are case-insensitive
  CHECK(valueOf("header:x-other", r) == "(missing)");
  // No identity in the filter state: user and api_key_consumer are missing.
  CHECK(valueOf("user", r) == "(missing)");
  CHECK(valueOf("api_key_consumer", r) == "(missing)");
  // A JWT identity is a user, not an API-key consumer.
  r.has_identity = true;
  r.identity.subject = "alice";
  r.identity.method = "jwt";
  CHECK(valueOf("user", r) == "alice");
  CHECK(valueOf("api_key_consumer", r) == "(missing)");
  // An API key's identity is both.
  r.identity.subject = "partner-acme";
  r.identity.method = "api_key";
  CHECK(valueOf("user", r) == "partner-acme");
  CHECK(valueOf("api_key_consumer", r) == "partner-acme");
  // An identity without a subject is no user.
  r.identity.subject.clear();
  CHECK(valueOf("user", r) == "(missing)");
}

TEST_CASE("descriptor: a header the client sets never stands in for the user",
          "[global_ratelimit]") {
  Request r;
  r.headers.add("x-user-id", "alice");
  r.headers.add("authorization", "Bearer forged");
  Digest d;
  CHECK_FALSE(descriptorDigest(parts({"user"}), r.facts(), false, &d));
}

TEST_CASE("descriptor: parts parse, and bad ones say why", "[global_ratelimit]") {
  CHECK(partName(parts({"header:X-Tenant"})[0]) == "header:x-tenant");
  CHECK(parsePart("nope").status().message() ==
        "unknown part 'nope' (client_ip, user, api_key_consumer, route, method or "
        "header:<name>)");
  CHECK(parsePart("header:").status().message() ==
        "'header:' needs a header name ('header:x-tenant')");
  CHECK(parsePart("header:a b").status().message() == "'header:a b': 'a b' is not a header name");
}

TEST_CASE("descriptor: digests are stable, fixed-size and tell descriptors apart",
          "[global_ratelimit]") {
  Request a;
  a.has_identity = true;
  a.identity.subject = "alice";
  a.identity.method = "jwt";
  Request b = a;
  b.identity.subject = "bob";
  Digest da, da2, db, dr, dm;
  REQUIRE(descriptorDigest(parts({"user"}), a.facts(), false, &da));
  REQUIRE(descriptorDigest(parts({"user"}), a.facts(), false, &da2));
  REQUIRE(descriptorDigest(parts({"user"}), b.facts(), false, &db));
  REQUIRE(descriptorDigest(parts({"user", "route"}), a.facts(), false, &dr));
  REQUIRE(descriptorDigest(parts({"route", "user"}), a.facts(), false, &dm));
  CHECK(da == da2);
  CHECK(da != db);
  CHECK(da != dr);
  CHECK(dr != dm);  // the order of the parts matters
  // The same text as another part's value is another descriptor.
  Request c;
  c.headers.add("x-u", "alice");
  Digest dh;
  REQUIRE(descriptorDigest(parts({"header:x-u"}), c.facts(), false, &dh));
  CHECK(dh != da);
  // The digest does not depend on the process (a fixed SHA-256 prefix): gateways share keys.
  CHECK(redisKey("gw:grl:", "per-user", da) ==
        "gw:grl:per-user:" + redisKey("", "", da).substr(1));
  // The hex of the first 16 bytes of SHA-256("user=" + be32(5) + "alice").
  CHECK(redisKey("", "", da) == ":" + std::string(kAliceHex));
  const std::string key = redisKey("gw:grl:", "per-user", da);
  CHECK(key.size() == std::string("gw:grl:per-user:").size() + 32);
  // Unbounded client bytes never reach a key.
  Request big;
  big.headers.add("x-u", std::string(100000, 'x'));
  Digest dbig;
  REQUIRE(descriptorDigest(parts({"header:x-u"}), big.facts(), false, &dbig));
  CHECK(redisKey("p:", "l", dbig).size() == 4 + 32);
}

TEST_CASE("descriptor: a missing part skips the limit, or shares one counter",
          "[global_ratelimit]") {
  Request r;  // no identity
  Digest skipped, shared, shared2;
  CHECK_FALSE(descriptorDigest(parts({"user", "route"}), r.facts(), false, &skipped));
  REQUIRE(descriptorDigest(parts({"user", "route"}), r.facts(), true, &shared));
  Request r2;
  r2.headers.add("x", "y");
  REQUIRE(descriptorDigest(parts({"user", "route"}), r2.facts(), true, &shared2));
  CHECK(shared == shared2);  // every request without an identity: one counter
  // ... which is not the counter of a user whose subject is empty text or "-".
  Request dash;
  dash.has_identity = true;
  dash.identity.subject = "-";
  Digest d;
  REQUIRE(descriptorDigest(parts({"user", "route"}), dash.facts(), true, &d));
  CHECK(d != shared);
}

TEST_CASE("precheck: remembers rejected descriptors until their time, per limit",
          "[global_ratelimit]") {
  Precheck p(16);
  CHECK(p.capacity() == 16);
  CHECK(p.blockedUntil(0, 42, 1000) == 0);
  p.block(0, 42, 1500, 1000);
  CHECK(p.blockedUntil(0, 42, 1000) == 1500);
  CHECK(p.blockedUntil(0, 42, 1499) == 1500);
  CHECK(p.blockedUntil(0, 42, 1500) == 0);  // its time has come
  CHECK(p.blockedUntil(1, 42, 1000) == 0);  // another limit
  CHECK(p.blockedUntil(0, 43, 1000) == 0);  // another descriptor
  p.block(0, 42, 2000, 1000);               // extended, not duplicated
  CHECK(p.blockedUntil(0, 42, 1000) == 2000);
  CHECK(p.size(1000) == 1);
  p.block(0, 44, 900, 1000);  // already over: nothing stored
  CHECK(p.size(1000) == 1);
}

TEST_CASE("precheck: memory is fixed; when full, the entry that expires first goes",
          "[global_ratelimit]") {
  Precheck p(8);
  REQUIRE(p.capacity() == 8);
  for (uint64_t i = 0; i < 10000; i++) {
    p.block(0, i * 0x9E3779B97F4A7C15ull, 10000 + static_cast<int64_t>(i), 0);
  }
  CHECK(p.size(0) == 8);
  CHECK(p.capacity() == 8);
  // The newest (latest-expiring) entries survive.
  const uint64_t last = 9999;
  CHECK(p.blockedUntil(0, last * 0x9E3779B97F4A7C15ull, 0) == 19999);
  CHECK(p.blockedUntil(0, 0, 0) == 0);
  Precheck rounded(5);
  CHECK(rounded.capacity() == 8);
}

TEST_CASE("gcra reply: malformed replies are errors", "[global_ratelimit]") {
  redis::RedisReply r;
  r.type = redis::RedisReply::Type::Array;
  for (int64_t v : {0, 1, 4, 0, 900, 0, 0, 250, 3000}) {
    redis::RedisReply e;
    e.type = redis::RedisReply::Type::Integer;
    e.integer = v;
    r.elements.push_back(e);
  }
  auto v = parseGcraReply(r, 2);
  REQUIRE(v.ok());
  CHECK(v->at(0).fits);
  CHECK(v->at(0).remaining == 4);
  CHECK(v->at(0).reset_ms == 900);
  CHECK_FALSE(v->at(1).fits);
  CHECK(v->at(1).retry_after_ms == 250);
  CHECK(v->at(1).reset_ms == 3000);
  CHECK_FALSE(parseGcraReply(r, 3).ok());
  r.elements[2].type = redis::RedisReply::Type::String;
  CHECK(absl::StrContains(parseGcraReply(r, 2).status().message(), "script answered"));
  redis::RedisReply s;
  s.type = redis::RedisReply::Type::Status;
  s.str = "OK";
  CHECK_FALSE(parseGcraReply(s, 1).ok());
  CHECK(gcraScriptSha1().size() == 40);
}

} // namespace
} // namespace gw::filters::global_ratelimit
