// Fuzzes the authz permission grammar and matcher (source/filters/authz/permission_matcher.h). The
// input is "granted\nrequired". Checks: validatePermission never crashes; matching is
// symmetric, reflexive and `*` matches everything; a permission compiles exactly when it is
// valid, and the compiled forms (compiled vs raw text, compiled vs compiled, either way round)
// answer as permissionMatches does; and for two valid permissions the result equals an
// independent model (segment vectors, matched recursively: a trailing `*` takes one or more
// segments of the other side, a middle `*` exactly one). Any violation abort()s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "source/filters/authz/permission_matcher.h"

namespace gw::fuzz {
namespace {

using filters::authz::CompiledPermission;
using filters::authz::permissionMatches;
using filters::authz::validatePermission;

[[noreturn]] void fail(const char* what, absl::string_view g, absl::string_view r) {
  fprintf(stderr, "permission fuzz invariant violated: %s\n  granted: [%.*s]\n  required: [%.*s]\n",
          what, static_cast<int>(g.size()), g.data(), static_cast<int>(r.size()), r.data());
  abort();
}

bool model(const std::vector<absl::string_view>& a, size_t i,
           const std::vector<absl::string_view>& b, size_t j) {
  if (i == a.size() || j == b.size()) {
    return i == a.size() && j == b.size();
  }
  const bool a_tail = a[i] == "*" && i + 1 == a.size();
  const bool b_tail = b[j] == "*" && j + 1 == b.size();
  if (a_tail || b_tail) {
    return true;  // both sides have a segment here; the tail star takes the rest
  }
  if (a[i] != "*" && b[j] != "*" && a[i] != b[j]) {
    return false;
  }
  return model(a, i + 1, b, j + 1);
}

} // namespace
} // namespace gw::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gw::fuzz;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const absl::string_view g = in.substr(0, nl);
  const absl::string_view r = nl == absl::string_view::npos ? absl::string_view() : in.substr(nl + 1);
  const bool g_ok = validatePermission(g).ok();
  const bool r_ok = validatePermission(r).ok();
  const bool m = permissionMatches(g, r);
  if (m != permissionMatches(r, g)) {
    fail("not symmetric", g, r);
  }
  if (!permissionMatches(g, g) || !permissionMatches(r, r)) {
    fail("not reflexive", g, r);
  }
  if (!permissionMatches("*", r) || !permissionMatches(g, "*")) {
    fail("'*' did not match", g, r);
  }
  const auto cg = CompiledPermission::compile(g);
  const auto cr = CompiledPermission::compile(r);
  if (cg.ok() != g_ok || cr.ok() != r_ok) {
    fail("compiles differently from validatePermission", g, r);
  }
  if (cg.ok() && (cg->text() != g || cg->matches(r) != m || !cg->matches(g))) {
    fail("compiled granted differs from permissionMatches", g, r);
  }
  if (cr.ok() && (cr->matches(g) != m || !cr->matches(r))) {
    fail("compiled required differs from permissionMatches", g, r);
  }
  if (cg.ok() && cr.ok() && (cg->matches(*cr) != m || cr->matches(*cg) != m)) {
    fail("compiled pair differs from permissionMatches", g, r);
  }
  if (g_ok && r_ok) {
    const std::vector<absl::string_view> a = absl::StrSplit(g, ':');
    const std::vector<absl::string_view> b = absl::StrSplit(r, ':');
    if (m != model(a, 0, b, 0)) {
      fail("differs from the segment model", g, r);
    }
  }
  return 0;
}
