// The json_transform engine: every operation and path rule, number text preservation (a property
// test over random documents), invalid JSON, and config errors.
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "source/filters/json_transform/json_doc.h"
#include "source/filters/json_transform/json_ops.h"
#include "source/filters/json_transform/json_path.h"

namespace gw::filters::json {
namespace {

OpSpec op(std::string o, std::string path, std::string to = "") {
  OpSpec s;
  s.op = std::move(o);
  s.path = std::move(path);
  s.to = std::move(to);
  return s;
}
OpSpec literal(std::string o, std::string path, std::string json) {
  OpSpec s = op(std::move(o), std::move(path));
  s.has_value = true;
  s.value_json = std::move(json);
  return s;
}
OpSpec templ(std::string o, std::string path, std::string t) {
  OpSpec s = op(std::move(o), std::move(path));
  s.has_template = true;
  s.template_text = std::move(t);
  return s;
}

bool noRequest(const TemplateRef&, std::string&) { return false; }

// Runs `ops` on `body`; returns the resulting body (REQUIREs the compile and a valid body).
std::string run(std::vector<OpSpec> ops, std::string body,
                Resolver resolve = Resolver(noRequest)) {
  auto p = Program::compile(ops, "request");
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  std::string error;
  auto r = (*p)->apply(body, resolve, error);
  INFO(error);
  REQUIRE(r != Program::Result::Invalid);
  return body;
}

std::string compileError(std::vector<OpSpec> ops) {
  auto p = Program::compile(ops, "response");
  REQUIRE_FALSE(p.ok());
  return std::string(p.status().message());
}

// ---------------------------------------------------------------------------------------------
// rename

TEST_CASE("json: rename keeps the member's place and the other bytes' meaning", "[json]") {
  CHECK(run({op("rename", "user_name", "userName")}, R"({"id":1,"user_name":"ada","x":true})") ==
        R"({"id":1,"userName":"ada","x":true})");
}

TEST_CASE("json: rename in a nested object, by dotted path and by JSON Pointer", "[json]") {
  const std::string in = R"({"a":{"b":{"c":1,"d":2}}})";
  CHECK(run({op("rename", "a.b.c", "z")}, in) == R"({"a":{"b":{"z":1,"d":2}}})");
  CHECK(run({op("rename", "/a/b/c", "z")}, in) == R"({"a":{"b":{"z":1,"d":2}}})");
}

TEST_CASE("json: rename applies to every array element with [*]", "[json]") {
  CHECK(run({op("rename", "items[*].price_cents", "price")},
            R"({"items":[{"price_cents":100},{"sku":"b"},{"price_cents":2.50}]})") ==
        R"({"items":[{"price":100},{"sku":"b"},{"price":2.50}]})");
  CHECK(run({op("rename", "/items/*/price_cents", "price")},
            R"({"items":[{"price_cents":1},{"price_cents":2}]})") ==
        R"({"items":[{"price":1},{"price":2}]})");
}

TEST_CASE("json: rename over an existing member replaces it", "[json]") {
  CHECK(run({op("rename", "a", "b")}, R"({"b":0,"a":1,"c":2})") == R"({"b":1,"c":2})");
}

TEST_CASE("json: a missing path leaves the body byte for byte", "[json]") {
  const std::string in = "{ \"a\" : 1,\n \"s\": \"\\u00e9\" }";
  CHECK(run({op("rename", "nope", "x"), op("remove", "a.b"), op("move", "z", "y")}, in) == in);
}

TEST_CASE("json: array index segments, dotted and pointer", "[json]") {
  CHECK(run({op("rename", "items[1].a", "b")}, R"({"items":[{"a":1},{"a":2}]})") ==
        R"({"items":[{"a":1},{"b":2}]})");
  CHECK(run({op("rename", "/items/0/a", "b")}, R"({"items":[{"a":1},{"a":2}]})") ==
        R"({"items":[{"b":1},{"a":2}]})");
  // A pointer token of digits on an object is a member name.
  CHECK(run({op("rename", "/m/0", "zero")}, R"({"m":{"0":"x"}})") == R"({"m":{"zero":"x"}})");
  // Out of range: nothing.
  CHECK(run({op("remove", "items[5]")}, R"({"items":[1]})") == R"({"items":[1]})");
}

TEST_CASE("json: JSON Pointer escapes ~0 and ~1", "[json]") {
  CHECK(run({op("rename", "/a~1b/c~0d", "e")}, R"({"a/b":{"c~d":1}})") == R"({"a/b":{"e":1}})");
}

// ---------------------------------------------------------------------------------------------
// remove

TEST_CASE("json: remove a member keeps the order of the others", "[json]") {
  CHECK(run({op("remove", "b")}, R"({"a":1,"b":2,"c":3,"d":4})") == R"({"a":1,"c":3,"d":4})");
}

TEST_CASE("json: remove in every element, an element, and all elements", "[json]") {
  CHECK(run({op("remove", "items[*].secret")},
            R"({"items":[{"id":1,"secret":"x"},{"id":2,"secret":"y"}]})") ==
        R"({"items":[{"id":1},{"id":2}]})");
  CHECK(run({op("remove", "items[0]")}, R"({"items":[1,2,3]})") == R"({"items":[2,3]})");
  CHECK(run({op("remove", "items[*]")}, R"({"items":[1,2,3]})") == R"({"items":[]})");
}

TEST_CASE("json: operations run on a top-level array", "[json]") {
  CHECK(run({op("remove", "[*].x")}, R"([{"x":1,"y":2},{"x":3}])") == R"([{"y":2},{}])");
}

// ---------------------------------------------------------------------------------------------
// set / add

TEST_CASE("json: set replaces in place or appends, creating objects on the way", "[json]") {
  CHECK(run({literal("set", "a", "\"new\"")}, R"({"a":"old","b":1})") == R"({"a":"new","b":1})");
  CHECK(run({literal("set", "meta.source.name", R"({"k":[1,2]})")}, R"({"a":1})") ==
        R"({"a":1,"meta":{"source":{"name":{"k":[1,2]}}}})");
}

TEST_CASE("json: set literal numbers keep their exact text", "[json]") {
  CHECK(run({literal("set", "id", "12345678901234567890"),
             literal("set", "price", "0.1000000000000000055511151231257827")},
            R"({"id":0})") ==
        R"({"id":12345678901234567890,"price":0.1000000000000000055511151231257827})");
}

TEST_CASE("json: set on every element and on an index", "[json]") {
  CHECK(run({literal("set", "items[*].seen", "true")}, R"({"items":[{"a":1},{"a":2}]})") ==
        R"({"items":[{"a":1,"seen":true},{"a":2,"seen":true}]})");
  CHECK(run({literal("set", "items[1]", "null")}, R"({"items":[1,2,3]})") ==
        R"({"items":[1,null,3]})");
  CHECK(run({literal("set", "items[*]", "0")}, R"({"items":[1,2]})") == R"({"items":[0,0]})");
}

TEST_CASE("json: set does not clobber a value that is not an object on the way", "[json]") {
  CHECK(run({literal("set", "a.b", "1")}, R"({"a":"text"})") == R"({"a":"text"})");
}

TEST_CASE("json: add only where the member is absent", "[json]") {
  CHECK(run({literal("add", "a", "2"), literal("add", "b", "3")}, R"({"a":1})") ==
        R"({"a":1,"b":3})");
}

TEST_CASE("json: templates read headers, captures, query, claims, subject, request id",
          "[json]") {
  auto resolve = [](const TemplateRef& r, std::string& out) {
    switch (r.source) {
    case TemplateRef::Source::Header: out = "h:" + r.name; return true;
    case TemplateRef::Source::PathCapture: out = "p:" + r.name; return true;
    case TemplateRef::Source::Query: out = "q:" + r.name; return true;
    case TemplateRef::Source::Claim: out = "c:" + r.name; return true;
    case TemplateRef::Source::Subject: out = "alice"; return true;
    case TemplateRef::Source::RequestId: out = "rid"; return true;
    }
    return false;
  };
  CHECK(run({templ("set", "v",
                   "{header.X-User}|{path.id}|{query.q}|{claim.email}|{identity.subject}|"
                   "{request_id}|{{lit}}\"")},
            R"({})", resolve) == R"({"v":"h:x-user|p:id|q:q|c:email|alice|rid|{lit}\""})");
}

TEST_CASE("json: a template whose placeholder the request lacks skips the operation", "[json]") {
  CHECK(run({templ("set", "user", "{header.x-user}")}, R"({"a":1})") == R"({"a":1})");
}

// ---------------------------------------------------------------------------------------------
// move

TEST_CASE("json: move into a nested object and out of one", "[json]") {
  CHECK(run({op("move", "street", "address.street")}, R"({"name":"a","street":"s","zip":1})") ==
        R"({"name":"a","zip":1,"address":{"street":"s"}})");
  CHECK(run({op("move", "address.city", "city")}, R"({"address":{"city":"c","zip":1}})") ==
        R"({"address":{"zip":1},"city":"c"})");
}

TEST_CASE("json: move replaces an existing destination in place", "[json]") {
  CHECK(run({op("move", "b", "a")}, R"({"a":0,"b":1,"c":2})") == R"({"a":1,"c":2})");
}

TEST_CASE("json: move inside every element with [*]", "[json]") {
  CHECK(run({op("move", "items[*].meta.sku", "items[*].sku")},
            R"({"items":[{"meta":{"sku":"a"}},{"meta":{}},{"meta":{"sku":"c"}}]})") ==
        R"({"items":[{"meta":{},"sku":"a"},{"meta":{}},{"meta":{},"sku":"c"}]})");
}

TEST_CASE("json: move wraps and unwraps", "[json]") {
  CHECK(run({op("move", "a", "a.inner")}, R"({"a":[1]})") == R"({"a":{"inner":[1]}})");
  CHECK(run({op("move", "a.inner", "a")}, R"({"a":{"inner":[1],"x":2}})") == R"({"a":[1]})");
}

TEST_CASE("json: move blocked by a non-object keeps the value where it was", "[json]") {
  CHECK(run({op("move", "a", "b.c")}, R"({"a":1,"b":"text"})") == R"({"a":1,"b":"text"})");
}

// ---------------------------------------------------------------------------------------------
// order, invalid JSON, depth

TEST_CASE("json: operations run in order, each on the result of the last", "[json]") {
  CHECK(run({op("rename", "a", "b"), op("rename", "b", "c"), literal("add", "b", "0")},
            R"({"a":1})") == R"({"c":1,"b":0})");
}

TEST_CASE("json: invalid bodies say where and why", "[json]") {
  auto p = Program::compile({op("remove", "a")}, "request");
  REQUIRE(p.ok());
  for (std::string bad : {std::string("{\"a\":"), std::string("{\"a\":1} x"),
                          std::string("not json"), std::string("{\"a\":\"\xff\"}"),
                          std::string("{\"a\":1}\0{", 9), std::string("[1,]"),
                          std::string(R"({"a":"\ude00"})"), std::string(R"({"\ud800x":1})")}) {
    std::string body = bad;
    std::string error;
    INFO(bad);
    CHECK((*p)->apply(body, noRequest, error) == Program::Result::Invalid);
    CHECK(error.rfind("invalid JSON at byte ", 0) == 0);
    CHECK(body == bad);
  }
}

TEST_CASE("json: nesting deeper than the limit is invalid, not a crash", "[json]") {
  auto p = Program::compile({op("remove", "a")}, "request");
  REQUIRE(p.ok());
  std::string body(100000, '[');
  std::string error;
  CHECK((*p)->apply(body, noRequest, error) == Program::Result::Invalid);
  CHECK(error.find("nested deeper than 128") != std::string::npos);
  std::string ok = std::string(100, '[') + std::string(100, ']');
  CHECK((*p)->apply(ok, noRequest, error) == Program::Result::Unchanged);
}

TEST_CASE("json: a number beyond a double's range is refused (RapidJSON's limit)", "[json]") {
  auto p = Program::compile({op("remove", "a")}, "request");
  REQUIRE(p.ok());
  std::string body = R"({"a":1e400})";
  std::string error;
  CHECK((*p)->apply(body, noRequest, error) == Program::Result::Invalid);
  CHECK(error == "invalid JSON at byte 5: Number too big to be stored in double.");
}

TEST_CASE("json: a lone surrogate escape is invalid, a pair is kept", "[json]") {
  auto p = Program::compile({op("remove", "a")}, "request");
  REQUIRE(p.ok());
  std::string body = R"({"s":"\udc00"})";
  std::string error;
  CHECK((*p)->apply(body, noRequest, error) == Program::Result::Invalid);
  CHECK(error.find("a \\u escape of a lone surrogate") != std::string::npos);
  CHECK(run({op("remove", "a")}, R"({"a":0,"s":"\ud83d\ude00"})") == "{\"s\":\"\xf0\x9f\x98\x80\"}");
}

TEST_CASE("json: strings are re-escaped, UTF-8 passes through", "[json]") {
  CHECK(run({op("remove", "x")}, R"({"x":0,"s":"caf\u00e9 \"q\" \n é 😀"})") ==
        "{\"s\":\"caf\xc3\xa9 \\\"q\\\" \\n \xc3\xa9 \xf0\x9f\x98\x80\"}");
}

// ---------------------------------------------------------------------------------------------
// Property: every number keeps its exact text through a rename

std::string randomNumber(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 5);
  switch (kind(rng)) {
  case 0: return absl::StrCat(rng());                                   // up to 2^64-1
  case 1: return absl::StrCat(-static_cast<int64_t>(rng() >> 1));       // big negative
  case 2: return absl::StrCat(rng() % 1000000, ".", rng() % 100000000000000000ull, "0");  // decimal
  case 3: return absl::StrCat("-0.", rng());                            // long fraction
  case 4: return absl::StrCat(rng() % 10, ".", rng() % 1000, "e", (rng() % 2) ? "+" : "-",
                              rng() % 300);  // exponents (RapidJSON refuses |e| past 308)
  default: return absl::StrCat("9007199254740993", rng() % 10);         // past 2^53
  }
}

// A random document: objects with "k<i>" members, arrays, numbers; `numbers` collects their text
// in document order.
std::string randomDoc(std::mt19937_64& rng, int depth, std::vector<std::string>& numbers) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 0 : 2);
  switch (kind(rng)) {
  case 0: {
    numbers.push_back(randomNumber(rng));
    return numbers.back();
  }
  case 1: {
    std::string out = "[";
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; i++) {
      absl::StrAppend(&out, i ? "," : "", randomDoc(rng, depth + 1, numbers));
    }
    return out + "]";
  }
  default: {
    std::string out = "{";
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; i++) {
      absl::StrAppend(&out, i ? "," : "", "\"k", i, "\":", randomDoc(rng, depth + 1, numbers));
    }
    return out + "}";
  }
  }
}

TEST_CASE("json property: 64-bit integers and decimals keep their text through a rename",
          "[json][property]") {
  std::mt19937_64 rng(20261206);
  auto p = Program::compile({op("rename", "k0", "renamed"), op("rename", "k1[*].k0", "r")},
                            "response");
  REQUIRE(p.ok());
  int changed = 0;
  for (int iter = 0; iter < 2000; iter++) {
    std::vector<std::string> numbers;
    const std::string k0 = randomDoc(rng, 1, numbers);  // in order: numbers follows the text
    const std::string e0 = randomDoc(rng, 2, numbers);
    const std::string e1 = randomDoc(rng, 2, numbers);
    std::string doc = "{\"k0\":" + k0 + ",\"k1\":[" + e0 + "," + e1 + "]}";
    std::string body = doc;
    std::string error;
    const auto r = (*p)->apply(body, noRequest, error);
    INFO(doc << " -> " << body);
    REQUIRE(r == Program::Result::Changed);
    changed++;
    // Every number's text is in the output, in order, exactly once per occurrence.
    size_t pos = 0;
    for (const auto& n : numbers) {
      const size_t at = body.find(n, pos);
      REQUIRE(at != std::string::npos);
      pos = at + n.size();
    }
    // The output is the input with the keys renamed (the input has no whitespace).
    std::string expected = doc;
    expected.replace(1, 4, "\"renamed\"");
    CHECK(body.substr(0, 11) == expected.substr(0, 11));
    CHECK(body.size() >= doc.size());
  }
  CHECK(changed == 2000);
}

// ---------------------------------------------------------------------------------------------
// Paths and config errors

TEST_CASE("json paths: parse errors", "[json]") {
  CHECK(parsePath("").status().message() ==
        "empty path (the whole body cannot be an operand)");
  CHECK(parsePath("a[").status().message() == "unterminated '[' at 1");
  CHECK(parsePath("a[x]").status().message() == "invalid array index 'x' (a number or *)");
  CHECK(parsePath("a..b").status().message() == "empty name at 2");
  CHECK(parsePath("a.").status().message() == "path ends with '.'");
  CHECK(parsePath("a[0]b").status().message() == "expected '.' or '[' at 4");
  CHECK(parsePath("/a~2").status().message() == "invalid escape in JSON Pointer token 'a~2' (~0 or ~1)");
  auto p = parsePath("items[*].sub[2].x");
  REQUIRE(p.ok());
  CHECK(p->segments.size() == 5);
  CHECK(p->wildcardPrefix() == 2);
}

TEST_CASE("json config: errors name the operation's field", "[json]") {
  CHECK(compileError({op("rename", "a")}) == "response[0].to: required");
  CHECK(compileError({op("frob", "a")}) ==
        "response[0].op: unknown operation 'frob' (rename, remove, set, add, move)");
  CHECK(compileError({op("", "a")}) == "response[0].op: required (rename, remove, set, add, move)");
  CHECK(compileError({op("remove", "")}) == "response[0].path: required");
  CHECK(compileError({op("remove", "a"), op("remove", "a[")}) ==
        "response[1].path: unterminated '[' at 1");
  CHECK(compileError({op("rename", "a", "b.c")}) ==
        "response[0].to: a member name (rename keeps the member in its object; use move to put "
        "it elsewhere)");
  CHECK(compileError({op("rename", "items[*]", "b")}) ==
        "response[0].path: rename needs a member name as the last segment");
  CHECK(compileError({op("set", "a")}) ==
        "response[0]: set exactly one of value, value_json and template");
  CHECK(compileError({literal("remove", "a", "1")}) == "response[0]: remove takes no value");
  CHECK(compileError({literal("set", "a", "{")}).rfind("response[0].value_json: invalid JSON", 0) ==
        0);
  CHECK(compileError({templ("set", "a", "{nope}")}) ==
        "response[0].template: unknown placeholder {nope} (header.NAME, path.NAME, query.NAME, "
        "claim.NAME, identity.subject, request_id)");
  CHECK(compileError({templ("set", "a", "{header.x")}) ==
        "response[0].template: unterminated placeholder at 0");
  CHECK(compileError({op("move", "items[*].a", "b")}) ==
        "response[0].to: must repeat the path's segments up to its last [*] and go on below them "
        "(a move happens inside each element)");
  CHECK(compileError({op("move", "a", "a")}) == "response[0].to: the same as path");
  CHECK(compileError({op("remove", "a", "b")}) == "response[0].to: not used by remove");
}

TEST_CASE("json config: describe lists the operations", "[json]") {
  auto p = Program::compile({op("rename", "instance", "served_by"), op("remove", "headers"),
                             literal("set", "v", "2"), templ("add", "u", "{identity.subject}"),
                             op("move", "a", "b.a")},
                            "response");
  REQUIRE(p.ok());
  CHECK((*p)->describe() ==
        "rename instance -> served_by, remove headers, set v = 2, add u = \"{identity.subject}\", "
        "move a -> b.a");
}

} // namespace
} // namespace gw::filters::json
