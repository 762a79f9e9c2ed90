// The permission grammar and matcher (source/filters/authz/permission_matcher.h): validation
// with the reason named, the documented examples, and a property test against a reference
// matcher that enumerates concrete permissions (two patterns match exactly when some concrete
// permission is matched by both). Every check covers the raw matcher and the compiled one
// (compiled vs compiled, compiled vs raw text).
#include <algorithm>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "source/filters/authz/permission_matcher.h"

namespace gw::filters::authz {
namespace {

// permissionMatches, and the same question through the compiled forms (when `g` / `r` compile).
// REQUIREs that every form agrees, and returns the answer.
bool matchesEveryWay(const std::string& g, const std::string& r) {
  const bool raw = permissionMatches(g, r);
  auto cg = CompiledPermission::compile(g);
  auto cr = CompiledPermission::compile(r);
  if (cr.ok()) {
    REQUIRE(cr->matches(g) == raw);
  }
  if (cg.ok()) {
    REQUIRE(cg->matches(r) == raw);
  }
  if (cg.ok() && cr.ok()) {
    REQUIRE(cg->matches(*cr) == raw);
    REQUIRE(cr->matches(*cg) == raw);
  }
  return raw;
}

TEST_CASE("compiled permission: segments and stars are split once") {
  auto p = CompiledPermission::compile("orders:*:read-all");
  REQUIRE(p.ok());
  CHECK(p->text() == "orders:*:read-all");
  REQUIRE(p->segments() == 3);
  CHECK(p->segment(0) == "orders");
  CHECK(p->segment(1) == "*");
  CHECK(p->segment(2) == "read-all");
  CHECK_FALSE(p->star(0));
  CHECK(p->star(1));
  CHECK_FALSE(p->star(2));
  auto eight = CompiledPermission::compile("a:b:c:d:e:f:g:*");
  REQUIRE(eight.ok());
  CHECK(eight->segments() == 8);
  CHECK(eight->star(7));
  CHECK(eight->matches("a:b:c:d:e:f:g:h:i:j"));  // the tail star takes the rest
  CHECK_THAT(std::string(CompiledPermission::compile("a::b").status().message()),
             Catch::Contains("segment 2 is empty"));
  // A copy owns its text: its views are into its own string.
  CompiledPermission copy = *p;
  p = CompiledPermission::compile("x");
  CHECK(copy.segment(2) == "read-all");
  CHECK(copy.matches("orders:items:read-all"));
}

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
    CHECK(matchesEveryWay(c.granted, c.required) == c.match);
    CHECK(matchesEveryWay(c.required, c.granted) == c.match);  // symmetric
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
  std::mt19937 rng(20261205);  // fixed: a failure reproduces
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
  for (int i = 0; i < 8000; i++) {
    const std::string g = randomPermission(), r = randomPermission();
    INFO(g << " vs " << r);
    REQUIRE(validatePermission(g).ok());
    const bool want = referenceMatches(g, r);
    REQUIRE(matchesEveryWay(g, r) == want);
    matches += want ? 1 : 0;
  }
  // Both outcomes were exercised plenty.
  CHECK(matches > 800);
  CHECK(matches < 7200);
}

// The second reference works on any text, valid or not, character by character: a permission is
// its `:`-split segments; a concrete permission (a list of segments) matches a pattern when the
// lengths fit (equal, or at least the pattern's when its last segment is `*`) and every other
// pattern segment is `*` or equal. Two patterns match when a concrete permission built from
// their literal segments plus one other ("zz") matches both.
bool concreteMatches(const std::vector<std::string>& pattern,
                     const std::vector<std::string>& concrete) {
  const size_t n = pattern.size();
  const bool tail = pattern.back() == "*";
  if (tail ? concrete.size() < n : concrete.size() != n) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (pattern[i] != "*" && pattern[i] != concrete[i]) {
      return false;
    }
  }
  return true;
}

bool textReferenceMatches(const std::string& g, const std::string& r) {
  const std::vector<std::string> a = absl::StrSplit(g, ':'), b = absl::StrSplit(r, ':');
  std::vector<std::string> alphabet = {"zz"};
  for (const auto* side : {&a, &b}) {
    for (const std::string& seg : *side) {
      if (seg != "*" && std::find(alphabet.begin(), alphabet.end(), seg) == alphabet.end()) {
        alphabet.push_back(seg);
      }
    }
  }
  const size_t longest = std::max(a.size(), b.size());
  std::vector<std::vector<std::string>> level = {{}};
  for (size_t len = 1; len <= longest; len++) {
    std::vector<std::vector<std::string>> next;
    for (const auto& prefix : level) {
      for (const std::string& seg : alphabet) {
        std::vector<std::string> c = prefix;
        c.push_back(seg);
        if (concreteMatches(a, c) && concreteMatches(b, c)) {
          return true;
        }
        next.push_back(std::move(c));
      }
    }
    level = std::move(next);
  }
  return false;
}

bool referenceValid(const std::string& p) {
  const std::vector<std::string> segs = absl::StrSplit(p, ':');
  if (p.empty() || p.size() > 256 || segs.size() > 8) {
    return false;
  }
  for (const std::string& seg : segs) {
    if (seg == "*") {
      continue;
    }
    if (seg.empty() || seg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789-_./") != std::string::npos) {
      return false;
    }
  }
  return true;
}

TEST_CASE("permission matching: property test over random text of a, b, -, *, :") {
  std::mt19937 rng(51206);  // fixed: a failure reproduces
  const char alphabet[] = {'a', 'b', '-', '*', ':'};
  auto randomText = [&] {
    std::string s(rng() % 7, ' ');
    for (char& c : s) {
      c = alphabet[rng() % sizeof(alphabet)];
    }
    return s;
  };
  int matches = 0, valid_pairs = 0;
  for (int i = 0; i < 20000; i++) {
    const std::string g = randomText(), r = randomText();
    INFO("[" << g << "] vs [" << r << "]");
    REQUIRE(validatePermission(g).ok() == referenceValid(g));
    const bool want = textReferenceMatches(g, r);
    REQUIRE(matchesEveryWay(g, r) == want);
    REQUIRE(matchesEveryWay(r, g) == want);
    matches += want ? 1 : 0;
    valid_pairs += referenceValid(g) && referenceValid(r) ? 1 : 0;
  }
  CHECK(matches > 1000);
  CHECK(matches < 19000);
  CHECK(valid_pairs > 1000);  // the compiled forms were exercised too
}

} // namespace
} // namespace gw::filters::authz
