#include <catch2/catch.hpp>

#include "source/tls/client_context.h"
#include "source/tls/server_context.h"
#include "source/tls/session.h"
#include "source/tls/ticket_keys.h"
#include "test/tls/test_certs.h"

namespace gw::tls {
namespace {

std::chrono::system_clock::time_point g_now;
std::chrono::system_clock::time_point fakeNow() { return g_now; }

void pump(Session& c, Session& s) {
  std::string ignored;
  for (int i = 0; i < 20; i++) {
    std::string wire;
    c.takeOutput(&wire);
    bool moved = !wire.empty();
    s.receive(wire.data(), wire.size(), &ignored);
    wire.clear();
    s.takeOutput(&wire);
    moved = moved || !wire.empty();
    c.receive(wire.data(), wire.size(), &ignored);
    if (!moved) {
      return;
    }
  }
}

TEST_CASE("ticket keys are derived per epoch and differ between epochs") {
  const TicketKey a = deriveTicketKey(100);
  const TicketKey b = deriveTicketKey(100);
  const TicketKey c = deriveTicketKey(101);
  CHECK(a.name == b.name);
  CHECK(a.aes_key == b.aes_key);
  CHECK(a.name != c.name);
  CHECK(a.aes_key != c.aes_key);
  CHECK(a.hmac_key != a.aes_key);
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(7200));
  CHECK(ticketEpoch(t, 3600) == 2);
  CHECK(ticketEpoch(t + std::chrono::seconds(3599), 3600) == 2);
  CHECK(ticketEpoch(t + std::chrono::seconds(3600), 3600) == 3);
}

TEST_CASE("sessions resume with the current and the previous key, not an older one") {
  using testing::makeCert;
  static auto ca = makeCert("Test CA", nullptr);
  static auto leaf = makeCert("a.example", &ca, "DNS:a.example");
  ServerContextOptions o;
  o.certificates.push_back({"secrets[0]", leaf.cert, leaf.key, "", {"a.example"}});
  o.ticket_rotation_s = 60;
  std::vector<TlsError> errors;
  auto sc = ServerContext::create(o, &errors);
  REQUIRE(sc != nullptr);
  ClientContextOptions co;
  co.ca_pem = ca.cert;
  auto cc = ClientContext::create(co, &errors);
  REQUIRE(cc != nullptr);

  g_now = std::chrono::system_clock::time_point(std::chrono::seconds(6000));
  setTicketClockForTest(fakeNow);
  auto handshake = [&](SSL_SESSION* resume, bool* reused) {
    Session c(cc->newSsl("a.example"), nullptr);
    if (resume != nullptr) {
      SSL_set_session(c.ssl(), resume);
    }
    Session s(sc->newSsl(), sc);
    c.connect();
    pump(c, s);
    REQUIRE(c.open());
    *reused = SSL_session_reused(s.ssl()) == 1;
    c.shutdown();  // an SSL freed without close_notify marks its session not resumable
    return SSL_get1_session(c.ssl());
  };
  bool reused = false;
  SSL_SESSION* first = handshake(nullptr, &reused);
  CHECK_FALSE(reused);
  SSL_SESSION* again = handshake(first, &reused);
  CHECK(reused);  // same epoch
  g_now += std::chrono::seconds(60);
  SSL_SESSION_free(handshake(first, &reused));
  CHECK(reused);  // previous epoch's key still decrypts
  g_now += std::chrono::seconds(60);
  SSL_SESSION_free(handshake(first, &reused));
  CHECK_FALSE(reused);  // two rotations later: full handshake
  setTicketClockForTest(nullptr);
  SSL_SESSION_free(first);
  SSL_SESSION_free(again);
}

TEST_CASE("tickets off: no resumption") {
  using testing::makeCert;
  static auto ca = makeCert("Test CA", nullptr);
  static auto leaf = makeCert("a.example", &ca, "DNS:a.example");
  ServerContextOptions o;
  o.certificates.push_back({"secrets[0]", leaf.cert, leaf.key, "", {}});
  o.session_tickets = false;
  std::vector<TlsError> errors;
  auto sc = ServerContext::create(o, &errors);
  ClientContextOptions co;
  co.ca_pem = ca.cert;
  auto cc = ClientContext::create(co, &errors);
  Session c(cc->newSsl("a.example"), nullptr);
  Session s(sc->newSsl(), sc);
  c.connect();
  pump(c, s);
  REQUIRE(c.open());
  c.shutdown();
  SSL_SESSION* sess = SSL_get1_session(c.ssl());
  Session c2(cc->newSsl("a.example"), nullptr);
  SSL_set_session(c2.ssl(), sess);
  Session s2(sc->newSsl(), sc);
  c2.connect();
  pump(c2, s2);
  REQUIRE(c2.open());
  CHECK(SSL_session_reused(s2.ssl()) == 0);
  SSL_SESSION_free(sess);
}

} // namespace
} // namespace gw::tls
