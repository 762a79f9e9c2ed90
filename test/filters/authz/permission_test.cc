// The permission grammar and matcher (source/filters/authz/permission.h): validation with the
// reason named, the documented examples, and a property test against a reference matcher that
// enumerates concrete permissions (two patterns match exactly when some concrete permission is
// matched by both).
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "source/filters/authz/permission.h"

namespace gw::filters::authz {
namespace {

TEST_CASE("permission grammar: valid and invalid permissions, with the reason") {
  for (const char* ok : {"*", "orders", "orders:read", "orders:*", "*:read", "*:*",
                         "a:b:c:d:e:f:g:h", "v1.orders/items:read-all_x", "ORDERS:Read"}) {
    INFO(ok);
    CHECK(validatePermission(ok).ok());
  }
  struct Bad {
    const char* text;
    const char* says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"", "must not be empty"},
           {"orders:", "segment 2 is empty"},
           {":read", "segment 1 is empty"},
           {"orders::read", "segment 2 is empty"},
           {"ord*:read", "may be '*' alone, not contain it"},
           {"orders:re ad", "may hold only letters, digits"},
           {"orders,read", "may hold only letters, digits"},
           {"a:b:c:d:e:f:g:h:i", "more than 8 segments"},
       }) {
    INFO(b.text);
    const absl::Status st = validatePermission(b.text);
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(std::string(st.message()), Catch::Contains(b.says));
  }
  CHECK_THAT(std::string(validatePermission(std::string(300, 'a')).message()),
             Catch::Contains("at most 256"));
}

TEST_CASE("permission matching: the documented examples") {
  struct Case {
    const char* granted;
    const char* required;
    bool match;
  };
  for (const Case& c : std::vector<Case>{
           {"orders:read", "orders:read", true},
           {"orders:read", "orders:write", false},
           {"orders:*", "orders:read", true},
           {"orders:*", "orders:items:read", true},   // trailing * takes the rest
           {"orders:*", "orders", false},             // ... one segment at least
           {"orders:*", "orders-admin:read", false},  // segment-exact, never a prefix
           {"orders", "orders:read", false},          // no implied wildcard
           {"*:read", "orders:read", true},
           {"*:read", "orders:items:read", false},  // a middle * is one segment
           {"*:read", "read", false},
           {"*", "anything:at:all", true},
           {"*", "x", true},
           {"Orders:read", "orders:read", false},  // case-sensitive
           {"orders:read", "orders:*", true},      // wildcards on the required side too
           {"orders:read", "*", true},
           {"users:*", "*:read", true},  // users:read satisfies both
           {"*:*", "orders", false},
           {"orders:*read", "orders:read", false},  // `*read` is literal text, not a wildcard
           {"", "", true},
           {"a", "", false},
       }) {
    INFO(c.granted << " vs " << c.required);
    CHECK(permissionMatches(c.granted, c.required) == c.match);
    CHECK(permissionMatches(c.required, c.granted) == c.match);  // symmetric
  }
}

// The reference: a pattern as a regular expression over concrete permissions (a middle `*` is
// one segment, a trailing `*` one or more), and two patterns match when some concrete
// permission of up to 3 segments (the longest pattern) over {a, b, aa, c} matches both; `c`,
// which no pattern names, stands for "any other segment".
bool referenceMatches(const std::string& g, const std::string& r) {
  auto toRegex = [](const std::string& p) {
    std::vector<std::string> segs = absl::StrSplit(p, ':');
    std::string re;
    for (size_t i = 0; i < segs.size(); i++) {
      if (i > 0) {
        re += ":";
      }
      if (segs[i] == "*") {
        re += i + 1 == segs.size() ? "[a-c]+(:[a-c]+)*" : "[a-c]+";
      } else {
        re += segs[i];
      }
    }
    return std::regex(re);
  };
  const std::regex gr = toRegex(g), rr = toRegex(r);
  std::vector<std::string> concrete = {""};
  for (int len = 1; len <= 3; len++) {
    std::vector<std::string> next;
    for (const std::string& prefix : concrete) {
      for (const char* seg : {"a", "b", "c", "aa"}) {
        const std::string p = prefix.empty() ? seg : prefix + ":" + seg;
        if (std::regex_match(p, gr) && std::regex_match(p, rr)) {
          return true;
        }
        next.push_back(p);
      }
    }
    concrete = std::move(next);
  }
  return false;
}

TEST_CASE("permission matching: property test against the reference matcher") {
  std::mt19937 rng(20261205);
  const std::vector<std::string> segs = {"a", "b", "aa", "*"};
  auto randomPermission = [&] {
    const int n = 1 + static_cast<int>(rng() % 3);
    std::vector<std::string> parts;
    for (int i = 0; i < n; i++) {
      parts.push_back(segs[rng() % segs.size()]);
    }
    return absl::StrJoin(parts, ":");
  };
  int matches = 0;
  for (int i = 0; i < 3000; i++) {
    const std::string g = randomPermission(), r = randomPermission();
    INFO(g << " vs " << r);
    REQUIRE(validatePermission(g).ok());
    const bool want = referenceMatches(g, r);
    REQUIRE(permissionMatches(g, r) == want);
    matches += want ? 1 : 0;
  }
  // Both outcomes were exercised plenty.
  CHECK(matches > 300);
  CHECK(matches < 2700);
}

} // namespace
} // namespace gw::filters::authz
