#include "source/http2/header_validation.h"

#include <catch2/catch.hpp>

namespace gw::http2 {
namespace {

const char* check(absl::string_view n, absl::string_view v, Block b = Block::Headers) {
  PseudoSeen seen;
  seen.bits = PseudoSeen::kMethod | PseudoSeen::kScheme | PseudoSeen::kPath;
  if (n.front() == ':') {
    seen.bits = 0;
  }
  return checkRequestField(n, v, b, seen);
}

TEST_CASE("ordinary fields pass") {
  CHECK(check("accept", "*/*") == nullptr);
  CHECK(check("te", "trailers") == nullptr);
  CHECK(check("x-empty", "") == nullptr);
  CHECK(check(":path", "/") == nullptr);
}

TEST_CASE("connection-specific fields are malformed") {
  for (const char* n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                        "upgrade"}) {
    CHECK(check(n, "x") != nullptr);
  }
  CHECK(check("te", "gzip") != nullptr);
  CHECK(check("te", "trailers, gzip") != nullptr);
}

TEST_CASE("bad characters in names and values") {
  CHECK(check("x-a", std::string("a\0b", 3)) != nullptr);
  CHECK(check("x-a", "a\rb") != nullptr);
  CHECK(check("x-a", "a\nb") != nullptr);
  CHECK(check("x-a", " lead") != nullptr);
  CHECK(check("x-a", "trail\t") != nullptr);
  CHECK(check("X-Upper", "1") != nullptr);
  CHECK(check("x a", "1") != nullptr);
  CHECK(check("x:a", "1") != nullptr);
  // Every control character but HTAB, as nghttp2's own value check refused them.
  for (int c = 0; c < 0x20; c++) {
    INFO("byte " << c);
    const std::string v = std::string("a") + static_cast<char>(c) + "b";
    CHECK((check("x-a", v) == nullptr) == (c == '\t'));
  }
  CHECK(check("x-a", "a\x7f" "b") != nullptr);
  CHECK(check("x-a", "caf\xc3\xa9 ok") == nullptr);  // obs-text passes
}

TEST_CASE(":scheme must be a scheme") {
  CHECK(check(":scheme", "https") == nullptr);
  CHECK(check(":scheme", "coap+tcp") == nullptr);
  CHECK(check(":scheme", "ht tp") != nullptr);
  CHECK(check(":scheme", "1http") != nullptr);
  CHECK(check(":scheme", "http/") != nullptr);
  CHECK(check(":scheme", "") != nullptr);
}

TEST_CASE("pseudo-headers: unknown, duplicated, after regular, in trailers, empty") {
  PseudoSeen s;
  CHECK(checkRequestField(":method", "GET", Block::Headers, s) == nullptr);
  CHECK(checkRequestField(":method", "GET", Block::Headers, s) != nullptr);
  CHECK(checkRequestField(":status", "200", Block::Headers, s) != nullptr);
  CHECK(checkRequestField(":path", "", Block::Headers, s) != nullptr);
  PseudoSeen t;
  CHECK(checkRequestField("x-a", "1", Block::Headers, t) == nullptr);
  CHECK(checkRequestField(":path", "/", Block::Headers, t) != nullptr);
  PseudoSeen u;
  CHECK(checkRequestField(":path", "/", Block::Trailers, u) != nullptr);
}

TEST_CASE("required pseudo-headers") {
  PseudoSeen all;
  all.bits = PseudoSeen::kMethod | PseudoSeen::kScheme | PseudoSeen::kPath;
  CHECK(checkRequestPseudo(all, "GET", "/a") == nullptr);
  CHECK(checkRequestPseudo(all, "OPTIONS", "*") == nullptr);
  CHECK(checkRequestPseudo(all, "GET", "*") != nullptr);
  CHECK(checkRequestPseudo(all, "GET", "a") != nullptr);
  CHECK(checkRequestPseudo(all, "CONNECT", "/") != nullptr);
  CHECK(checkRequestPseudo(all, "G T", "/") != nullptr);
  PseudoSeen no_scheme;
  no_scheme.bits = PseudoSeen::kMethod | PseudoSeen::kPath;
  CHECK(checkRequestPseudo(no_scheme, "GET", "/") != nullptr);
  PseudoSeen no_method;
  no_method.bits = PseudoSeen::kScheme | PseudoSeen::kPath;
  CHECK(checkRequestPseudo(no_method, "", "/") != nullptr);
}

TEST_CASE("content-length") {
  uint64_t n = 0;
  CHECK(parseContentLength("0", n));
  CHECK(n == 0);
  CHECK(parseContentLength("1234", n));
  CHECK(n == 1234);
  CHECK_FALSE(parseContentLength("", n));
  CHECK_FALSE(parseContentLength("1,2", n));
  CHECK_FALSE(parseContentLength("-1", n));
  CHECK_FALSE(parseContentLength("12345678901234567890", n));
}

} // namespace
} // namespace gw::http2
