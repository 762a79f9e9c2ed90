"""TLS with real processes and real clients: curl over TLS 1.2 and 1.3, openssl s_client for SNI,
ALPN and client certificates, python ssl for upstream TLS and for live certificate rotation by a
push under load. Certificates are made at test time (tls_certs.Pki)."""
import http.client
import http.server
import json
import re
import socket
import ssl
import subprocess
import threading
import time

from harness import Gateway, Upstream, curl, free_port, wait_for
from tls_certs import Pki


def tls_config(pki, certs, client_cert="", headers=True, clusters=None, extra_secrets=""):
    """A listener 'main' on {listen} with TLS: `certs` is [(secret, cert, key, [names])]."""
    secrets = "".join("""  - name: %s
    certificate_chain:
      file: %s
    private_key:
      file: %s
""" % (n, c, k) for n, c, k, _ in certs) + extra_secrets
    certificates = "".join("""        - secret: %s
          server_names: [%s]
""" % (n, ", ".join('"%s"' % s for s in names)) for n, _, _, names in certs)
    cc = ""
    if client_cert:
        cc = """      client_certificate:
        mode: %s
        ca:
          file: %s
""" % (client_cert, pki.client_ca)
    hdrs = """      client_cert_headers:
        subject: x-client-cert-subject
        sans: x-client-cert-sans
        fingerprint: x-client-cert-sha256
""" if headers else ""
    return """version: tls-1
secrets:
%slisteners:
  - name: main
    address: "{listen}"
    tls:
      certificates:
%s%s%s    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: direct
            match:
              path: /direct
            route_filter:
              name: direct_response
              config:
                status: 200
                body: hello
          - name: api
            match:
              prefix: /
            route_filter:
              name: router
              config:
                cluster: backend
clusters:
  - name: backend
    endpoints:
      - address: "{up0}"
%s""" % (secrets, certificates, cc, hdrs, clusters or "")


class TestPki(Pki):
    def __init__(self):
        super().__init__("Server CA")
        self.default = self.leaf("default", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
        self.a = self.leaf("a", "a.test", ["DNS:a.test"])
        self.wild = self.leaf("wild", "*.wild.test", ["DNS:*.wild.test"])
        self.client_pki = Pki("Client CA")
        self.client_ca = self.client_pki.ca
        self.client = self.client_pki.leaf("client", "client-1",
                                           ["DNS:client.test", "URI:spiffe://test/client"],
                                           client=True)
        rogue = Pki("Rogue CA")
        self.rogue = rogue.leaf("rogue", "client-1", ["DNS:client.test"], client=True)

    def certs(self):
        return [("default", self.default[0], self.default[1], []),
                ("a", self.a[0], self.a[1], ["a.test"]),
                ("wild", self.wild[0], self.wild[1], ["*.wild.test"])]


_pki = None


def pki():
    global _pki
    if _pki is None:
        _pki = TestPki()
    return _pki


def s_client(port, *args, data=b""):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15)
    return p.stdout.decode("utf-8", "replace")


def https(port, p, *args):
    return curl(["--cacert", p.ca, "--resolve", "localhost:%d:127.0.0.1" % port, "-v"] +
                list(args) + ["https://localhost:%d/api/echo" % port])


def test_curl_over_tls12_and_tls13():
    p = pki()
    with Upstream("svc") as up, Gateway(tls_config(p, p.certs()), [up]) as gw:
        r = https(gw.port, p, "--http1.1", "--tlsv1.2", "--tls-max", "1.2")
        assert r.returncode == 0, r.stderr
        assert b"SSL connection using TLSv1.2" in r.stderr, r.stderr
        body = json.loads(r.stdout)
        assert body["headers"]["x-forwarded-proto"] == "https"
        assert "proto=https" in body["headers"]["forwarded"]
        r = https(gw.port, p, "--http1.1", "--tlsv1.3")
        assert r.returncode == 0, r.stderr
        assert b"SSL connection using TLSv1.3" in r.stderr, r.stderr
        # Plain HTTP to the TLS port is not served.
        r = curl(["http://127.0.0.1:%d/direct" % gw.port])
        assert r.returncode != 0 or b"hello" not in r.stdout


def test_sni_picks_exact_wildcard_and_default_certificates():
    p = pki()
    with Upstream("svc") as up, Gateway(tls_config(p, p.certs()), [up]) as gw:
        def subject(*args):
            out = s_client(gw.port, *args)
            m = re.search(r"subject=(.*)", out)
            assert m, out
            return m.group(1)
        assert "CN = a.test" in subject("-servername", "a.test")
        assert "CN = *.wild.test" in subject("-servername", "x.wild.test")
        assert "CN = localhost" in subject("-servername", "y.x.wild.test")  # one label only
        assert "CN = localhost" in subject("-noservername")


def test_alpn_offers_http11_only_without_http2():
    p = pki()
    with Upstream("svc") as up, Gateway(tls_config(p, p.certs()), [up]) as gw:
        assert "ALPN protocol: http/1.1" in s_client(gw.port, "-alpn", "h2,http/1.1")
        assert "No ALPN negotiated" in s_client(gw.port, "-alpn", "h2")


def test_mtls_required_verified_headers_and_failures_logged():
    p = pki()
    cfg = tls_config(p, p.certs(), client_cert="REQUIRED")
    with Upstream("svc") as up, Gateway(cfg, [up]) as gw:
        r = https(gw.port, p, "--http1.1", "--cert", p.client[0], "--key", p.client[1],
                  "-H", "x-client-cert-subject: CN=forged", "-H", "X-Client-Cert-Sha256: forged")
        assert r.returncode == 0, r.stderr
        h = json.loads(r.stdout)["headers"]
        assert h["x-client-cert-subject"] == "CN=client-1,O=Gateway Test"
        assert h["x-client-cert-sans"] == "DNS:client.test, URI:spiffe://test/client"
        fp = subprocess.run(["openssl", "x509", "-in", p.client[0], "-noout", "-fingerprint",
                             "-sha256"], stdout=subprocess.PIPE, check=True).stdout.decode()
        assert h["x-client-cert-sha256"] == fp.split("=")[1].strip().replace(":", "").lower()
        # No certificate: the handshake fails (TLS 1.3 reports it on the first read).
        r = https(gw.port, p, "--http1.1")
        assert r.returncode != 0 and b'"headers"' not in r.stdout
        # A certificate from another CA: refused.
        r = https(gw.port, p, "--http1.1", "--cert", p.rogue[0], "--key", p.rogue[1])
        assert r.returncode != 0 and b'"headers"' not in r.stdout
        wait_for(lambda: "unable to get local issuer certificate" in gw.stderr(),
                 what="the verify failure logged")
        log = gw.stderr()
        assert "tls handshake failed: listener=main" in log
        assert "peer did not return a certificate" in log
        _, metrics = gw.admin("GET", "/metrics")
        m = re.search(rb"gateway_downstream_tls_handshake_failures_total (\d+)", metrics)
        assert m and int(m.group(1)) >= 2, metrics


def test_mtls_optional_strips_client_copies_without_a_certificate():
    p = pki()
    cfg = tls_config(p, p.certs(), client_cert="OPTIONAL")
    with Upstream("svc") as up, Gateway(cfg, [up]) as gw:
        r = https(gw.port, p, "--http1.1", "-H", "x-client-cert-subject: CN=forged",
                  "-H", "x-client-cert-sans: DNS:forged")
        assert r.returncode == 0, r.stderr
        h = json.loads(r.stdout)["headers"]
        assert "x-client-cert-subject" not in h and "x-client-cert-sans" not in h
        r = https(gw.port, p, "--http1.1", "--cert", p.client[0], "--key", p.client[1])
        assert json.loads(r.stdout)["headers"]["x-client-cert-subject"] == \
            "CN=client-1,O=Gateway Test"
        out = s_client(gw.port, "-cert", p.client[0], "-key", p.client[1], "-servername",
                       "a.test", "-CAfile", p.ca, "-ign_eof",
                       data=b"GET /direct HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert "Verify return code: 0 (ok)" in out and "hello" in out, out


class TlsUpstream:
    """A python http.server over ssl answering JSON with the request's headers."""

    def __init__(self, cert, key):
        self.port = free_port()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = json.dumps({"tls_upstream": True,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_upstream_tls_verified_and_wrong_ca_is_503():
    p = pki()
    good = """    tls:
      sni: localhost
      ca:
        file: %s
""" % p.ca
    wrong = """  - name: wrong
    endpoints:
      - address: "{up0}"
    tls:
      sni: localhost
      ca:
        file: %s
""" % p.client_ca
    cfg = tls_config(p, p.certs(), clusters=good + wrong)
    cfg = cfg.replace("""          - name: api
            match:
              prefix: /""", """          - name: wrong
            match:
              prefix: /wrong
            route_filter:
              name: router
              config:
                cluster: wrong
          - name: api
            match:
              prefix: /""")
    with TlsUpstream(*p.default) as up, Gateway(cfg, [up]) as gw:
        r = https(gw.port, p, "--http1.1")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["tls_upstream"] is True
        r = curl(["--cacert", p.ca, "--resolve", "localhost:%d:127.0.0.1" % gw.port,
                  "https://localhost:%d/wrong" % gw.port, "-w", "\n%{http_code}"])
        body, code = r.stdout.rsplit(b"\n", 1)
        assert code == b"503", r.stdout
        err = json.loads(body)
        assert err["error"] == "upstream_tls_error", err
        assert "certificate verify failed" in err["message"], err


def test_private_keys_redacted_in_config_dump():
    p = pki()
    with open(p.a[1]) as f:
        key_pem = f.read()
    with open(p.a[0]) as f:
        cert_pem = f.read()
    inline = """  - name: inline
    certificate_chain:
      inline: |
%s    private_key:
      inline: |
%s""" % ("".join("        " + l + "\n" for l in cert_pem.splitlines()),
         "".join("        " + l + "\n" for l in key_pem.splitlines()))
    certs = p.certs() + []
    cfg = tls_config(p, certs, extra_secrets=inline)
    with Upstream("svc") as up, Gateway(cfg, [up]) as gw:
        status, dump = gw.admin("GET", "/config_dump")
        assert status == 200
        text = dump.decode()
        assert "PRIVATE KEY" not in text
        secrets = {s["name"]: s for s in json.loads(text)["config"]["secrets"]}
        assert re.fullmatch(r"<redacted sha256:[0-9a-f]{12}>",
                            secrets["inline"]["private_key"]["inline"]), secrets["inline"]
        assert "BEGIN CERTIFICATE" in secrets["inline"]["certificate_chain"]["inline"]
        # A key file shows only its path.
        assert secrets["default"]["private_key"] == {"file": p.default[1]}


def test_certificate_rotated_by_a_push_under_load():
    from test_live_config import FakeControlPlane, LiveGateway
    p = pki()
    other = p.leaf("rotated", "localhost", ["DNS:localhost", "IP:127.0.0.1"])
    port = free_port()
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="gw-tls-rot-")

    def cfg(i, cert):
        c = {"version": "rot-%d" % i,
             "secrets": [{"name": "edge", "certificate_chain": {"file": cert[0]},
                          "private_key": {"file": cert[1]}}],
             "listeners": [{"name": "main", "address": "127.0.0.1:%d" % port,
                            "tls": {"certificates": [{"secret": "edge"}]},
                            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                                {"name": "d", "match": {"path": "/d"}, "route_filter": {
                                    "name": "direct_response",
                                    "config": {"status": 200, "body": "ok"}}}]}]}]}
        path = os.path.join(d, "c%d.json" % i)
        with open(path, "w") as f:
            json.dump(c, f)
        return path

    ctx = ssl.create_default_context(cafile=p.ca)

    def served_fingerprint():
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                return t.getpeercert(binary_form=True)

    with FakeControlPlane() as cp, LiveGateway(cp, workers=2) as gw:
        assert cp.push("v0", cfg(0, p.default)).startswith("ack ")
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                 what="listener")
        before = served_fingerprint()
        kept = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
        kept.request("GET", "/d")
        assert kept.getresponse().read() == b"ok"
        stop = threading.Event()
        results = {"ok": 0, "bad": []}
        lock = threading.Lock()

        def load():
            while not stop.is_set():
                try:
                    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
                    c.request("GET", "/d")
                    body = c.getresponse().read()
                    c.close()
                    with lock:
                        if body == b"ok":
                            results["ok"] += 1
                        else:
                            results["bad"].append(body)
                except Exception as e:
                    with lock:
                        results["bad"].append(repr(e))
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            assert cp.push("v1", cfg(1, other)).startswith("ack ")
            time.sleep(0.3)
            assert cp.push("v2", cfg(2, p.default)).startswith("ack ")
            time.sleep(0.3)
            assert cp.push("v3", cfg(3, other)).startswith("ack ")
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        assert results["bad"] == [], results["bad"][:5]
        assert results["ok"] > 20, results
        after = served_fingerprint()
        assert after != before
        with open(other[0]) as f:
            assert ssl.DER_cert_to_PEM_cert(after).strip() == f.read().strip()
        # The connection opened before the pushes is still up, on its old certificate.
        kept.request("GET", "/d")
        assert kept.getresponse().read() == b"ok"
        kept.close()


def test_alpn_h2_and_http2_over_tls_when_the_listener_enables_it():
    # With http2 enabled the listener offers h2 first; curl and nghttp then speak HTTP/2 over TLS
    # through the same routes, and a client offering only http/1.1 still gets HTTP/1.1.
    p = pki()
    config = tls_config(p, p.certs()).replace(
        '    address: "{listen}"\n', '    address: "{listen}"\n    http2: {{enabled: true}}\n', 1)
    with Upstream("svc") as up, Gateway(config, [up]) as gw:
        assert "ALPN protocol: h2" in s_client(gw.port, "-alpn", "h2,http/1.1")
        assert "ALPN protocol: http/1.1" in s_client(gw.port, "-alpn", "http/1.1")
        r = https(gw.port, p, "--http2", "-w", "\n%{http_version}")
        assert r.returncode == 0, r.stderr
        body, version = r.stdout.rsplit(b"\n", 1)
        assert version == b"2", r.stdout
        assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
        r = https(gw.port, p, "--http1.1", "-w", "\n%{http_version}")
        assert r.returncode == 0 and r.stdout.endswith(b"\n1.1"), r.stderr
        # nghttp: several streams on one TLS connection.
        n = subprocess.run(["nghttp", "-n", "-s", "-m", "5",
                            "https://127.0.0.1:%d/direct" % gw.port],
                           capture_output=True, text=True, timeout=30)
        assert n.returncode == 0, n.stderr
        assert n.stdout.count("/direct") >= 5, n.stdout


def test_ocsp_response_stapled_when_configured():
    # A DER OCSP response made by the test CA for the default certificate (openssl ocsp as the
    # responder) is stapled to handshakes that ask for it (status_request).
    p = pki()
    cert, key = p.default
    serial = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout.split("=")[1].strip()
    end = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 86400))
    index, resp = p.path("ocsp-index.txt"), p.path("default.ocsp.der")
    with open(index, "w") as f:
        f.write("V\t%s\t\t%s\tunknown\t/CN=localhost\n" % (end, serial))
    subprocess.run(["openssl", "ocsp", "-index", index, "-rsigner", p.ca, "-rkey", p.ca_key,
                    "-CA", p.ca, "-issuer", p.ca, "-cert", cert, "-respout", resp, "-ndays", "1"],
                   capture_output=True, check=True, timeout=20)
    config = tls_config(p, [("default", cert, key, [])]).replace(
        "      file: %s\n" % key, "      file: %s\n    ocsp_response_file: %s\n" % (key, resp), 1)
    assert "ocsp_response_file" in config
    with Upstream("svc") as up, Gateway(config, [up]) as gw:
        out = s_client(gw.port, "-status", "-servername", "localhost")
        assert "OCSP Response Status: successful" in out, out
        assert "Cert Status: good" in out, out
    # Without the file nothing is stapled.
    with Upstream("svc") as up, Gateway(tls_config(p, [("default", cert, key, [])]), [up]) as gw:
        assert "OCSP response: no response sent" in s_client(gw.port, "-status")
