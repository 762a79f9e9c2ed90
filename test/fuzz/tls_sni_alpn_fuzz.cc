// Fuzzes the TLS server's choice of certificate by SNI and of protocol by ALPN, three ways (the
// first input byte picks):
//   0: the rest is what a client sends first (a ClientHello, in records) to a server Session of
//      a listener with an exact, a wildcard and a default certificate (P-256, made once at
//      start), offering h2 and http/1.1: the SNI and ALPN callbacks run on hostile hellos;
//   1: the rest is an ALPN protocol list in wire form: selectAlpn must agree with a reference
//      parser (nothing from a malformed list; else the server's most preferred protocol the
//      client offers);
//   2: the rest is a server name: SniMap::select must agree with a reference (lower-cased, one
//      trailing dot dropped, exact, then a one-label wildcard, then the default).
// Any disagreement aborts. The seed corpus (test/fuzz/corpus/tls_sni_alpn_fuzz) holds
// ClientHellos recorded once from Python's ssl (SNI exact, wildcard, unknown, none; ALPN h2,
// http/1.1, others; TLS 1.2 and 1.3), ALPN lists and server names.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "source/tls/alpn.h"
#include "source/tls/server_context.h"
#include "source/tls/session.h"
#include "source/tls/sni_map.h"
#include "test/tls/test_certs.h"

namespace {

using namespace gw::tls;

std::shared_ptr<const ServerContext> makeServer() {
  const testing::Pem ca = testing::makeCert("Fuzz CA", nullptr);
  ServerContextOptions o;
  o.alpn = {"h2", "http/1.1"};
  const struct {
    const char* cn;
    const char* sans;
    const char* name;
  } certs[] = {{"default", "DNS:localhost", nullptr},
               {"exact", "DNS:api.example.com", "api.example.com"},
               {"wild", "DNS:*.wild.test", "*.wild.test"}};
  for (const auto& c : certs) {
    const testing::Pem leaf = testing::makeCert(c.cn, &ca, c.sans);
    ServerCertificate sc;
    sc.path = c.cn;
    sc.chain_pem = leaf.cert;
    sc.key_pem = leaf.key;
    if (c.name != nullptr) {
      sc.server_names.push_back(c.name);
    }
    o.certificates.push_back(std::move(sc));
    EVP_PKEY_free(leaf.pkey);  // the PEM text is all the context needs
    X509_free(leaf.x509);
  }
  EVP_PKEY_free(ca.pkey);
  X509_free(ca.x509);
  std::vector<TlsError> errors;
  auto ctx = ServerContext::create(o, &errors);
  if (ctx == nullptr) {
    abort();
  }
  return ctx;
}

const ServerContext& server() {
  static const std::shared_ptr<const ServerContext> s = makeServer();
  return *s;
}

void fuzzHello(absl::string_view in) {
  auto keep = std::shared_ptr<const ServerContext>(std::shared_ptr<const ServerContext>{},
                                                   &server());
  Session session(server().newSsl(), keep);
  std::string plain;
  // Whole, then (a second session) in small pieces: records split across reads.
  session.receive(in.data(), in.size(), &plain);
  if (!plain.empty()) {
    abort();  // no handshake completes from one flight of client bytes
  }
  Session pieces(server().newSsl(), keep);
  for (size_t i = 0; i < in.size() && pieces.state() == Session::State::Handshaking; i += 7) {
    pieces.receive(in.data() + i, std::min<size_t>(7, in.size() - i), &plain);
  }
  if (server().select(session.serverName()) >= server().certificateCount()) {
    abort();
  }
}

std::vector<std::string> referenceParse(absl::string_view wire, bool* ok) {
  std::vector<std::string> out;
  *ok = !wire.empty();
  size_t i = 0;
  while (i < wire.size()) {
    const size_t len = static_cast<unsigned char>(wire[i]);
    if (len == 0 || i + 1 + len > wire.size()) {
      *ok = false;
      return {};
    }
    out.emplace_back(wire.substr(i + 1, len));
    i += 1 + len;
  }
  return out;
}

void fuzzAlpn(absl::string_view wire) {
  static const std::vector<std::vector<std::string>> kServers = {
      {"h2", "http/1.1"}, {"http/1.1"}, {"http/1.1", "h2"}};
  bool ok = false;
  const std::vector<std::string> offered = referenceParse(wire, &ok);
  for (const auto& srv : kServers) {
    const absl::string_view got = selectAlpn(srv, wire);
    std::string want;
    if (ok) {
      for (const auto& p : srv) {
        if (std::find(offered.begin(), offered.end(), p) != offered.end()) {
          want = p;
          break;
        }
      }
    }
    if (got != want) {
      abort();
    }
  }
  // encodeAlpn of what was parsed gives the wire back.
  if (ok && encodeAlpn(offered) != wire) {
    abort();
  }
}

void fuzzSni(absl::string_view name) {
  static const SniMap* map = [] {
    auto* m = new SniMap(0);
    m->add("api.example.com", 1);
    m->add("*.wild.test", 2);
    m->add("Mixed.Case.Test", 3);
    return m;
  }();
  std::string n(name);
  if (!n.empty() && n.back() == '.') {
    n.pop_back();
  }
  size_t want = 0;
  if (!n.empty() && n.size() <= 255) {
    const std::string lower = absl::AsciiStrToLower(n);
    const size_t dot = lower.find('.');
    if (lower == "api.example.com") {
      want = 1;
    } else if (lower == "mixed.case.test") {
      want = 3;
    } else if (dot != std::string::npos && dot > 0 && lower.substr(dot + 1) == "wild.test") {
      want = 2;
    }
  }
  if (map->select(name) != want) {
    abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
  case 0: fuzzHello(rest); break;
  case 1: fuzzAlpn(rest); break;
  default: fuzzSni(rest); break;
  }
  return 0;
}
