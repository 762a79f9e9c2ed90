// base64url and the JSON object scanner used for JWT headers and claims.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "source/policy/base64url.h"
#include "source/policy/json_scan.h"

namespace gw::policy {
namespace {

std::string dec(absl::string_view in, bool* ok = nullptr) {
  std::string out;
  const bool r = base64UrlDecode(in, out);
  if (ok != nullptr) {
    *ok = r;
  }
  return r ? out : "<error>";
}

TEST_CASE("base64url: RFC 4648 vectors, unpadded", "[policy][base64]") {
  const std::vector<std::pair<std::string, std::string>> v = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
  for (const auto& [plain, enc] : v) {
    std::string out;
    base64UrlEncode(plain, out);
    CHECK(out == enc);
    CHECK(dec(enc) == plain);
  }
}

TEST_CASE("base64url: strict decoding", "[policy][base64]") {
  bool ok = true;
  dec("Zg==", &ok);  // padding is not part of JWS
  CHECK_FALSE(ok);
  dec("+/8", &ok);  // standard alphabet
  CHECK_FALSE(ok);
  dec("Zm9vY", &ok);  // 4n+1 characters
  CHECK_FALSE(ok);
  dec("Zh", &ok);  // non-zero unused bits: a second spelling of "f"
  CHECK_FALSE(ok);
  dec("Zm 9v", &ok);
  CHECK_FALSE(ok);
  dec(std::string("Zm\0v", 4), &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("base64url: round trip of every length and byte, and every bad character position",
          "[policy][base64]") {
  std::string plain;
  for (int len = 0; len <= 70; len++) {
    std::string enc;
    base64UrlEncode(plain, enc);
    CHECK(dec(enc) == plain);
    for (size_t pos = 0; pos < enc.size(); pos++) {
      std::string bad = enc;
      bad[pos] = '=';
      bool ok = true;
      dec(bad, &ok);
      CHECK_FALSE(ok);
    }
    plain.push_back(static_cast<char>((len * 97 + 13) & 0xff));
  }
  // The unused low bits of the last character must be zero (2 and 3 character tails).
  bool ok = true;
  CHECK(dec("Zm9vYg") == "foob");
  dec("Zm9vYh", &ok);
  CHECK_FALSE(ok);
  CHECK(dec("Zm9vYmE") == "fooba");
  dec("Zm9vYmF", &ok);
  CHECK_FALSE(ok);
}

std::vector<std::pair<std::string, JsonType>> members(absl::string_view json, bool* ok) {
  std::vector<std::pair<std::string, JsonType>> out;
  *ok = scanJsonObject(json, [&](absl::string_view k, const JsonValue& v) {
    out.emplace_back(std::string(k), v.type);
    return true;
  });
  return out;
}

TEST_CASE("json: scans the top-level members of an object", "[policy][json]") {
  bool ok = false;
  auto m = members(R"( {"a":"x","b":1.5e3,"c":[1,{"d":null}],"e":{"f":[]},"g":true,"h":false,
                       "i":null} )",
                   &ok);
  REQUIRE(ok);
  REQUIRE(m.size() == 7);
  CHECK(m[0] == std::make_pair(std::string("a"), JsonType::String));
  CHECK(m[1].second == JsonType::Number);
  CHECK(m[2].second == JsonType::Array);
  CHECK(m[3].second == JsonType::Object);
  CHECK(m[4].second == JsonType::True);
  CHECK(m[6].second == JsonType::Null);
  members("{}", &ok);
  CHECK(ok);
}

TEST_CASE("json: escaped keys are unescaped and duplicates rejected", "[policy][json]") {
  bool ok = false;
  auto m = members(R"({"e\u0078p":1})", &ok);
  REQUIRE(ok);
  CHECK(m[0].first == "exp");
  members(R"({"exp":1,"exp":2})", &ok);
  CHECK_FALSE(ok);
  members(R"({"exp":1,"e\u0078p":2})", &ok);  // the same name spelled twice
  CHECK_FALSE(ok);
}

TEST_CASE("json: invalid input fails", "[policy][json]") {
  const char* bad[] = {"", "[]", "\"x\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
                       "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":\"\\x\"}",
                       "{\"a\":\"\x01\"}", "{\"a\":1} x", "{a:1}", "{\"a\":\"\\u12\"}",
                       "{\"a\":[1,]}", "{\"a\":1 \"b\":2}"};
  for (const char* b : bad) {
    bool ok = true;
    members(b, &ok);
    INFO(b);
    CHECK_FALSE(ok);
  }
  // Deep nesting is bounded.
  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  bool ok = true;
  members(deep, &ok);
  CHECK_FALSE(ok);
  // At most 64 members.
  std::string many = "{";
  for (int i = 0; i < 65; i++) {
    many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  }
  many += "}";
  members(many, &ok);
  CHECK_FALSE(ok);
}

TEST_CASE("json: unescape handles \\u escapes and surrogate pairs", "[policy][json]") {
  std::string out;
  REQUIRE(jsonUnescape(R"(a\"b\\c\/d\n\u00e9\ud83d\ude00)", out));
  CHECK(out == "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK_FALSE(jsonUnescape(R"(\ud83d)", out));        // lone high surrogate
  CHECK_FALSE(jsonUnescape(R"(\ude00)", out));        // lone low surrogate
  CHECK_FALSE(jsonUnescape(R"(\ud83d\u0041)", out));  // high + non-low
}

TEST_CASE("json: values with a lone UTF-16 surrogate are refused, pairs accepted",
          "[policy][json]") {
  // Found by test/fuzz:jwt_fuzz: the scanner checked a value's \u escapes for four hex digits
  // only, so {"a":"\ud83d\n"} scanned as valid (RapidJSON refuses it) and the value could not
  // be unescaped later (a claim header silently not set).
  bool ok = false;
  auto m = members(R"({"a":"\ud83d\ude00","b":["\uD83D\uDE00"]})", &ok);
  CHECK(ok);
  CHECK(m.size() == 2);
  for (const char* bad : {R"({"a":"x&,  \ud83d\nbf00"})", R"({"a":"\ud83d"})",
                          R"({"a":"\ude00"})", R"({"a":"\ud83d\u0041"})",
                          R"({"a":["\ud83d x"]})", R"({"a":{"b":"\udbff"}})",
                          R"({"a":"\ud83d\ud83d"})"}) {
    INFO(bad);
    members(bad, &ok);
    CHECK_FALSE(ok);
  }
}

TEST_CASE("json: array elements", "[policy][json]") {
  std::vector<std::string> seen;
  REQUIRE(forEachJsonArrayElement(R"([ "a", 2 ,"c" ])", [&](const JsonValue& v) {
    std::string s;
    jsonScalarText(v, s);
    seen.push_back(s);
    return true;
  }));
  CHECK(seen == std::vector<std::string>{"a", "2", "c"});
  CHECK_FALSE(forEachJsonArrayElement("[1,", [](const JsonValue&) { return true; }));
}

} // namespace
} // namespace gw::policy
