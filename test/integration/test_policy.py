"""Policies: `jwt_auth` (HS256 tokens made here with hmac/hashlib, RS256 signed with the openssl
CLI) and `local_ratelimit` (token buckets shared by every worker) on a real gatewayd; field
paths from --validate; a live config push that changes a policy."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import (Gateway, Upstream, free_port, one_listener_config, validate_output,
                     wait_for)
from test_live_config import FakeControlPlane, LiveGateway, get_once

SECRET = "integration-secret-0123456789"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, secret=SECRET, header=None, alg="HS256"):
    header = header or {"alg": alg, "typ": "JWT"}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    mac = hmac.new(secret.encode(), signing.encode(), digest.get(alg, hashlib.sha256)).digest()
    return signing + "." + b64url(mac)


def claims(**extra):
    now = int(time.time())
    c = {"sub": "alice", "iss": "https://issuer.test", "aud": ["api", "other"],
         "iat": now, "exp": now + 3600}
    c.update(extra)
    return c


POLICY_CONFIG = one_listener_config(head="""
version: policy-1
auth_providers:
  - name: main
    issuer: https://issuer.test
    audiences: [api]
    secret: "%s"
    claim_headers: {{sub: x-user-id, tier: x-user-tier}}
  - name: query
    secret: "%s"
    token_source: {{query_param: access_token}}
    require_exp: false
rate_limit_policies:
  - name: burst3
    requests_per_unit: 1
    unit: MINUTE
    burst: 3
    response_headers: true
  - name: per-tenant
    requests_per_unit: 1
    unit: HOUR
    burst: 2
    key_by: {{header: x-tenant}}
""", routes="""          - name: secure
            match: {{prefix: /secure}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: main}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: optional
            match: {{prefix: /optional}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: main, allow_missing: true}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: query
            match: {{prefix: /query}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: query}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
          - name: limited
            match: {{prefix: /limited}}
            pre_filters:
              - {{name: local_ratelimit, config: {{policy: burst3}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
            post_filters:
              - {{name: local_ratelimit, config: {{policy: burst3}}}}
          - name: tenant
            match: {{prefix: /tenant}}
            pre_filters:
              - {{name: local_ratelimit, config: {{policy: per-tenant}}}}
            route_filter: {{name: direct_response, config: {{status: 200, body: ok}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""") % (SECRET, SECRET)


def upstream_headers(body):
    return {k.lower(): v for k, v in json.loads(body)["headers"].items()}


def auth(token):
    return {"Authorization": "Bearer " + token}


def check_401(status, headers, body, code):
    assert status == 401, (status, body)
    err = json.loads(body)
    assert set(err) == {"error", "message", "status", "request_id"}, err
    assert err["error"] == code, err
    assert err["status"] == 401
    assert err["request_id"] == headers["x-request-id"]
    assert headers["www-authenticate"].startswith("Bearer"), headers


def test_valid_token_reaches_upstream_with_claim_headers_and_no_authorization():
    with Upstream() as up, Gateway(POLICY_CONFIG, [up], workers=2) as gw:
        token = hs256(claims(tier="gold"))
        # A forged identity from the client is removed before the verified one is set.
        status, _, body = gw.request("GET", "/secure/x", headers=dict(
            auth(token), **{"X-User-Id": "mallory", "x-user-tier": "platinum"}))
        assert status == 200, body
        h = upstream_headers(body)
        assert h["x-user-id"] == "alice", h
        assert h["x-user-tier"] == "gold", h
        assert "authorization" not in h, h
        before = up.stats()["requests"]
        # Forged header without a token: 401, nothing reaches the upstream.
        status, headers, body = gw.request("GET", "/secure/x", headers={"x-user-id": "alice"})
        check_401(status, headers, body, "jwt_missing")
        assert up.stats()["requests"] == before


def test_every_failure_is_a_typed_401():
    now = int(time.time())
    cases = [
        ({}, "jwt_missing"),
        (auth("not-a-jwt"), "jwt_malformed"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "jwt_malformed"),
        (auth(hs256(claims(), secret="wrong-secret")), "jwt_bad_signature"),
        (auth(hs256(claims(exp=now - 3600))), "jwt_expired"),
        (auth(hs256(claims(nbf=now + 3600))), "jwt_not_yet_valid"),
        (auth(hs256(claims(iss="https://evil.test"))), "jwt_bad_issuer"),
        (auth(hs256(claims(aud="somebody-else"))), "jwt_bad_audience"),
        (auth(hs256(claims(), alg="HS512")), "jwt_alg_not_allowed"),
        (auth(hs256({k: v for k, v in claims().items() if k != "exp"})), "jwt_missing_exp"),
    ]
    # alg "none": header says none, no signature.
    none = b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims()).encode()) + "."
    cases.append((auth(none), "jwt_alg_not_allowed"))
    with Upstream() as up, Gateway(POLICY_CONFIG, [up]) as gw:
        for headers, code in cases:
            status, rh, body = gw.request("GET", "/secure/x", headers=headers)
            check_401(status, rh, body, code)
            if code != "jwt_missing":
                assert 'error="invalid_token"' in rh["www-authenticate"], rh
        assert up.stats()["requests"] == 0


def test_allow_missing_and_query_param_tokens():
    with Upstream() as up, Gateway(POLICY_CONFIG, [up]) as gw:
        status, _, body = gw.request("GET", "/optional", headers={"x-user-id": "forged"})
        assert status == 200
        assert "x-user-id" not in upstream_headers(body)
        # allow_missing does not let an invalid token through.
        status, h, body = gw.request("GET", "/optional", headers=auth("a.b.c"))
        check_401(status, h, body, "jwt_malformed")
        token = hs256({"sub": "bob"})  # the query provider does not require exp
        status, _, body = gw.request("GET", "/query?access_token=" + token)
        assert status == 200, body
        status, h, body = gw.request("GET", "/query")
        check_401(status, h, body, "jwt_missing")


def test_cached_token_still_expires_on_time():
    # The same token on every request: after the first, each worker answers it from its token
    # cache, which must still check exp against the clock (clock_skew 0 here).
    config = one_listener_config(head="""auth_providers:
  - name: short
    secret: "%s"
    clock_skew: 0s
""" % SECRET, routes="""          - name: all
            match: {{prefix: /}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: short}}}}
            route_filter: {{name: direct_response, config: {{status: 200, body: ok}}}}
""")
    with Gateway(config, [], workers=1) as gw:
        exp = int(time.time()) + 3
        token = hs256({"sub": "dave", "exp": exp})
        for _ in range(20):
            status, _, body = gw.request("GET", "/x", headers=auth(token))
            assert status == 200, body
        while time.time() < exp + 0.2:
            time.sleep(0.1)
        status, headers, body = gw.request("GET", "/x", headers=auth(token))
        check_401(status, headers, body, "jwt_expired")


def test_rs256_token_signed_with_openssl():
    # tools/setup installs the openssl CLI: a missing one is a setup defect, not a skip.
    assert shutil.which("openssl"), "openssl CLI missing (tools/setup installs it)"
    d = tempfile.mkdtemp(prefix="gw-rs256-")
    key, pub = os.path.join(d, "key.pem"), os.path.join(d, "pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    signing = (b64url(b'{"alg":"RS256","typ":"JWT"}') + "." +
               b64url(json.dumps({"sub": "carol", "exp": int(time.time()) + 600}).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         check=True, capture_output=True).stdout
    token = signing + "." + b64url(sig)
    with open(pub) as f:
        pem = f.read()
    config = one_listener_config(head="""auth_providers:
  - name: rsa
    public_key_pem: |
%s
    claim_headers: {{sub: x-user-id}}
""" % "\n".join("      " + l for l in pem.strip().splitlines()), routes="""          - name: secure
            match: {{prefix: /}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: rsa}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
""", tail="""clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
""")
    with Upstream() as up, Gateway(config, [up]) as gw:
        status, _, body = gw.request("GET", "/x", headers=auth(token))
        assert status == 200, body
        assert upstream_headers(body)["x-user-id"] == "carol"
        # Alg confusion: an HS256 token whose "secret" is the public key PEM.
        forged = hs256({"sub": "carol", "exp": int(time.time()) + 600}, secret=pem)
        status, h, body = gw.request("GET", "/x", headers=auth(forged))
        check_401(status, h, body, "jwt_alg_not_allowed")
        # A flipped signature byte.
        bad = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
        status, h, body = gw.request("GET", "/x", headers=auth(bad))
        check_401(status, h, body, "jwt_bad_signature")


def test_rate_limit_after_burst_with_retry_after_across_workers():
    with Upstream() as up, Gateway(POLICY_CONFIG, [up], workers=2) as gw:
        results = [gw.request("GET", "/limited") for _ in range(5)]
        statuses = [r[0] for r in results]
        # One bucket for the whole proxy (fresh connections land on both workers): 3 pass.
        assert statuses == [200, 200, 200, 429, 429], statuses
        assert results[0][1]["x-ratelimit-limit"] == "3"
        assert results[2][1]["x-ratelimit-remaining"] == "0"
        status, headers, body = results[3]
        err = json.loads(body)
        assert err["error"] == "rate_limited" and err["status"] == 429, err
        assert err["request_id"] == headers["x-request-id"]
        assert 1 <= int(headers["retry-after"]) <= 60, headers
        assert headers["x-ratelimit-remaining"] == "0"
        assert up.stats()["requests"] == 3


def test_rate_limit_keyed_by_header_separates_keys():
    with Upstream() as up, Gateway(POLICY_CONFIG, [up]) as gw:
        def go(tenant):
            return gw.request("GET", "/tenant", headers={"x-tenant": tenant})[0]
        assert [go("a"), go("a"), go("a")] == [200, 200, 429]
        assert [go("b"), go("b"), go("b")] == [200, 200, 429]
        assert go("a") == 429


def test_secrets_are_redacted_in_config_dump():
    with Upstream() as up, Gateway(POLICY_CONFIG, [up]) as gw:
        status, body = gw.admin("GET", "/config_dump")
        assert status == 200
        assert SECRET.encode() not in body
        dump = json.loads(body)
        assert dump["config"]["auth_providers"][0]["secret"] == "<redacted>"


def test_validate_names_field_paths():
    rc, out = validate_output("""
auth_providers:
  - name: a
    public_key_pem: "not a key"
  - name: b
    secret: s
    algorithms: [HS256, none]
  - name: b
rate_limit_policies:
  - name: zero
listeners:
  - name: main
    address: "127.0.0.1:0"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {prefix: /a}
            pre_filters: [{name: local_ratelimit, config: {policy: zero}}]
            route_filter: {name: direct_response, config: {status: 200}}
          - match: {prefix: /}
            pre_filters: [{name: jwt_auth, config: {provider: x}}]
            route_filter: {name: direct_response, config: {status: 200}}
""")
    assert rc == 2, out
    for line in [
        "auth_providers[0].public_key_pem: not a PEM public key",
        "auth_providers[1].algorithms[1]: unknown algorithm 'none'",
        "auth_providers[2].name: duplicate auth provider name 'b'",
        "auth_providers[2].secret: key material required",
        "rate_limit_policies[0].requests_per_unit: a rate is required",
        "listeners[0].virtual_hosts[0].routes[1].pre_filters[0].config.provider: "
        "unknown auth provider 'x'",
    ]:
        assert line in out, (line, out)


def write_json(d, name, cfg):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def test_live_push_changes_a_policy():
    d = tempfile.mkdtemp(prefix="gw-pol-live-")
    port = free_port()

    def config(burst, secret):
        return {
            "auth_providers": [{"name": "main", "secret": secret}],
            "rate_limit_policies": [{"name": "rl", "requests_per_unit": 1, "unit": "HOUR",
                                     "burst": burst}],
            "listeners": [{"name": "main", "address": "127.0.0.1:%d" % port, "virtual_hosts": [{
                "name": "all", "domains": ["*"], "routes": [{
                    "name": "r", "match": {"prefix": "/"},
                    "pre_filters": [{"name": "jwt_auth", "config": {"provider": "main"}},
                                    {"name": "local_ratelimit", "config": {"policy": "rl"}}],
                    "route_filter": {"name": "direct_response",
                                     "config": {"status": 200, "body": "ok"}}}]}]}]}

    def get(path, token):
        from harness import RawClient
        with RawClient(port) as c:
            c.send(("GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n"
                    % (path, token)).encode())
            return c.read_response()

    t1 = hs256({"sub": "a", "exp": int(time.time()) + 600}, secret="one")
    t2 = hs256({"sub": "a", "exp": int(time.time()) + 600}, secret="two")
    with FakeControlPlane() as cp, LiveGateway(cp) as gw:
        cp.expect(r"^connected node=node-1 ")
        assert cp.push("v1", write_json(d, "v1.json", config(2, "one"))).startswith("ack ")
        wait_for(lambda: get("/", t1).status in (200, 429), what="v1 serving")
        # v1's bucket of 2 was used once by the wait above.
        assert get("/", t1).status == 200
        assert get("/", t1).status == 429
        # Same policy, another provider secret: the unchanged bucket keeps its state.
        assert cp.push("v2", write_json(d, "v2.json", config(2, "two"))).startswith("ack ")
        assert get("/", t1).status == 401  # the old secret is gone
        assert get("/", t2).status == 429  # bucket carried over
        # A changed policy starts with a new bucket.
        assert cp.push("v3", write_json(d, "v3.json", config(5, "two"))).startswith("ack ")
        assert [get("/", t2).status for _ in range(6)] == [200] * 5 + [429]
        # A bad policy is NACKed with its field path; v3 keeps serving.
        bad = config(5, "two")
        bad["rate_limit_policies"][0]["requests_per_unit"] = 0
        line = cp.push("v4", write_json(d, "v4.json", bad))
        assert line.startswith("nack ") and "rate_limit_policies[0]" in line, line
        assert get("/", t2).status == 429


def test_gatewayctl_explain_shows_policy_decisions_without_taking_tokens():
    from harness import GATEWAYCTL
    with Upstream() as up, Gateway(POLICY_CONFIG, [up]) as gw:
        def explain(path, *headers):
            args = [GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port, "proxy", "explain",
                    "GET", "http://api.test" + path]
            for h in headers:
                args += ["-H", h]
            p = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return p.stdout + p.stderr
        out = explain("/secure/x")
        assert "401 jwt_missing: no token in the authorization header" in out, out
        out = explain("/secure/x", "Authorization: Bearer " + hs256(claims()))
        assert "token valid for sub=alice (not expiring for" in out, out
        assert "sets x-user-id: alice" in out, out
        out = explain("/secure/x", "Authorization: Bearer " + hs256(claims(), secret="nope"))
        assert "401 jwt_bad_signature" in out, out
        for _ in range(5):
            out = explain("/limited")
            assert "policy 'burst3' (1 per 60s, burst 3), one bucket: would allow (3 tokens" in out, out
        # The proxy admin's config view redacts secrets too.
        p = subprocess.run([GATEWAYCTL, "--proxy", "127.0.0.1:%d" % gw.grpc_port, "proxy",
                            "config", "-o", "yaml"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "<redacted>" in p.stdout and SECRET not in p.stdout, p.stdout
        # Explaining took nothing: the burst is intact.
        assert [gw.request("GET", "/limited")[0] for _ in range(4)] == [200, 200, 200, 429]
