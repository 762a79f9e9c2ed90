#!/usr/bin/env python3
"""Prints the demo's credentials as ready-to-paste shell lines (tools/demo runs it):
  export DEMO_TOKEN_ALICE=...   a customer whose token grants orders:read
  export DEMO_TOKEN_ADMIN=...   role admin (the demo's role map grants it "*")
  export DEMO_API_KEY=...       the partner key on plan demo-basic (5 req/s, 1,000 a day)
  export DEMO_OAUTH_TOKEN=...   an access token the demo IdP introspects as active, scope payments
HS256 tokens signed with the demo auth provider's secret (source/exe/example_config.cc), issued
by https://idp.demo.local and valid for 24 hours."""
import base64
import hashlib
import hmac
import json
import time

DEMO_SECRET = b"demo-jwt-secret-not-for-production"
# Public on purpose: the example config holds its SHA-256 (api_keys[0]).
DEMO_API_KEY = "demo-partner-key-4f7c2a9e1b"
ISSUER = "https://idp.demo.local"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(DEMO_SECRET, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def token(sub, **claims):
    now = int(time.time())
    c = {"sub": sub, "iss": ISSUER, "iat": now, "exp": now + 24 * 3600}
    c.update(claims)
    return hs256(c)


def main():
    print("export DEMO_TOKEN_ALICE=" + token("alice", roles=["customer"],
                                             permissions=["orders:read"]))
    print("export DEMO_TOKEN_ADMIN=" + token("admin", roles=["admin"]))
    print("export DEMO_API_KEY=" + DEMO_API_KEY)
    # An opaque token the demo IdP (demo_upstream's /oauth2/introspect) knows.
    print("export DEMO_OAUTH_TOKEN=demo-active-payments")


if __name__ == "__main__":
    main()
