#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "source/config/config.h"
#include "source/config/tls_config.h"
#include "test/tls/test_certs.h"

namespace gw::config {
namespace {

using gateway::v1::Config;

Config baseConfig() {
  static auto ca = tls::testing::makeCert("Test CA", nullptr);
  static auto leaf = tls::testing::makeCert("a.example", &ca, "DNS:a.example");
  Config c;
  auto* s = c.add_secrets();
  s->set_name("edge");
  s->mutable_certificate_chain()->set_inline_(leaf.cert);
  s->mutable_private_key()->set_inline_(leaf.key);
  auto* l = c.add_listeners();
  l->set_name("main");
  l->set_address("127.0.0.1:0");
  auto* vh = l->add_virtual_hosts();
  vh->add_domains("*");
  auto* r = vh->add_routes();
  r->mutable_match()->set_prefix("/");
  r->mutable_route_filter()->set_name("direct_response");
  l->mutable_tls()->add_certificates()->set_secret("edge");
  return c;
}

std::vector<std::string> paths(const Config& c) {
  std::vector<std::string> out;
  for (const auto& e : validateConfig(c)) {
    out.push_back(e.path);
  }
  return out;
}

TEST_CASE("a valid TLS listener validates") { CHECK(paths(baseConfig()).empty()); }

TEST_CASE("TLS config errors carry exact field paths") {
  Config c = baseConfig();
  auto* t = c.mutable_listeners(0)->mutable_tls();
  t->add_certificates()->set_secret("missing");
  t->set_default_certificate("nope");
  t->mutable_params()->set_cipher_list("NOT-A-CIPHER");
  t->add_alpn("h2");
  t->mutable_client_certificate()->set_mode(gateway::v1::ClientCertificateValidation::REQUIRED);
  t->mutable_client_cert_headers()->set_subject("bad header");
  t->mutable_session_tickets()->mutable_rotation_interval()->set_seconds(5);
  auto* s = c.add_secrets();
  s->set_name("edge");  // duplicate
  auto* cl = c.add_clusters();
  cl->set_name("b");
  cl->add_endpoints()->set_address("127.0.0.1:1");
  cl->mutable_tls()->set_client_certificate("ghost");
  const auto p = paths(c);
  for (const char* want :
       {"secrets[1].name", "listeners[0].tls.certificates[1].secret",
        "listeners[0].tls.default_certificate", "listeners[0].tls.alpn[0]",
        "listeners[0].tls.client_certificate.ca", "listeners[0].tls.client_cert_headers.subject",
        "listeners[0].tls.session_tickets.rotation_interval", "clusters[0].tls.client_certificate"}) {
    INFO(want);
    CHECK(std::find(p.begin(), p.end(), want) != p.end());
  }
}

TEST_CASE("a bad PEM is reported at the secret's path; keys never appear in messages") {
  Config c = baseConfig();
  c.mutable_secrets(0)->mutable_private_key()->set_inline_(
      "-----BEGIN PRIVATE KEY-----\nSECRETBYTES\n-----END PRIVATE KEY-----\n");
  const auto errors = validateConfig(c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "secrets[0].private_key");
  CHECK_FALSE(absl::StrContains(errors[0].message, "SECRETBYTES"));
}

TEST_CASE("redaction shows a fingerprint and a placeholder is refused") {
  Config c = baseConfig();
  const std::string key = c.secrets(0).private_key().inline_();
  redactSecrets(&c);
  const std::string shown = c.secrets(0).private_key().inline_();
  CHECK(shown == redactedKey(key));
  CHECK(absl::StartsWith(shown, "<redacted sha256:"));
  CHECK(shown.size() == std::string("<redacted sha256:>").size() + 12);
  CHECK_FALSE(absl::StrContains(shown, "PRIVATE"));
  CHECK(c.secrets(0).certificate_chain().inline_().find("BEGIN CERTIFICATE") != std::string::npos);
  redactSecrets(&c);  // idempotent
  CHECK(c.secrets(0).private_key().inline_() == shown);
  const auto p = paths(c);
  CHECK(p == std::vector<std::string>{"secrets[0].private_key.inline"});
}

TEST_CASE("file and env sources are read only when serving") {
  Config c = baseConfig();
  c.mutable_secrets(0)->mutable_private_key()->set_file("/nonexistent/key.pem");
  CHECK(paths(c).empty());  // the control plane cannot read the proxy's files
  const auto errors = validateConfig(c, nullptr, /*serving=*/true);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].path == "secrets[0].private_key.file");
  c.mutable_secrets(0)->mutable_private_key()->set_env("GW_TEST_NO_SUCH_VAR");
  const auto env_errors = validateConfig(c, nullptr, /*serving=*/true);
  REQUIRE(env_errors.size() == 1);
  CHECK(env_errors[0].path == "secrets[0].private_key.env");
}

} // namespace
} // namespace gw::config
