"""The TLS scenarios of tools/bench (issue 14; see docs/benchmarks.md):

  h2-tls           HTTP/2 over TLS (ALPN h2): h2load -c5 -m10 (5 connections x 10 streams)
  tls-handshake    a full TLS handshake per request: wrk -t1 -c10 with `Connection: close`
                   (the proxy closes after each response, wrk connects again); no resumption
                   anywhere: the proxies issue no session tickets and keep no session cache, and
                   the check below proves that a second connection offering the first one's
                   session gets a full handshake
  https-keepalive  HTTPS HTTP/1.1 keep-alive: wrk -t1 -c50

They are ordinary throughput scenarios of bench.py (its run_one measures them, its table shows
them with the ratios); this module starts their own proxies, one of each with 1 worker, in front
of the bench's upstream: gatewayd, nginx and HAProxy serving TLS 1.3 only on one listener each
(ALPN h2 and http/1.1), with one ECDSA P-256 certificate made here with the openssl CLI, each
proxy's default TLS 1.3 ciphersuites (OpenSSL's: the same for all three) chosen by server
preference (gatewayd and HAProxy do that by default, nginx gets `ssl_prefer_server_ciphers on`),
so that every client negotiates the same suite with all three. Every server is recorded with
bench.add() (stopped at the end, and by the safety net).
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

import bench as B

NAMES = ("h2-tls", "tls-handshake", "https-keepalive")
# Targets: the family before "-w" is what bench.py's table and ratios group by.
TARGETS = ["gatewayd-w1-tls", "nginx-w1-tls", "haproxy-w1-tls"]


def wanted(only):
    return not only or any(n in only for n in NAMES)


def make_cert(d):
    """One self-signed ECDSA P-256 certificate for 127.0.0.1 (cert.pem, key.pem) and the two in
    one file for HAProxy's `crt` (cert+key.pem)."""
    os.makedirs(d, exist_ok=True)
    cert, key, both = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "cert+key.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    with open(both, "w") as f:
        for p in (cert, key):
            with open(p) as src:
                f.write(src.read())
    for p in (key, both):
        os.chmod(p, 0o600)
    return cert, key, both


# A listener's routes (YAML at a listener's indentation): every path of every host to the
# cluster `up`. Also peer_instructions.py's h2c listener.
ALL_TO_UP = """    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: all
            match: {prefix: /}
            route_filter: {name: router, config: {cluster: up}}
"""


def gatewayd_conf(port, up_port, cert, key):
    return """
version: bench-tls
secrets:
  - name: bench
    certificate_chain: {{file: {cert}}}
    private_key: {{file: {key}}}
listeners:
  - name: bench-tls
    address: 127.0.0.1:{port}
    http2: {{enabled: true}}        # ALPN: h2, http/1.1
    tls:
      certificates: [{{secret: bench}}]
      params: {{min_version: TLS1_3, max_version: TLS1_3}}
      session_tickets: {{enabled: false}}   # no resumption (no session cache either)
{routes}clusters:
  - name: up
    endpoints: [{{address: "127.0.0.1:{up}"}}]
""".format(port=port, up=up_port, cert=cert, key=key, routes=ALL_TO_UP)


def nginx_conf(tmp, sub, port, up_port, cert, key):
    d = os.path.join(tmp, sub)
    return """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{common}
    upstream up {{
        server 127.0.0.1:{up};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_prefer_server_ciphers on;   # as gatewayd and HAProxy: the same suite for every client
        ssl_session_cache off;          # no resumption: no cache ...
        ssl_session_tickets off;        # ... and no tickets: neither stateless ones ...
        ssl_conf_command NumTickets 0;  # ... nor TLS 1.3's stateful ones (OpenSSL sends 2)
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""".format(d=d, common=B.nginx_common(tmp, sub), up=up_port, port=port, cert=cert, key=key)


def haproxy_conf(port, up_port, both):
    return """
global
    nbthread 1
    maxconn 4000
    tune.ssl.cachesize 0      # no session cache (no resumption; no-tls-tickets below)

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 65s

frontend fe_tls
    bind 127.0.0.1:{port} ssl crt {both} alpn h2,http/1.1 ssl-min-ver TLSv1.3 no-tls-tickets
    default_backend be

backend be
    server up 127.0.0.1:{up}
""".format(port=port, up=up_port, both=both)


OPENSSL_NO_TICKETS = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
NumTickets = 0
"""


def start(bench):
    """Starts the three TLS proxies (when a TLS scenario is selected), adds them to
    bench.targets and checks them; the checks' findings go to bench.tls_setup."""
    bench.tls_setup = {}
    if not wanted(bench.args.only):
        return
    tmp = bench.tmp
    cert, key, both = make_cert(os.path.join(tmp, "tls"))
    up = bench.upstream.port
    servers = {}
    port = B.free_port()
    cfg = bench.write("tls/gatewayd.yaml", gatewayd_conf(port, up, cert, key))
    admin = B.free_port()
    servers["gatewayd-w1-tls"] = B.Server("gatewayd-w1-tls", [
        bench.args.gatewayd, "--config", cfg, "--workers", "1",
        "--admin-address", "127.0.0.1:%d" % admin, "--access-log", "off"]
        + bench.gatewayd_extra_flags(), port, tmp)
    sub = "tls/nginx"
    os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    port = B.free_port()
    conf = bench.write(sub + "/nginx.conf", nginx_conf(tmp, sub, port, up, cert, key))
    servers["nginx-w1-tls"] = B.Server("nginx-w1-tls", [
        "nginx", "-p", os.path.join(tmp, sub), "-e", os.path.join(tmp, sub, "error.log"),
        "-c", conf], port, tmp, with_children=True, stop_signal=signal.SIGQUIT)
    port = B.free_port()
    conf = bench.write("tls/haproxy.cfg", haproxy_conf(port, up, both))
    # HAProxy 2.6 has no setting for the number of TLS 1.3 tickets (no-tls-tickets leaves
    # OpenSSL's 2 stateful ones, useless without a session cache): an OpenSSL config of its own
    # sets it to 0 for every SSL_CTX, as nginx's ssl_conf_command does.
    ossl = bench.write("tls/openssl-haproxy.cnf", OPENSSL_NO_TICKETS)
    servers["haproxy-w1-tls"] = B.Server("haproxy-w1-tls", [
        "env", "OPENSSL_CONF=" + ossl, "haproxy", "-db", "-f", conf], port, tmp)
    for s in servers.values():
        s.scheme = "https"  # bench.url(): https://127.0.0.1:PORT; h2 by ALPN on the same port
        bench.add(s)
    for s in servers.values():
        s.wait_ready()
    bench.targets.update(servers)
    bench.tls_setup = {"certificate": "ECDSA P-256, self-signed, SAN IP:127.0.0.1",
                       "targets": {t: check(bench, t, cert) for t in TARGETS},
                       "handshakes_per_request": handshakes_per_request(
                           servers["gatewayd-w1-tls"].port, admin)}
    log_setup(bench.tls_setup)


def scenarios(bench):
    """bench.py's scenario dicts, when start() has started the targets."""
    if not getattr(bench, "tls_setup", None):
        return []
    return [
        dict(name="h2-tls", targets=TARGETS, path="/", tool="h2load", conns=5, streams=10,
             what="HTTP/2 over TLS 1.3 (ALPN h2): h2load -c5 -m10 (5 connections x 10 "
                  "concurrent streams), saturating; HTTP/1.1 to the upstream; 1 proxy worker"),
        dict(name="tls-handshake", targets=TARGETS, path="/", tool="wrk", threads=1, conns=10,
             headers=["Connection: close"],
             what="one full TLS 1.3 handshake per request (ECDSA P-256 certificate, no session "
                  "tickets or cache: no resumption): wrk -t1 -c10 with Connection: close, the "
                  "proxy closes after each response and wrk connects again; req/s = handshakes "
                  "per second, cpu us/req = proxy CPU per handshake (and its request); p50/p99 "
                  "are wrk's request latency, which starts after the handshake"),
        dict(name="https-keepalive", targets=TARGETS, path="/", tool="wrk", threads=1, conns=50,
             what="HTTPS HTTP/1.1 keep-alive GET, 20-byte response: wrk -t1 -c50; 1 proxy "
                  "worker"),
    ]


# ----------------------------------------------------------------------------------------------
# Checks


def client_context(cert, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    ctx.set_alpn_protocols(alpn)
    return ctx


def get_once(port, ctx, session=None):
    """One GET / over a new TLS connection (HTTP/1.1, Connection: close): (status line, body,
    the connection's facts)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            facts = {"version": s.version(), "cipher": s.cipher()[0],
                     "alpn": s.selected_alpn_protocol(), "resumed": s.session_reused,
                     "session": s.session}
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("latin-1"), body, facts


def check(bench, target, cert):
    """HTTP/1.1 and h2 by ALPN answer, TLS 1.3; no resumption; what h2load negotiates."""
    port = bench.targets[target].port
    problems = []
    h1 = client_context(cert, ["http/1.1"])  # one context: its sessions can be offered again
    status, body, first = get_once(port, h1)
    if not status.startswith("HTTP/1.1 200") or B.SMALL_BODY.encode() not in body:
        problems.append("GET / over TLS -> %r %r" % (status, body[:80]))
    if first["version"] != "TLSv1.3":
        problems.append("version %s, want TLSv1.3" % first["version"])
    session = first.pop("session")
    tickets = bool(session is not None and session.has_ticket)
    resumed = None
    if session is not None:
        try:
            _, _, again = get_once(port, h1, session)
            resumed = again["resumed"]
        except ValueError:  # a session this client cannot offer again: nothing to resume
            resumed = False
    if resumed:
        problems.append("a second connection resumed the first one's session")
    _, _, h2 = get_once(port, client_context(cert, ["h2", "http/1.1"]))
    if h2["alpn"] != "h2":
        problems.append("ALPN h2,http/1.1 selected %r, want h2" % h2["alpn"])
    # What h2load (the h2-tls client) negotiates: protocol, suite, key exchange group.
    p = subprocess.run(["h2load", "-n", "20", "-c", "1", "-m", "10",
                        "https://127.0.0.1:%d/" % port], capture_output=True, text=True,
                       timeout=30)
    out = p.stdout
    h2load = {}
    for key, rx in (("alpn", r"Application protocol: (\S+)"), ("cipher", r"Cipher: (\S+)"),
                    ("group", r"Server Temp Key: (.+)"), ("protocol", r"TLS Protocol: (\S+)")):
        m = re.search(rx, out)
        h2load[key] = m.group(1).strip() if m else None
    if h2load["alpn"] != "h2" or "20 succeeded" not in out:
        problems.append("h2load over TLS: %s" % (out[-400:] or p.stderr[-400:]))
    if problems:
        raise RuntimeError("TLS checks failed for %s:\n  %s" % (target, "\n  ".join(problems)))
    return {"python_client": dict(first, session_ticket_issued=tickets,
                                  second_connection_resumed=bool(resumed)),
            "h2load": h2load}


def handshakes_per_request(port, admin):
    """tls-handshake's load for 1 s against gatewayd, whose counter of completed handshakes
    tells whether wrk really makes a new one for every request."""
    def handshakes():
        _, text = B.http_get("http://127.0.0.1:%d/metrics" % admin)
        m = re.search(rb"^gateway_downstream_tls_handshakes_total (\d+)", text, re.M)
        return int(m.group(1)) if m else None
    h0 = handshakes()
    p = subprocess.run(["wrk", "-t1", "-c10", "-d1s", "-H", "Connection: close",
                        "https://127.0.0.1:%d/" % port], capture_output=True, text=True,
                       timeout=30)
    h1 = handshakes()
    reqs = B.parse_wrk(p.stdout)["requests"]
    if h0 is None or h1 is None or not reqs:
        raise RuntimeError("tls-handshake check: no handshake count or no requests (%s)"
                           % p.stdout[-300:])
    # Connections still handshaking when wrk stops add a few (at most -c) handshakes.
    if not reqs <= h1 - h0 <= reqs + 10:
        raise RuntimeError("tls-handshake check: %d requests made %d handshakes"
                           % (reqs, h1 - h0))
    return round((h1 - h0) / reqs, 3)


def log_setup(setup):
    for t, c in setup["targets"].items():
        pc, hl = c["python_client"], c["h2load"]
        B.log("bench: %-15s %s %s (h2load: %s, %s, %s), session ticket issued: %s, "
              "resumed: %s" % (t, pc["version"], pc["cipher"], hl["alpn"], hl["cipher"],
                               hl["group"], "yes" if pc["session_ticket_issued"] else "no",
                               "yes" if pc["second_connection_resumed"] else "no"))
    B.log("bench: tls-handshake's load: %.3f handshakes per request (gatewayd's counter)"
          % setup["handshakes_per_request"])


# ----------------------------------------------------------------------------------------------
# Report


def report(bench, summary):
    """Issue 14's targets from the run (CPU per request at or below nginx's and HAProxy's in each
    TLS scenario; met only when both the ratio of the medians and the median of the rounds'
    own ratios are), with the checks' findings; {} when no TLS scenario ran."""
    if not getattr(bench, "tls_setup", None):
        return {}
    rows = []
    for name in NAMES:
        s = summary.get(name)
        if not s:
            continue
        for peer in ("nginx", "haproxy"):
            r = s["ratios"].get("gatewayd/" + peer)
            if not r or r.get("cpu_per_req") is None:
                continue
            by_round = (r.get("per_round_median") or {}).get("cpu_per_req")
            vals = [v for v in (r["cpu_per_req"], by_round) if v is not None]
            rows.append({"target": "%s: cpu/request vs %s <= 1.0" % (name, peer),
                         "ratio": r["cpu_per_req"], "by_round": by_round, "goal": 1.0,
                         "met": all(v <= 1.0 for v in vals)})
    hs = summary.get("tls-handshake")
    handshakes = {}
    if hs:
        handshakes = {fam: {"handshakes_per_s": row["rps"],
                            "cpu_us_per_handshake": row["cpu_us_per_req"]}
                      for fam, row in hs["targets"].items()}
    return {"setup": bench.tls_setup, "targets": rows, "handshakes": handshakes}


def table(rep):
    lines = []
    if rep.get("handshakes"):
        lines.append("tls-handshake: " + "; ".join(
            "%s %s handshakes/s, %s us CPU per handshake" % (
                fam, B.fmt_num(v["handshakes_per_s"]), B.fmt_num(v["cpu_us_per_handshake"], 1))
            for fam, v in rep["handshakes"].items()))
    setup = rep["setup"]["targets"]
    lines.append("TLS: " + "; ".join("%s %s/%s" % (t.split("-w")[0], c["h2load"]["cipher"],
                                                 c["h2load"]["group"])
                                     for t, c in setup.items())
                 + "; no session tickets issued: %s, no resumption: %s" % (
                     "yes" if not any(c["python_client"]["session_ticket_issued"]
                                      for c in setup.values()) else "NO",
                     "yes" if not any(c["python_client"]["second_connection_resumed"]
                                      for c in setup.values()) else "NO")
                 + "; tls-handshake: %.3f handshakes per request (gatewayd's counter)"
                 % rep["setup"]["handshakes_per_request"])
    if rep["targets"]:
        lines.append("targets (issue 14), ratios of gatewayd to the peer: of the medians / "
                     "by round")
        for t in rep["targets"]:
            lines.append("  %-44s %6s / %-6s %s" % (
                t["target"], B.fmt_num(t["ratio"], 2) + "x",
                B.fmt_num(t["by_round"], 2) + "x" if t["by_round"] is not None else "-",
                "met" if t["met"] else "MISSED"))
    return "\n".join(lines)
