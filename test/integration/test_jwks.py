"""`jwt_auth` with `remote_jwks` on a real gatewayd: the key set is fetched from the demo upstream
(--jwks-dir: GET /.well-known/jwks.json serves the file the test writes) through a cluster.
RS256 / ES256 / EdDSA tokens are signed here with keys made by python3-cryptography. Covers the
first fetch (the first request waits for it), kid rotation (an unknown kid refetches at once
and the request waits: no failed request; old tokens keep working while their key is served), an IdP that is down (the last good
keys stay, /metrics counts the failures, the log says why), tampered tokens and alg confusion."""
import base64
import json
import os
import tempfile
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from harness import Gateway, Upstream, one_listener_config, wait_for
from test_policy import auth, hs256, upstream_headers

CONFIG = one_listener_config(head="""
version: jwks-1
auth_providers:
  - name: idp
    algorithms: [RS256, ES256, EdDSA]
    claim_headers: {{sub: x-user-id}}
    remote_jwks:
      cluster: idp
      refresh_interval: 2s
      min_refresh_interval: 0.5s
      timeout: 2s
""", routes="""          - name: api
            match: {{prefix: /api}}
            pre_filters:
              - {{name: jwt_auth, config: {{provider: idp}}}}
            route_filter: {{name: router, config: {{cluster: backend}}}}
clusters:
  - name: backend
    endpoints: [{{address: "{up0}"}}]
  - name: idp
    endpoints: [{{address: "{up1}"}}]
""")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n, length=None):
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


class Key:
    def __init__(self, kind, kid):
        self.kind, self.kid = kind, kid
        if kind == "RS256":
            self.priv = rsa.generate_private_key(65537, 2048)
        elif kind == "ES256":
            self.priv = ec.generate_private_key(ec.SECP256R1())
        else:
            self.priv = ed25519.Ed25519PrivateKey.generate()

    def jwk(self):
        pub = self.priv.public_key()
        if self.kind == "RS256":
            n = pub.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "n": b64url(uint(n.n)),
                    "e": b64url(uint(n.e))}
        if self.kind == "ES256":
            n = pub.public_numbers()
            return {"kty": "EC", "crv": "P-256", "kid": self.kid, "x": b64url(uint(n.x, 32)),
                    "y": b64url(uint(n.y, 32))}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "x": b64url(raw)}

    def token(self, sub="alice", kid=None):
        header = {"alg": self.kind, "typ": "JWT", "kid": kid or self.kid}
        body = {"sub": sub, "exp": int(time.time()) + 600}
        signing = (b64url(json.dumps(header).encode()) + "." +
                   b64url(json.dumps(body).encode())).encode()
        if self.kind == "RS256":
            sig = self.priv.sign(signing, padding.PKCS1v15(), hashes.SHA256())
        elif self.kind == "ES256":
            r, s = decode_dss_signature(self.priv.sign(signing, ec.ECDSA(hashes.SHA256())))
            sig = uint(r, 32) + uint(s, 32)
        else:
            sig = self.priv.sign(signing)
        return signing.decode() + "." + b64url(sig)


def serve(jwks_dir, *keys):
    tmp = os.path.join(jwks_dir, "jwks.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"keys": [k.jwk() for k in keys]}, f)
    os.replace(tmp, os.path.join(jwks_dir, "jwks.json"))


def metric(gw, name):
    for line in gw.admin("GET", "/metrics")[1].decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def get(gw, token):
    status, _, body = gw.request("GET", "/api/x", headers=auth(token))
    return status, body


def test_jwks_fetch_rotation_and_idp_down():
    jwks_dir = tempfile.mkdtemp(prefix="gw-jwks-")
    a, b = Key("RS256", "a"), Key("RS256", "b")
    e, d = Key("ES256", "e"), Key("EdDSA", "d")
    serve(jwks_dir, a, e, d)
    with Upstream("backend") as backend, \
            Upstream("idp", args=["--jwks-dir", jwks_dir]) as idp, \
            Gateway(CONFIG, upstreams=[backend, idp]) as gw:
        # The first request starts the fetch and waits for it (one worker): 200 at once.
        status, body = get(gw, a.token())
        assert status == 200, (status, body)
        status, body = get(gw, a.token(sub="bob"))
        assert status == 200, body
        assert upstream_headers(body)["x-user-id"] == "bob"
        assert get(gw, e.token())[0] == 200
        assert get(gw, d.token())[0] == 200
        assert metric(gw, "gateway_filter_jwt_auth_jwks_fetch_ok_total") >= 1

        # Tampered payload, a key the IdP does not serve, HS256 with the JWK as secret, alg none.
        t = a.token()
        h, p, s = t.split(".")
        forged = h + "." + b64url(json.dumps({"sub": "admin", "exp": 9999999999}).encode()) + \
            "." + s
        status, body = get(gw, forged)
        assert (status, json.loads(body)["error"]) == (401, "jwt_bad_signature"), body
        status, body = get(gw, Key("RS256", "a").token())
        assert (status, json.loads(body)["error"]) == (401, "jwt_bad_signature"), body
        confused = hs256({"sub": "x", "exp": 9999999999}, secret=json.dumps(a.jwk()),
                         header={"alg": "HS256", "kid": "a"})
        status, body = get(gw, confused)
        assert (status, json.loads(body)["error"]) == (401, "jwt_alg_not_allowed"), body
        none = b64url(b'{"alg":"none","kid":"a"}') + "." + b64url(b'{"sub":"x"}') + "."
        assert get(gw, none)[0] == 401

        # Rotation: the IdP publishes b next to a; the first token with kid b triggers a
        # refetch and waits for it: no failed request (past min_refresh_interval, 0.5 s).
        serve(jwks_dir, a, b, e, d)
        time.sleep(0.6)
        status, body = get(gw, b.token())
        assert status == 200, body
        assert get(gw, a.token())[0] == 200  # the old key is still served: old tokens pass
        # The IdP drops a: after the refresh, tokens signed with a stop verifying.
        serve(jwks_dir, b, e, d)
        wait_for(lambda: get(gw, a.token())[0] == 401, timeout=6, what="key a dropped")
        status, body = get(gw, a.token())
        assert json.loads(body)["error"] == "jwt_unknown_kid", body
        assert get(gw, b.token())[0] == 200

        # The IdP goes down: fetches fail, the last good keys stay, /metrics and the log say so.
        failed_before = metric(gw, "gateway_filter_jwt_auth_jwks_fetch_failed_total")
        with open(os.path.join(jwks_dir, "fail"), "w") as f:
            f.write("503")

        def failed_more():
            get(gw, b.token())  # requests drive the refresh
            return metric(gw, "gateway_filter_jwt_auth_jwks_fetch_failed_total") > failed_before
        wait_for(failed_more, timeout=8, interval=0.2, what="a failed JWKS fetch counted")
        for _ in range(5):
            assert get(gw, b.token())[0] == 200
            assert get(gw, d.token())[0] == 200
        # Random kids while the IdP is down: 401 each, and the refetches stay rate-limited.
        before = idp.stats()["requests"]
        t0 = time.time()
        for i in range(30):
            assert get(gw, b.token(kid="random-%d" % i))[0] == 401
        # At most one fetch per min_refresh_interval (0.5 s), plus one at the start.
        assert idp.stats()["requests"] - before <= int((time.time() - t0) / 0.5) + 1
        assert "JWKS fetch from cluster 'idp' /.well-known/jwks.json failed (status 503)" in \
            gw.stderr()
        # Back up: the next fetch succeeds again.
        os.remove(os.path.join(jwks_dir, "fail"))
        ok_before = metric(gw, "gateway_filter_jwt_auth_jwks_fetch_ok_total")

        def ok_more():
            get(gw, b.token())
            return metric(gw, "gateway_filter_jwt_auth_jwks_fetch_ok_total") > ok_before
        wait_for(ok_more, timeout=8, interval=0.2, what="JWKS fetch ok again")
