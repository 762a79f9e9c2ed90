"""Edge hardening found by trying the gateway as an attacker would: the Host a virtual host is
chosen by (trailing dots, ports, absolute-form targets), HTTP/1.0 without Host, Forwarded, and
header names with underscores. Real gatewayd + demo_upstream on 127.0.0.1."""
from harness import Gateway, RawClient, Upstream

# A host-scoped auth filter on secure.example.com (a token is required there), an open "*".
HARDENING_CONFIG = """
version: hardening-1
listeners:
  - name: main
    address: "{listen}"
%(listener)s
    virtual_hosts:
      - name: secure
        domains: ["secure.example.com"]
        routes:
          - name: secure
            match:
              prefix: /
            pre_filters:
              - name: jwt_auth
                config:
                  provider: corp
            route_filter:
              name: router
              config:
                cluster: backend
      - name: open
        domains: ["*"]
        routes:
          - name: open
            match:
              prefix: /
            route_filter:
              name: router
              config:
                cluster: backend
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
auth_providers:
  - name: corp
    secret: "0123456789abcdef0123456789abcdef"
"""


def hardened(listener=""):
    up = Upstream("hard")
    return up, Gateway(HARDENING_CONFIG % {"listener": listener}, [up])


def _req(target, headers=(), version="1.1"):
    lines = ["GET %s HTTP/%s" % (target, version)] + ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_trailing_dot_selects_the_same_virtual_host():
    up, gw = hardened()
    with up, gw:
        with RawClient(gw.port) as c:
            for host in ["secure.example.com", "secure.example.com.", "SECURE.example.com.",
                         "secure.example.com.:8080", "secure.example.com:8080"]:
                c.send(_req("/x", [("Host", host)]))
                r = c.read_response()
                # The secure virtual host's auth filter answers: no token, 401.
                assert r.status == 401, (host, r)
                assert r.json()["error"] == "jwt_missing", (host, r)
            c.send(_req("/x", [("Host", "open.example.com.")]))
            assert c.read_response().status == 200
        # Not a host name: refused, not routed to "*".
        for host in ["secure.example.com..", ".", "secure.example.com.:x", "a b", "[::1"]:
            with RawClient(gw.port) as c:
                c.send(_req("/x", [("Host", host)]))
                r = c.read_response()
                assert r.status == 400, (host, r)
                assert r.json()["error"] == "bad_request", (host, r)


def test_absolute_form_target_decides_the_authority():
    up, gw = hardened()
    with up, gw:
        with RawClient(gw.port) as c:
            # The Host header says "open", the target says secure: the target wins (RFC 9112
            # 3.2.2), so the secure virtual host's auth applies.
            c.send(_req("http://secure.example.com/x", [("Host", "open.example.com")]))
            r = c.read_response()
            assert r.status == 401, r
            # The other way round: routed to the open host, and the upstream sees a Host that
            # matches the target, not the header.
            c.send(_req("http://open.example.com:8080/y?q=1", [("Host", "secure.example.com")]))
            r = c.read_response()
            assert r.status == 200, r
            seen = r.json()
            assert seen["headers"]["host"] == "open.example.com:8080", seen
            assert seen["path"] == "/y", seen
        with RawClient(gw.port) as c:
            c.send(_req("http://user@secure.example.com/x", [("Host", "secure.example.com")]))
            assert c.read_response().status == 400


def test_http10_without_host_reaches_the_upstream_with_one():
    up, gw = hardened()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/ten", [], version="1.0"))
            r = c.read_response()
            assert r.status == 200, r
            seen = r.json()
            assert seen["headers"]["host"] == up.address, seen
            assert seen["http_version"] == "1.1", seen


def test_forwarded_replaced_at_the_edge():
    up, gw = hardened()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/f", [("Host", "open.example.com"),
                               ("Forwarded", "for=6.6.6.6;proto=https"),
                               ("Forwarded", "for=7.7.7.7")]))
            seen = c.read_response().json()["headers"]
            assert seen["forwarded"] == "for=127.0.0.1;host=open.example.com;proto=http", seen


def test_forwarded_appended_behind_trusted_hops():
    up, gw = hardened("    xff_trusted_hops: 1\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/f", [("Host", "open.example.com:8443"),
                               ("Forwarded", "for=6.6.6.6;proto=https"),
                               ("Forwarded", "for=10.0.0.1")]))
            seen = c.read_response().json()["headers"]
            assert seen["forwarded"] == ("for=6.6.6.6;proto=https, for=10.0.0.1, "
                                         "for=127.0.0.1;host=\"open.example.com:8443\";"
                                         "proto=http"), seen


def test_header_names_with_underscores_dropped_by_default():
    up, gw = hardened()
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/u", [("Host", "open.example.com"), ("X_User_Id", "admin"),
                               ("X-User-Id", "alice")]))
            seen = c.read_response().json()["headers"]
            assert seen.get("x-user-id") == "alice", seen
            assert "x_user_id" not in seen, seen


def test_header_names_with_underscores_allowed_or_rejected_by_config():
    up, gw = hardened("    headers_with_underscores: ALLOW\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/u", [("Host", "open.example.com"), ("X_Trace", "1")]))
            seen = c.read_response().json()["headers"]
            assert seen.get("x_trace") == "1", seen
    up, gw = hardened("    headers_with_underscores: REJECT_REQUEST\n")
    with up, gw:
        with RawClient(gw.port) as c:
            c.send(_req("/u", [("Host", "open.example.com"), ("X_Trace", "1")]))
            r = c.read_response()
            assert r.status == 400, r
            assert r.json()["error"] == "bad_request", r
            assert "underscore" in r.json()["message"], r
