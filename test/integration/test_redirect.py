"""The `redirect` route filter: a plain-HTTP listener sending clients to the HTTPS listener of the
same gateway (curl follows it and arrives over TLS), with the query kept, the method-keeping 308,
and a bad config refused with the field named."""
import json

from harness import Gateway, Upstream, curl, free_port, validate_output, validation_config
from test_tls import pki


def config(p, tls_port):
    return """secrets:
  - name: localhost
    certificate_chain: {{file: %s}}
    private_key: {{file: %s}}
listeners:
  - name: plain
    address: "{listen}"
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: health
            match: {{path: /healthz}}
            route_filter: {{name: direct_response, config: {{body: "ok\\n"}}}}
          - name: keep-method
            match: {{prefix: /upload}}
            route_filter: {{name: redirect, config: {{port: %d, status: 308}}}}
          - name: to-https
            match: {{prefix: /}}
            route_filter: {{name: redirect, config: {{port: %d}}}}
  - name: secure
    address: "127.0.0.1:%d"
    tls:
      certificates: [{{secret: localhost}}]
    virtual_hosts:
      - domains: ["*"]
        routes:
          - name: api
            match: {{prefix: /}}
            route_filter: {{name: router, config: {{cluster: svc}}}}
clusters:
  - name: svc
    endpoints: [{{address: "{up0}"}}]
""" % (p.default[0], p.default[1], tls_port, tls_port, tls_port)


def test_plain_http_redirects_to_https_and_curl_follows():
    p = pki()
    tls_port = free_port()
    with Upstream("svc") as up, Gateway(config(p, tls_port), [up]) as gw:
        r = curl(["-i", "-H", "Host: localhost", "http://127.0.0.1:%d/api/users/1?a=1&b=2" % gw.port])
        head = r.stdout.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 301"), head
        assert ("\r\nlocation: https://localhost:%d/api/users/1?a=1&b=2" % tls_port) in head.lower(), head
        assert "x-request-id" in head.lower(), head
        # Other routes of the plain listener still answer themselves.
        r = curl(["http://127.0.0.1:%d/healthz" % gw.port])
        assert r.stdout == b"ok\n", r.stdout
        # curl follows to the TLS listener, which proxies.
        resolve = ["--resolve", "localhost:%d:127.0.0.1" % gw.port,
                   "--resolve", "localhost:%d:127.0.0.1" % tls_port, "--cacert", p.ca]
        r = curl(["-L", "-w", "\n%{http_code} %{num_redirects} %{url_effective}"] + resolve +
                 ["http://localhost:%d/api/users/1?x=y" % gw.port])
        body, tail = r.stdout.rsplit(b"\n", 1)
        assert tail.decode() == "200 1 https://localhost:%d/api/users/1?x=y" % tls_port, r
        echoed = json.loads(body)
        assert echoed["path"] == "/api/users/1" and echoed["query"] == "x=y", echoed
        assert echoed["headers"]["x-forwarded-proto"] == "https", echoed
        # 308 keeps the method and body: curl re-sends the POST to HTTPS.
        r = curl(["-L", "-d", "payload", "-w", "\n%{http_code}"] + resolve +
                 ["http://localhost:%d/upload" % gw.port])
        body, code = r.stdout.rsplit(b"\n", 1)
        assert code == b"200", r
        echoed = json.loads(body)
        assert echoed["method"] == "POST" and echoed["body_bytes"] == 7, echoed


def test_bad_redirect_config_is_refused_with_the_field():
    def base(config):
        return validation_config("{name: redirect, config: %s}" % config)
    rc, out = validate_output(base('{host: "evil.com/x"}'))
    assert rc != 0 and "route_filter.config.host: must be a host name" in out, out
    rc, out = validate_output(base("{status: 200}"))
    assert rc != 0 and "route_filter.config.status: must be 301, 302, 303, 307 or 308" in out, out
    rc, out = validate_output(base("{port: 8443}"))
    assert rc == 0, out
