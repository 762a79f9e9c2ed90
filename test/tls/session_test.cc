#include <catch2/catch.hpp>

#include "source/tls/client_context.h"
#include "source/tls/peer_cert.h"
#include "source/tls/server_context.h"
#include "source/tls/session.h"
#include "test/tls/test_certs.h"

namespace gw::tls {
namespace {

using testing::makeCert;
using testing::Pem;

struct Pki {
  Pem ca = makeCert("Test CA", nullptr);
  Pem a = makeCert("a.example", &ca, "DNS:a.example");
  Pem wild = makeCert("*.wild.example", &ca, "DNS:*.wild.example");
  Pem dflt = makeCert("default", &ca, "DNS:default.example,IP:127.0.0.1");
  Pem client_ca = makeCert("Client CA", nullptr);
  Pem client = makeCert("client-1", &client_ca, "DNS:client.example,URI:spiffe://test/client",
                        /*client=*/true);
  Pem rogue_ca = makeCert("Rogue CA", nullptr);
  Pem rogue = makeCert("client-1", &rogue_ca, "DNS:client.example", /*client=*/true);
};

const Pki& pki() {
  static Pki p;
  return p;
}

ServerContextOptions serverOptions() {
  ServerContextOptions o;
  o.certificates.push_back({"secrets[0]", pki().dflt.cert, pki().dflt.key, "", {}});
  o.certificates.push_back({"secrets[1]", pki().a.cert, pki().a.key, "", {"a.example"}});
  o.certificates.push_back(
      {"secrets[2]", pki().wild.cert, pki().wild.key, "", {"*.wild.example"}});
  return o;
}

std::shared_ptr<const ServerContext> server(const ServerContextOptions& o) {
  std::vector<TlsError> errors;
  auto sc = ServerContext::create(o, &errors);
  INFO((errors.empty() ? "" : errors[0].path + ": " + errors[0].message));
  REQUIRE(sc != nullptr);
  return sc;
}

std::shared_ptr<const ClientContext> client(ClientContextOptions o) {
  if (o.ca_pem.empty()) {
    o.ca_pem = pki().ca.cert;
  }
  std::vector<TlsError> errors;
  auto cc = ClientContext::create(o, &errors);
  INFO((errors.empty() ? "" : errors[0].path + ": " + errors[0].message));
  REQUIRE(cc != nullptr);
  return cc;
}

// Moves bytes between the two sessions until neither has anything to say.
void pump(Session& c, Session& s, std::string* c_plain, std::string* s_plain) {
  for (int i = 0; i < 20; i++) {
    std::string wire;
    c.takeOutput(&wire);
    bool moved = !wire.empty();
    if (!wire.empty()) {
      s.receive(wire.data(), wire.size(), s_plain);
    }
    wire.clear();
    s.takeOutput(&wire);
    moved = moved || !wire.empty();
    if (!wire.empty()) {
      c.receive(wire.data(), wire.size(), c_plain);
    }
    if (!moved) {
      return;
    }
  }
}

struct Pair {
  Session c;
  Session s;
  std::string c_plain, s_plain;
  Pair(const ClientContext& cc, const std::shared_ptr<const ServerContext>& sc,
       const std::string& host)
      : c(cc.newSsl(host), nullptr), s(sc->newSsl(), sc) {
    c.connect();
    pump(c, s, &c_plain, &s_plain);
  }
  std::string servedCn() {
    X509* peer = SSL_get0_peer_certificate(c.ssl());
    return peer == nullptr ? "" : describeCert(peer).subject;
  }
};

TEST_CASE("a client and a server session complete a handshake in memory and exchange data") {
  auto sc = server(serverOptions());
  auto cc = client({});
  Pair p(*cc, sc, "a.example");
  REQUIRE(p.c.open());
  REQUIRE(p.s.open());
  CHECK(p.s.serverName() == "a.example");
  std::string wire;
  REQUIRE(p.c.send("GET / HTTP/1.1\r\n\r\n", &wire));
  CHECK(wire.find("GET") == std::string::npos);  // encrypted
  std::string plain;
  REQUIRE(p.s.receive(wire.data(), wire.size(), &plain));
  CHECK(plain == "GET / HTTP/1.1\r\n\r\n");
  wire.clear();
  REQUIRE(p.s.send(std::string(100000, 'x'), &wire));  // several records
  plain.clear();
  REQUIRE(p.c.receive(wire.data(), wire.size(), &plain));
  CHECK(plain.size() == 100000);
  // close_notify
  p.c.shutdown();
  wire.clear();
  p.c.takeOutput(&wire);
  plain.clear();
  p.s.receive(wire.data(), wire.size(), &plain);
  CHECK(p.s.peerClosed());
}

TEST_CASE("SNI selects exact names, one-label wildcards and the default") {
  auto sc = server(serverOptions());
  auto cc = client({});
  CHECK(Pair(*cc, sc, "a.example").servedCn() == "CN=a.example,O=Gateway Test");
  CHECK(Pair(*cc, sc, "x.wild.example").servedCn() == "CN=*.wild.example,O=Gateway Test");
  CHECK(sc->select("A.EXAMPLE.") == 1);
  CHECK(sc->select("wild.example") == 0);
  CHECK(sc->select("a.b.wild.example") == 0);
  CHECK(sc->select("") == 0);
  CHECK(sc->select("unknown.example") == 0);
  // An IP literal sends no SNI: the default certificate (which has IP:127.0.0.1).
  Pair ip(*cc, sc, "127.0.0.1");
  REQUIRE(ip.c.open());
  CHECK(ip.servedCn() == "CN=default,O=Gateway Test");
}

TEST_CASE("the client verifies the server's name and CA") {
  auto sc = server(serverOptions());
  SECTION("a name the certificate does not have") {
    auto cc = client({});
    Pair p(*cc, sc, "other.example");  // default cert: default.example
    CHECK(p.c.state() == Session::State::Failed);
    CHECK(p.c.error().find("verify failed") != std::string::npos);
  }
  SECTION("a wrong CA") {
    ClientContextOptions o;
    o.ca_pem = pki().rogue_ca.cert;
    auto cc = client(o);
    Pair p(*cc, sc, "a.example");
    CHECK(p.c.state() == Session::State::Failed);
    CHECK(p.c.error().find("unable to get local issuer certificate") != std::string::npos);
  }
  SECTION("verify off accepts any") {
    ClientContextOptions o;
    o.verify = false;
    o.ca_pem = pki().rogue_ca.cert;
    auto cc = client(o);
    CHECK(Pair(*cc, sc, "other.example").c.open());
  }
}

TEST_CASE("versions and ciphers are configurable") {
  auto o = serverOptions();
  SECTION("TLS 1.3 only server against a TLS 1.2 only client fails") {
    o.params.min_version = TLS1_3_VERSION;
    auto sc = server(o);
    ClientContextOptions co;
    co.params.max_version = TLS1_2_VERSION;
    Pair p(*client(co), sc, "a.example");
    CHECK(p.s.state() == Session::State::Failed);
    CHECK(p.s.error().find("unsupported protocol") != std::string::npos);
  }
  SECTION("TLS 1.2 with a chosen cipher") {
    o.params.max_version = TLS1_2_VERSION;
    o.params.cipher_list = "ECDHE-ECDSA-CHACHA20-POLY1305";
    auto sc = server(o);
    Pair p(*client({}), sc, "a.example");
    REQUIRE(p.c.open());
    CHECK(SSL_version(p.c.ssl()) == TLS1_2_VERSION);
    CHECK(std::string(SSL_get_cipher_name(p.c.ssl())) == "ECDHE-ECDSA-CHACHA20-POLY1305");
  }
  SECTION("the default is TLS 1.3") {
    auto sc = server(o);
    Pair p(*client({}), sc, "a.example");
    REQUIRE(p.c.open());
    CHECK(SSL_version(p.c.ssl()) == TLS1_3_VERSION);
  }
  SECTION("bad settings are errors at their paths") {
    o.params.cipher_list = "NOT-A-CIPHER";
    o.params.ciphersuites = "TLS_NOPE";
    o.params.min_version = TLS1_3_VERSION;
    o.params.max_version = TLS1_2_VERSION;
    o.certificates[1].key_pem = pki().wild.key;  // not a's key
    o.certificates[2].server_names.push_back("bad*name");
    std::vector<TlsError> errors;
    CHECK(ServerContext::create(o, &errors) == nullptr);
    std::vector<std::string> paths;
    for (auto& e : errors) {
      paths.push_back(e.path);
    }
    CHECK(paths == std::vector<std::string>{"params.min_version", "params.cipher_list",
                                            "params.ciphersuites", "secrets[1].private_key",
                                            "certificates[2].server_names[1]"});
  }
}

TEST_CASE("ALPN picks the server's first protocol the client offers") {
  auto o = serverOptions();
  o.alpn = {"h2", "http/1.1"};
  auto sc = server(o);
  ClientContextOptions co;
  co.alpn = {"http/1.1", "h2"};
  CHECK(Pair(*client(co), sc, "a.example").s.alpn() == "h2");
  co.alpn = {"http/1.1"};
  CHECK(Pair(*client(co), sc, "a.example").s.alpn() == "http/1.1");
  co.alpn = {"spdy/3"};
  Pair none(*client(co), sc, "a.example");
  CHECK(none.s.open());  // no common protocol: no ALPN, the handshake goes on
  CHECK(none.s.alpn().empty());
  // A listener without h2 never selects it.
  auto plain = server(serverOptions());
  co.alpn = {"h2", "http/1.1"};
  CHECK(Pair(*client(co), plain, "a.example").s.alpn() == "http/1.1");
}

TEST_CASE("client certificates: required, optional, bad; the verified info") {
  auto o = serverOptions();
  o.ca_pem = pki().client_ca.cert;
  ClientContextOptions with_cert;
  with_cert.cert_pem = pki().client.cert;
  with_cert.key_pem = pki().client.key;
  ClientContextOptions rogue;
  rogue.cert_pem = pki().rogue.cert;
  rogue.key_pem = pki().rogue.key;
  SECTION("required") {
    o.client_mode = ClientCertMode::Required;
    auto sc = server(o);
    Pair ok(*client(with_cert), sc, "a.example");
    REQUIRE(ok.s.open());
    PeerCertInfo info;
    REQUIRE(verifiedPeerCert(ok.s.ssl(), &info));
    CHECK(info.subject == "CN=client-1,O=Gateway Test");
    CHECK(info.sans == "DNS:client.example, URI:spiffe://test/client");
    CHECK(info.fingerprint == certFingerprint(pki().client.x509));
    CHECK(info.fingerprint.size() == 64);

    Pair missing(*client({}), sc, "a.example");
    CHECK(missing.s.state() == Session::State::Failed);
    CHECK(missing.s.error().find("peer did not return a certificate") != std::string::npos);

    Pair bad(*client(rogue), sc, "a.example");
    CHECK(bad.s.state() == Session::State::Failed);
    CHECK(bad.s.error() ==
          "client certificate verify failed: unable to get local issuer certificate");
  }
  SECTION("optional") {
    o.client_mode = ClientCertMode::Optional;
    auto sc = server(o);
    Pair none(*client({}), sc, "a.example");
    REQUIRE(none.s.open());
    PeerCertInfo info;
    CHECK_FALSE(verifiedPeerCert(none.s.ssl(), &info));
    Pair ok(*client(with_cert), sc, "a.example");
    REQUIRE(ok.s.open());
    CHECK(verifiedPeerCert(ok.s.ssl(), &info));
    Pair bad(*client(rogue), sc, "a.example");
    CHECK(bad.s.state() == Session::State::Failed);
  }
}

} // namespace
} // namespace gw::tls
