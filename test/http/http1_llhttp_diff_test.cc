// Differential test: gatewayd's HTTP/1.1 head parser against llhttp (strict mode, as built by
// this workspace). The production parser reads heads itself (llhttp cost a third of the data
// path's user-space instructions); llhttp stays the reference here. Property, over seed heads and
// many seeded random mutations of them: whenever our parser accepts a head, llhttp accepts the
// same bytes and agrees on every field (method, target, status, reason, version, header names
// and values, persistence). Our parser may be stricter, never looser.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "llhttp.h"
#include "source/http/http1_codec.h"

namespace gw::http {
namespace {

struct Parsed {
  bool ok = false;
  std::string method;
  std::string target;
  int status = 0;
  std::string reason;
  int minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;
};

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
  return s.substr(b, e - b);
}

// llhttp's view of a head.
struct Reference {
  Parsed out;
  std::string field;
  std::string value;
  bool in_value = false;
  bool done = false;

  void commit() {
    out.headers.emplace_back(lower(field), trim(value));
    field.clear();
    value.clear();
    in_value = false;
  }

  static Reference* self(llhttp_t* p) { return static_cast<Reference*>(p->data); }

  Parsed run(const std::string& in, bool request) {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_url = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->out.target.append(at, n);
      return 0;
    };
    s.on_status = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->out.reason.append(at, n);
      return 0;
    };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      Reference* r = self(p);
      if (r->in_value) {
        r->commit();
      }
      r->field.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      self(p)->in_value = true;
      self(p)->value.append(at, n);
      return 0;
    };
    s.on_header_field_complete = [](llhttp_t* p) {
      self(p)->in_value = true;
      return 0;
    };
    s.on_headers_complete = [](llhttp_t* p) {
      Reference* r = self(p);
      if (r->in_value) {
        r->commit();
      }
      r->done = true;
      return static_cast<int>(HPE_PAUSED);
    };
    llhttp_t p;
    llhttp_init(&p, request ? HTTP_REQUEST : HTTP_RESPONSE, &s);
    p.data = this;
    const llhttp_errno_t e = llhttp_execute(&p, in.data(), in.size());
    if (!done || !(e == HPE_PAUSED || e == HPE_OK)) {
      return out;
    }
    out.ok = true;
    out.minor = p.http_minor;
    out.keep_alive = llhttp_should_keep_alive(&p) != 0;
    if (request) {
      out.method = llhttp_method_name(static_cast<llhttp_method_t>(p.method));
    } else {
      out.status = p.status_code;
    }
    return out;
  }
};

// Ours.
struct Ours : Http1ParserCallbacks {
  Parsed out;
  void onRequestHead(RequestHead&& h) override {
    out.method = h.method;
    out.target = h.target;
    common(h.version_minor, h.headers);
  }
  void onResponseHead(ResponseHead&& h) override {
    out.status = h.status;
    out.reason = h.reason;
    common(h.version_minor, h.headers);
  }
  void common(int minor, const HeaderMap& headers) {
    out.ok = true;
    out.minor = minor;
    for (const auto& [n, v] : headers.entries()) out.headers.emplace_back(n, v);
  }
  void onBody(absl::string_view) override {}
  void onMessageComplete() override {}

  Parsed run(const std::string& in, bool request) {
    Http1Parser p(request ? Http1Parser::Kind::Request : Http1Parser::Kind::Response, *this);
    p.feed(in.data(), in.size());
    if (out.ok) {
      out.keep_alive = p.keepAlive();
    }
    return out;
  }
};

const std::vector<std::string> kRequestSeeds = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /a/b?c=d&e=f HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x/1\r\nAccept: */*\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
    "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "DELETE /x HTTP/1.1\r\nConnection: close\r\nX-A:  padded \t\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://h.example/p?q HTTP/1.1\r\nHost: h.example\r\n\r\n",
    "HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Upgrade2\r\nEmpty:\r\n\r\n",
    "M-SEARCH * HTTP/1.1\r\nHost: h\r\nMan: \"ssdp:discover\"\r\n\r\n",
    "PATCH /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
};

const std::vector<std::string> kResponseSeeds = {
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
    "HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
    "HTTP/1.1 404 Not  Found  \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 503 \r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
};

void expectAgreement(const std::string& in, bool request) {
  const Parsed ours = Ours().run(in, request);
  if (!ours.ok) {
    return;  // we refused it: allowed (stricter than llhttp is fine)
  }
  const Parsed ref = Reference().run(in, request);
  INFO("input: [" << in << "] " << (request ? "request" : "response"));
  REQUIRE(ref.ok);  // we accepted a head llhttp refuses
  CHECK(ours.method == ref.method);
  CHECK(ours.target == ref.target);
  CHECK(ours.status == ref.status);
  CHECK(ours.reason == ref.reason);
  CHECK(ours.minor == ref.minor);
  CHECK(ours.headers == ref.headers);
  CHECK(ours.keep_alive == ref.keep_alive);
}

TEST_CASE("http1 head parser agrees with llhttp on the seed heads", "[http1][llhttp]") {
  for (const auto& s : kRequestSeeds) {
    INFO(s);
    CHECK(Ours().run(s, true).ok);
    expectAgreement(s, true);
  }
  for (const auto& s : kResponseSeeds) {
    INFO(s);
    CHECK(Ours().run(s, false).ok);
    expectAgreement(s, false);
  }
}

TEST_CASE("http1 head parser is never looser than llhttp (mutated heads)", "[http1][llhttp]") {
  std::mt19937 rng(20261129);
  const char interesting[] = {' ', '\t', '\r', '\n', ':', '\0', '\x7f', '\x80', '\xff', 'A',
                              'a', ',', '/', '.', '0', '9', 'H', '"', '?', '#', ';', '='};
  int accepted = 0;
  int total = 0;
  for (int iter = 0; iter < 60000; iter++) {
    const bool request = iter % 3 != 2;
    const auto& seeds = request ? kRequestSeeds : kResponseSeeds;
    std::string in = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !in.empty(); e++) {
      const size_t at = rng() % in.size();
      const char c = interesting[rng() % sizeof(interesting)];
      switch (rng() % 4) {
      case 0: in[at] = c; break;
      case 1: in.insert(in.begin() + static_cast<long>(at), c); break;
      case 2: in.erase(at, 1); break;
      default: in[at] = static_cast<char>(rng() & 0xff); break;
      }
    }
    total++;
    if (Ours().run(in, request).ok) {
      accepted++;
    }
    expectAgreement(in, request);
  }
  INFO("accepted " << accepted << " of " << total);
  // The mutations must exercise both outcomes, or the property says little.
  CHECK(accepted > total / 20);
  CHECK(accepted < total - total / 20);
}

} // namespace
} // namespace gw::http
