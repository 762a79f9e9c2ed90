"""`oauth2_introspection` on a real gatewayd, with a demo_upstream as the introspection endpoint
(POST /oauth2/introspect, basic auth demo-gateway:demo-secret, fixed demo tokens) and another as
the protected backend: active + scope -> 200 with the identity headers upstream, inactive -> 401,
other scopes -> 403 insufficient_scope, a hanging endpoint -> 503 within the timeout, fail-open,
the worker cache saving the second call, a wrong client secret -> 503, a client gone mid-call
cancelling it, and authz using the introspected scope words as permissions."""
import http.client
import json
import os
import socket
import time

from harness import Gateway, Upstream, one_listener_config, wait_for

SECRET_ENV = {"GW_IT_OAUTH2_SECRET": "demo-secret", "GW_IT_OAUTH2_BAD_SECRET": "wrong"}

FILTER = """name: oauth2_introspection
                config:
                  cluster: idp
                  path: /oauth2/introspect
                  client_id: demo-gateway
                  client_secret_env: {secret}
                  required_scopes: [payments]
                  timeout_ms: 300
                  {extra}
                  claim_headers:
                    - {{claim: sub, header: x-user-id}}
                    - {{claim: client_id, header: x-client-id}}"""


def route(name, prefix, secret="GW_IT_OAUTH2_SECRET", extra=""):
    f = FILTER.format(secret=secret, extra=extra or "failure_mode: deny")
    return """          - name: %s
            match: {{prefix: %s}}
            pre_filters:
              - %s
            route_filter: {{name: router, config: {{cluster: backend}}}}
""" % (name, prefix, f.replace("{", "{{").replace("}", "}}"))


AUTHZ_ROUTE = """          - name: authz
            match: {{prefix: /authz}}
            pre_filters:
              - %s
              - {{name: authz, config: {{rules: [{{any_of: ["payments"]}}]}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
""" % FILTER.replace("required_scopes: [payments]", "required_scopes: []").format(
    secret="GW_IT_OAUTH2_SECRET", extra="failure_mode: deny").replace("{", "{{").replace("}", "}}")

CONFIG = one_listener_config(
    routes=route("pay", "/pay") + AUTHZ_ROUTE + route("open", "/open", extra="failure_mode: allow") +
    route("badsecret", "/badsecret", secret="GW_IT_OAUTH2_BAD_SECRET"),
    tail="""clusters:
  - name: backend
    endpoints: [{address: "{up0}"}]
  - name: idp
    endpoints: [{address: "{up1}"}]
""".replace("{", "{{").replace("}", "}}").replace("{{up0}}", "{up0}").replace("{{up1}}", "{up1}"))


def env():
    e = dict(os.environ)
    e.update(SECRET_ENV)
    return e


def bearer(t):
    return {"Authorization": "Bearer " + t}


def calls(idp):
    c = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=5)
    c.request("GET", "/oauth2/introspect")
    n = json.loads(c.getresponse().read())["calls"]
    c.close()
    return n


def error(status, headers, body, want_status, want_code):
    assert status == want_status, (status, body)
    err = json.loads(body)
    assert err["error"] == want_code, err
    assert err["request_id"] == headers["x-request-id"]
    return err


def metric(gw, name):
    _, body = gw.admin("GET", "/metrics")
    total = 0
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_active_inactive_scope_and_identity_headers():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        headers = dict(bearer("demo-active-payments"), **{"X-User-Id": "mallory"})
        status, _, body = gw.request("GET", "/pay/1", headers=headers)
        assert status == 200, body
        up = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
        assert up["x-user-id"] == "alice", up  # the forged copy is gone
        assert up["x-client-id"] == "demo-app"
        assert "authorization" not in up, up  # the token does not reach the backend

        status, headers, body = gw.request("GET", "/pay/1", headers=bearer("demo-inactive"))
        error(status, headers, body, 401, "oauth2_token_inactive")
        assert headers["www-authenticate"] == 'Bearer error="invalid_token"'

        status, headers, body = gw.request("GET", "/pay/1", headers=bearer("demo-active-orders"))
        err = error(status, headers, body, 403, "oauth2_insufficient_scope")
        assert headers["www-authenticate"] == \
            'Bearer error="insufficient_scope", scope="payments"', headers
        assert err["details"]["missing_scope"] == "payments", err

        status, headers, body = gw.request("GET", "/pay/1")
        error(status, headers, body, 401, "oauth2_token_missing")
        assert headers["www-authenticate"] == "Bearer"
        status, headers, body = gw.request("GET", "/pay/1", headers={"Authorization": "Basic x"})
        error(status, headers, body, 401, "oauth2_token_malformed")
        assert backend.stats()["requests"] == 1  # only the allowed request got through


def test_cache_hit_avoids_a_second_call():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        for _ in range(3):
            status, _, body = gw.request("GET", "/pay/x", headers=bearer("demo-active-payments"))
            assert status == 200, body
        assert calls(idp) == 1
        assert metric(gw, "gateway_filter_oauth2_introspection_cache_hits_total") == 2
        assert metric(gw, "gateway_filter_oauth2_introspection_active_total") == 3
        # Negative results are cached too (default 5 s).
        for _ in range(2):
            status, _, _ = gw.request("GET", "/pay/x", headers=bearer("demo-inactive"))
            assert status == 401
        assert calls(idp) == 2


def test_hanging_endpoint_is_503_within_the_timeout_and_fail_open_allows():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        t0 = time.monotonic()
        status, headers, body = gw.request("GET", "/pay/1", headers=bearer("demo-hang"))
        elapsed = time.monotonic() - t0
        error(status, headers, body, 503, "introspection_unavailable")
        assert 0.25 <= elapsed < 1.5, elapsed  # timeout_ms: 300
        assert b"demo-secret" not in body

        t0 = time.monotonic()
        status, _, body = gw.request("GET", "/open/1", headers=bearer("demo-hang"))
        assert status == 200, body
        assert time.monotonic() - t0 < 1.5
        up = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
        assert "x-user-id" not in up, up  # no identity when failing open

        for tok in ("demo-error", "demo-notjson"):
            status, headers, body = gw.request("GET", "/pay/1", headers=bearer(tok))
            error(status, headers, body, 503, "introspection_unavailable")
        assert metric(gw, "gateway_filter_oauth2_introspection_errors_total") == 4
        assert metric(gw, "gateway_filter_oauth2_introspection_fail_open_total") == 1
        assert "demo-secret" not in gw.stderr()


def test_wrong_client_secret_is_503_not_a_user_error():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        status, headers, body = gw.request("GET", "/badsecret/1",
                                           headers=bearer("demo-active-payments"))
        error(status, headers, body, 503, "introspection_unavailable")
        assert b"wrong" not in body
        _, dump = gw.admin("GET", "/config_dump")
        assert b"demo-secret" not in dump and b"GW_IT_OAUTH2_SECRET" in dump


def test_authz_uses_the_introspected_identity():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        status, _, body = gw.request("GET", "/authz/1", headers=bearer("demo-active-payments"))
        assert status == 200, body
        status, headers, body = gw.request("GET", "/authz/1", headers=bearer("demo-active-orders"))
        assert status == 403, body  # authz: the scope words are the permissions; no "payments"
        assert json.loads(body)["error"] == "permission_denied", body


def test_client_gone_cancels_the_call_in_flight():
    with Upstream() as backend, Upstream(service="idp") as idp, \
            Gateway(CONFIG, [backend, idp], env=env()) as gw:
        s = socket.create_connection(("127.0.0.1", gw.port), 3)
        s.sendall(b"GET /pay/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-hang\r\n\r\n")
        wait_for(lambda: calls(idp) == 1, what="introspection call made")
        s.close()
        wait_for(lambda: metric(gw, "gateway_filter_oauth2_introspection_cancelled_total") == 1,
                 what="call cancelled")
        assert metric(gw, "gateway_filter_oauth2_introspection_errors_total") == 0
