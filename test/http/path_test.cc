#include <string>

#include <catch2/catch.hpp>

#include "source/http/path.h"

namespace gw::http {
namespace {

// Normalized path of `target`, failing the test on error.
std::string norm(absl::string_view target, PathOptions opts = {}) {
  auto r = normalizeTarget(target, opts);
  INFO("target: " << std::string(target) << " status: " << r.status().ToString());
  REQUIRE(r.ok());
  return r->path;
}

// The error message for `target`, failing the test when it normalizes.
std::string err(absl::string_view target, PathOptions opts = {}) {
  auto r = normalizeTarget(target, opts);
  INFO("target: " << std::string(target));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST_CASE("path: plain paths are unchanged", "[path]") {
  CHECK(norm("/") == "/");
  CHECK(norm("/a/b/c") == "/a/b/c");
  CHECK(norm("/a/b/") == "/a/b/");
  CHECK(norm("/a-b_c~d.e") == "/a-b_c~d.e");
  CHECK(norm("/api/v1/users;param=1") == "/api/v1/users;param=1");
  CHECK(norm("/caf\xC3\xA9") == "/caf\xC3\xA9");  // raw UTF-8 passes through
}

TEST_CASE("path: query is split off and kept raw", "[path]") {
  auto r = normalizeTarget("/a/%7e/../b?x=%2F..%2e&y=1/../2", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/a/b");
  CHECK(r->query == "x=%2F..%2e&y=1/../2");

  r = normalizeTarget("/a?", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/a");
  CHECK(r->query.empty());

  r = normalizeTarget("/a?b?c", {});
  REQUIRE(r.ok());
  CHECK(r->query == "b?c");

  r = normalizeTarget("/a", {});
  REQUIRE(r.ok());
  CHECK(r->query.empty());
}

TEST_CASE("path: fragment is dropped", "[path]") {
  auto r = normalizeTarget("/a/b#frag", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/a/b");
  CHECK(r->query.empty());

  r = normalizeTarget("/a?x=1#frag?y=2", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/a");
  CHECK(r->query == "x=1");

  // A '#' before the '?' ends the target: the "query" is part of the fragment.
  r = normalizeTarget("/a#f?x=1", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/a");
  CHECK(r->query.empty());
}

TEST_CASE("path: unreserved percent-escapes are decoded", "[path]") {
  CHECK(norm("/%41%5a%61%7A%30%39") == "/AZaz09");
  CHECK(norm("/%2D%2e%5F%7e") == "/-._~");
  CHECK(norm("/api/%75sers") == "/api/users");
}

TEST_CASE("path: other percent-escapes are upper-cased, not decoded", "[path]") {
  CHECK(norm("/a%20b") == "/a%20b");
  CHECK(norm("/a%3a%3F%23") == "/a%3A%3F%23");
  CHECK(norm("/%c3%a9") == "/%C3%A9");
  CHECK(norm("/%25") == "/%25");      // an encoded '%' stays encoded
  CHECK(norm("/%252e") == "/%252e");  // and is not decoded twice
  CHECK(norm("/%7f%01") == "/%7F%01");
}

TEST_CASE("path: dot segments are removed (RFC 3986 5.2.4)", "[path]") {
  CHECK(norm("/a/./b") == "/a/b");
  CHECK(norm("/a/../b") == "/b");
  CHECK(norm("/a/b/c/./../../g") == "/a/g");
  CHECK(norm("/a/b/..") == "/a/");
  CHECK(norm("/a/b/.") == "/a/b/");
  CHECK(norm("/a/.") == "/a/");
  CHECK(norm("/.") == "/");
  CHECK(norm("/..") == "/");
  CHECK(norm("/a/..") == "/");
  CHECK(norm("/./a") == "/a");
  // Not dot segments.
  CHECK(norm("/a/.../b") == "/a/.../b");
  CHECK(norm("/a/..b/.c") == "/a/..b/.c");
  CHECK(norm("/a./b..") == "/a./b..");
}

TEST_CASE("path: climbing above the root stays at the root", "[path]") {
  CHECK(norm("/../a") == "/a");
  CHECK(norm("/../../../etc/passwd") == "/etc/passwd");
  CHECK(norm("/a/../../b") == "/b");
}

TEST_CASE("path: encoded dot segments are removed too", "[path]") {
  CHECK(norm("/a/%2E%2E/b") == "/b");
  CHECK(norm("/a/%2e%2e/b") == "/b");
  CHECK(norm("/a/.%2e/b") == "/b");
  CHECK(norm("/a/%2E/b") == "/a/b");
  CHECK(norm("/%2e%2e/%2e%2e/etc/passwd") == "/etc/passwd");
  CHECK(norm("/api/%2e%2e/admin") == "/admin");
}

TEST_CASE("path: slashes are merged when enabled", "[path]") {
  CHECK(norm("//a///b//") == "/a/b/");
  CHECK(norm("//") == "/");
  CHECK(norm("/a//../b") == "/b");  // merged before dot removal, as nginx does
  CHECK(norm("/a/b//") == "/a/b/");
}

TEST_CASE("path: slashes are kept when merging is disabled", "[path]") {
  PathOptions opts;
  opts.merge_slashes = false;
  CHECK(norm("//a///b//", opts) == "//a///b//");
  CHECK(norm("//", opts) == "//");
  CHECK(norm("/a//../b", opts) == "/a/b");  // ".." removes the empty segment
}

TEST_CASE("path: absolute-form is reduced to its path", "[path]") {
  auto r = normalizeTarget("http://example.com/a/../b?x=1", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/b");
  CHECK(r->query == "x=1");

  CHECK(norm("https://example.com:8443/a") == "/a");
  CHECK(norm("HTTP://Example.COM/A") == "/A");
  CHECK(norm("http://example.com") == "/");
  CHECK(norm("http://user@example.com:80/x") == "/x");

  r = normalizeTarget("http://example.com?q=1", {});
  REQUIRE(r.ok());
  CHECK(r->path == "/");
  CHECK(r->query == "q=1");

  CHECK(norm("http://example.com#frag") == "/");
}

TEST_CASE("path: rejects empty and non-origin targets", "[path]") {
  CHECK(err("") == "empty request target");
  CHECK(err("a/b") == "path must start with '/'");
  CHECK(err("?x=1") == "path must start with '/'");
  CHECK(err("#x") == "path must start with '/'");
  CHECK(err("ftp://example.com/a") == "path must start with '/'");
  CHECK(err("example.com:443") == "path must start with '/'");  // authority-form
  CHECK(err("*") == "asterisk-form request target");
}

TEST_CASE("path: rejects backslash, raw or encoded", "[path]") {
  CHECK(err("/a\\b") == "backslash in path");
  CHECK(err("/..\\etc") == "backslash in path");
  CHECK(err("/a%5Cb") == "encoded backslash in path");
  CHECK(err("/a%5cb") == "encoded backslash in path");
}

TEST_CASE("path: rejects encoded slash unless allowed", "[path]") {
  CHECK(err("/a%2Fb") == "encoded slash in path");
  CHECK(err("/a%2fb") == "encoded slash in path");
  CHECK(err("/a/..%2f..%2fetc") == "encoded slash in path");

  PathOptions opts;
  opts.reject_encoded_slashes = false;
  // Kept encoded (upper-cased) and not treated as a separator by dot removal.
  CHECK(norm("/a%2fb", opts) == "/a%2Fb");
  CHECK(norm("/a/..%2F..%2Fb", opts) == "/a/..%2F..%2Fb");
  CHECK(norm("/a%5cb", opts) == "/a%5Cb");
  // A raw backslash is still rejected.
  CHECK(err("/a\\b", opts) == "backslash in path");
}

TEST_CASE("path: rejects encoded NUL", "[path]") {
  CHECK(err("/a%00b") == "encoded NUL in path");
  CHECK(err("/a%00") == "encoded NUL in path");
}

TEST_CASE("path: rejects raw control characters, space and DEL", "[path]") {
  CHECK(err(absl::string_view("/a\0b", 4)) == "control character in request target");
  CHECK(err("/a b") == "control character in request target");
  CHECK(err("/a\tb") == "control character in request target");
  CHECK(err("/a\r\nb") == "control character in request target");
  CHECK(err("/a\x1f") == "control character in request target");
  CHECK(err("/a\x7f") == "control character in request target");
  // In the query and fragment too.
  CHECK(err("/a?x=1 2") == "control character in request target");
  CHECK(err("/a#x y") == "control character in request target");
}

TEST_CASE("path: rejects invalid percent-escapes", "[path]") {
  CHECK(err("/a%") == "invalid percent-encoding in path");
  CHECK(err("/a%4") == "invalid percent-encoding in path");
  CHECK(err("/a%zz") == "invalid percent-encoding in path");
  CHECK(err("/a%4g/b") == "invalid percent-encoding in path");
  CHECK(err("/a%%41") == "invalid percent-encoding in path");
  // A '%' in the query is not the path's business.
  auto r = normalizeTarget("/a?x=%zz", {});
  REQUIRE(r.ok());
  CHECK(r->query == "x=%zz");
}

TEST_CASE("path: normalization is idempotent", "[path]") {
  const char* targets[] = {"/a/%2e%2E/b//c/./d/", "/%7euser/%c3%a9", "//x/../y/..", "/a%20b/%41"};
  for (const char* t : targets) {
    const std::string once = norm(t);
    CHECK(norm(once) == once);
  }
}

// normalizeTarget answers most targets in one pass and sends the rest to normalizeTargetFull:
// every target of up to 6 bytes over the bytes that matter to either ('/', '.', '?', '#', '%',
// hex digits, a plain letter) gets the same answer from both, with slashes merged and not.
TEST_CASE("path: the one-pass shortcut agrees with the full normalization", "[path]") {
  static constexpr char kBytes[] = {'/', '.', '?', '#', '%', '2', 'F', 'a'};
  constexpr size_t kN = sizeof(kBytes);
  size_t compared = 0;
  size_t differing = 0;
  for (const bool merge : {true, false}) {
    PathOptions opts;
    opts.merge_slashes = merge;
    for (size_t len = 1; len <= 6; len++) {
      size_t combos = 1;
      for (size_t i = 0; i < len; i++) combos *= kN;
      std::string t(len, ' ');
      for (size_t k = 0; k < combos; k++) {
        size_t v = k;
        for (size_t i = 0; i < len; i++, v /= kN) t[i] = kBytes[v % kN];
        auto fast = normalizeTarget(t, opts);
        auto full = normalizeTargetFull(t, opts);
        compared++;
        const bool same = fast.ok() == full.ok() &&
                          (fast.ok() ? fast->path == full->path && fast->query == full->query
                                     : fast.status() == full.status());
        if (!same) {
          differing++;
          UNSCOPED_INFO("target '" << t << "' merge=" << merge);
        }
      }
    }
  }
  CHECK(compared > 500000);
  CHECK(differing == 0);
}

TEST_CASE("path: targets the shortcut answers and those it leaves", "[path]") {
  PathOptions opts;
  for (const char* t : {"/", "/a/b", "/a/.b/..c/b.", "/a?b=/../c//d", "/a/b/?", "/ü/x"}) {
    auto r = normalizeTarget(t, opts);
    REQUIRE(r.ok());
    auto f = normalizeTargetFull(t, opts);
    REQUIRE(f.ok());
    CHECK(r->path == f->path);
    CHECK(r->query == f->query);
  }
  CHECK(norm("/a/.") == "/a/");
  CHECK(norm("/a/..?x") == "/");
  CHECK(norm("/a//b") == "/a/b");
  CHECK(norm("/a?x#f") == "/a");
  CHECK(err("/a\\b") == "backslash in path");
  CHECK(err("/a?x\tb") == "control character in request target");
}

} // namespace
} // namespace gw::http
