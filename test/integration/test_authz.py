"""`authz` on a real gatewayd behind `jwt_auth` (HS256 tokens made here): permissions per method
from the token's `permissions` / `scope` / `roles` claims and the role map, 401 with a challenge,
403 naming the missing permission, the user context upstream (client forgeries removed), report
mode in /metrics and the access log."""
import json

from harness import Gateway, Upstream, one_listener_config, validate_output, wait_for
from test_policy import SECRET, auth, claims, hs256, upstream_headers

AUTHZ_RULES = """rules:
                    - {{methods: [GET, HEAD], any_of: ["orders:read"]}}
                    - {{methods: [POST], all_of: ["orders:write"]}}
                  roles: {{admin: ["*"], support: ["orders:read", "users:*"]}}"""

CONFIG = one_listener_config(head="""
version: authz-1
auth_providers:
  - name: main
    secret: "%s"
    roles_claim: realm_access.roles
""" % SECRET, routes="""          - name: orders
            match: {{prefix: /api/orders}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: main}}}}
              - name: authz
                config:
                  %s
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: optional
            match: {{prefix: /optional}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: main, allow_missing: true}}}}
              - name: authz
                config:
                  realm: shop
                  %s
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: shadow
            match: {{prefix: /shadow}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: main, allow_missing: true}}}}
              - name: authz
                config:
                  mode: report
                  %s
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""" % (AUTHZ_RULES, AUTHZ_RULES, AUTHZ_RULES))

FORGED = {"X-User-ID": "mallory", "X-User-Roles": "admin", "X-User-Permissions": "*"}


def token(**extra):
    return hs256(claims(**extra))


def error_of(status, headers, body, want_status, want_code):
    assert status == want_status, (status, body)
    err = json.loads(body)
    assert err["error"] == want_code, err
    assert err["request_id"] == headers["x-request-id"]
    return err


def test_permissions_by_method_and_role_map():
    alice = token(sub="alice", permissions=["orders:read"])
    admin = token(sub="root", realm_access={"roles": ["admin"]})
    scoped = token(sub="app", scope="openid orders:write")
    with Upstream() as up, Gateway(CONFIG, [up], workers=2) as gw:
        status, _, body = gw.request("GET", "/api/orders/1", headers=dict(auth(alice), **FORGED))
        assert status == 200, body
        h = upstream_headers(body)
        assert h["x-user-id"] == "alice"
        assert h["x-user-permissions"] == "orders:read"
        assert "x-user-roles" not in h, h  # the forged one is gone, alice has no roles

        before = up.stats()["requests"]
        status, headers, body = gw.request("POST", "/api/orders", body=b"{}",
                                           headers=auth(alice))
        err = error_of(status, headers, body, 403, "permission_denied")
        assert err["message"] == "missing permission orders:write", err
        assert err["details"] == {"missing_permissions": "orders:write"}, err
        assert up.stats()["requests"] == before  # never reached the upstream

        # The admin role expands to "*" through the role map (the roles sit in a nested claim).
        for method in ("GET", "POST"):
            status, _, body = gw.request(method, "/api/orders/1", headers=auth(admin),
                                         body=b"{}" if method == "POST" else None)
            assert status == 200, (method, body)
        h = upstream_headers(body)
        assert h["x-user-roles"] == "admin" and h["x-user-permissions"] == "*", h

        # `scope` words are permissions: orders:write but not orders:read.
        status, _, body = gw.request("POST", "/api/orders", headers=auth(scoped), body=b"{}")
        assert status == 200, body
        status, headers, body = gw.request("GET", "/api/orders/1", headers=auth(scoped))
        error_of(status, headers, body, 403, "permission_denied")

        # A method no rule covers.
        status, headers, body = gw.request("DELETE", "/api/orders/1", headers=auth(admin))
        error_of(status, headers, body, 403, "method_not_permitted")

        metrics = gw.admin("GET", "/metrics")[1].decode()
        assert "gateway_filter_authz_allowed_total 4" in metrics, metrics
        assert "gateway_filter_authz_denied_total 3" in metrics, metrics


def test_no_identity_is_401_with_challenge():
    with Upstream() as up, Gateway(CONFIG, [up]) as gw:
        # jwt_auth lets the anonymous request through (allow_missing); authz refuses it.
        status, headers, body = gw.request("GET", "/optional/1", headers=FORGED)
        err = error_of(status, headers, body, 401, "unauthenticated")
        assert headers["www-authenticate"] == 'Bearer realm="shop"', headers
        assert "authenticated caller" in err["message"], err
        # With a token the same route works.
        status, _, body = gw.request("GET", "/optional/1",
                                     headers=auth(token(permissions=["orders:read"])))
        assert status == 200, body
        assert up.stats()["requests"] == 1


def test_report_mode_passes_and_records_the_would_be_rejection():
    alice = token(sub="alice", permissions=["orders:read"])
    with Upstream() as up, Gateway(CONFIG, [up]) as gw:
        status, _, body = gw.request("POST", "/shadow/orders", headers=dict(auth(alice), **FORGED),
                                     body=b"{}")
        assert status == 200, body
        h = upstream_headers(body)
        assert h["x-user-id"] == "alice", h  # the user context still goes upstream
        assert h["x-user-permissions"] == "orders:read", h
        status, _, body = gw.request("GET", "/shadow/orders", headers=FORGED)  # no identity
        assert status == 200, body
        h = upstream_headers(body)
        assert "x-user-id" not in h and "x-user-permissions" not in h, h
        status, _, body = gw.request("GET", "/shadow/orders", headers=auth(alice))
        assert status == 200, body

        metrics = gw.admin("GET", "/metrics")[1].decode()
        assert ('gateway_filter_policy_report_only_total{filter="authz",route="shadow",'
                'reason="permission_denied"} 1') in metrics, metrics
        assert ('gateway_filter_policy_report_only_total{filter="authz",route="shadow",'
                'reason="unauthenticated"} 1') in metrics, metrics
        wait_for(lambda: len(gw.access_log()) >= 3, timeout=5, what="access log lines")
        states = [l.get("filter_state", {}) for l in gw.access_log()]
        assert states[0].get("report_only") == "authz:permission_denied", states
        assert states[0].get("authz") == ("denied: missing orders:write "
                                          "(permissions: orders:read)"), states
        assert states[1].get("report_only") == "authz:unauthenticated", states
        assert states[1].get("authz") == "denied: no identity", states
        assert states[2].get("authz") == "allowed (permissions: orders:read)", states
        assert "report_only" not in states[2], states


def test_validate_names_authz_field_paths():
    rc, out = validate_output("""
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /a}
            pre_filters: [{name: authz, config: {rules: [{any_of: ["orders:read", "ord*:x"]}]}}]
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /b}
            pre_filters:
              - {name: authz, config: {rules: [{}], roles: {support: ["users::read"]}}}
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /c}
            pre_filters: [{name: authz, config: {rules: [{}, {methods: [POST]}]}}]
            route_filter: {name: direct_response, config: {status: 200}}
""")
    assert rc == 2, out
    at = "listeners[0].virtual_hosts[0].routes[%d].pre_filters[0].config."
    for line in [
        at % 0 + "rules[0].any_of[1]: permission 'ord*:x': segment 1 ('ord*') may be '*' alone",
        at % 1 + "roles.support[0]: permission 'users::read': segment 2 is empty",
        at % 2 + "rules[1]: unreachable, rules[0] lists no methods",
    ]:
        assert line in out, (line, out)
