"""json_transform end to end: a real gatewayd, the demo upstream (which reports the SHA-256 of
the body it received) and a small echo upstream (which answers with the body it was sent, as JSON,
text or chunked, so the response side sees any document). Driven by curl and http.client."""
import hashlib
import http.server
import json
import subprocess
import threading

from harness import Gateway, Upstream, curl, one_listener_config

CONFIG = one_listener_config(head="version: jt-1\n", routes="""          - name: req
            match: {{path_template: "/req/{{id}}"}}
            pre_filters:
              - name: json_transform
                config:
                  path_template: "/req/{{id}}"
                  max_body_bytes: 4096
                  request:
                    - {{op: rename, path: user_name, to: userName}}
                    - {{op: rename, path: "items[*].price_cents", to: price}}
                    - {{op: set, path: meta.id, template: "{{path.id}}"}}
                    - {{op: set, path: meta.tenant, template: "{{header.x-tenant}}"}}
                    - {{op: move, path: street, to: address.street}}
                    - {{op: remove, path: secret}}
            route_filter: {{name: router, config: {{cluster: demo}}}}
          - name: profile
            match: {{prefix: /profile/}}
            pre_filters:
              - name: json_transform
                config:
                  response:
                    - {{op: rename, path: instance, to: served_by}}
                    - {{op: remove, path: headers}}
            route_filter: {{name: router, config: {{cluster: demo}}}}
          - name: echo
            match: {{prefix: /echo/}}
            pre_filters:
              - name: json_transform
                config:
                  max_body_bytes: 65536
                  response:
                    - {{op: rename, path: "items[*].price_cents", to: price}}
                    - {{op: move, path: "items[*].meta.sku", to: "items[*].sku"}}
                    - {{op: remove, path: internal}}
                    - {{op: add, path: api, value_json: '{{"v":2}}'}}
            route_filter: {{name: router, config: {{cluster: echo}}}}
          - name: strict
            match: {{prefix: /strict/}}
            route_filter: {{name: router, config: {{cluster: echo}}}}
            post_filters:
              - name: json_transform
                config:
                  on_invalid_response: reject
                  response: [{{op: remove, path: internal}}]
clusters:
  - name: demo
    endpoints: [{{address: "{up0}"}}]
  - name: echo
    endpoints: [{{address: "{up1}"}}]
""")


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the request body: Content-Type from X-Reply-Type (application/json by
    default), chunked in 3 pieces with X-Reply-Chunked: 1."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("X-Reply-Type", "application/json"))
        if self.headers.get("X-Reply-Chunked") == "1":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            third = max(1, len(body) // 3)
            for piece in (body[:third], body[third:2 * third], body[2 * third:]):
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class EchoUpstream:
    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def gateway(up, echo):
    return Gateway(CONFIG, [up, echo])


def sha(b):
    return hashlib.sha256(b).hexdigest()


REQUEST_IN = (b'{"user_name": "ada", "id": 18446744073709551615, "street": "1 Main St",'
              b' "items": [{"price_cents": 1999, "qty": 0.1000000000000000055511151231257827},'
              b' {"price_cents": -9223372036854775808}], "secret": "x", "note": "caf\\u00e9"}')
REQUEST_OUT = ('{"userName":"ada","id":18446744073709551615,'
               '"items":[{"price":1999,"qty":0.1000000000000000055511151231257827},'
               '{"price":-9223372036854775808}],"note":"caf\u00e9",'
               '"meta":{"id":"7","tenant":"acme"},"address":{"street":"1 Main St"}}').encode()


def test_request_transform_reaches_the_upstream_exactly():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        # Content-Length and chunked request bodies alike; numbers keep their text.
        for chunked in (False, True):
            args = ["-X", "POST", "http://127.0.0.1:%d/req/7" % gw.port, "-H",
                    "content-type: application/json", "-H", "x-tenant: acme",
                    "--data-binary", "@-"]
            if chunked:
                args += ["-H", "transfer-encoding: chunked"]
            p = subprocess.run(
                ["curl", "-sS", "--max-time", "10"] + args + ["-w", "\n%{http_code}"],
                input=REQUEST_IN, capture_output=True, timeout=20)
            out, code = p.stdout.rsplit(b"\n", 1)
            assert code == b"200", (chunked, p.stdout, p.stderr)
            got = json.loads(out)
            assert got["body_sha256"] == sha(REQUEST_OUT), (chunked, got)
            assert got["body_bytes"] == len(REQUEST_OUT), got
            # The upstream was told the new length (re-framed from chunked).
            assert got["headers"].get("content-length") == str(len(REQUEST_OUT)), got["headers"]
            assert "transfer-encoding" not in got["headers"], got["headers"]


def test_request_without_the_template_sources_skips_those_operations():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        status, _, body = gw.request("POST", "/req/9", body=b'{"a":1}',
                                     headers={"Content-Type": "application/json"})
        assert status == 200, body
        assert json.loads(body)["body_sha256"] == sha(b'{"a":1,"meta":{"id":"9"}}'), body


def test_invalid_json_request_gets_400_and_never_reaches_the_upstream():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        for bad in (b'{"user_name": ', b'{"a":1} trailing', b'\xff\xfe', b'[' * 3000):
            status, headers, body = gw.request("POST", "/req/1", body=bad,
                                               headers={"Content-Type": "application/json"})
            assert status == 400, (bad[:20], body)
            err = json.loads(body)
            assert err["error"] == "invalid_json", err
            assert err["request_id"] == headers["x-request-id"], err
            assert err["message"].startswith("request body is not valid JSON: invalid JSON at byte"), err
        assert up.stats()["requests"] == 0
        _, metrics = gw.admin("GET", "/metrics")
        assert b"gateway_filter_json_transform_invalid_request_total 4" in metrics


def test_non_json_and_empty_request_bodies_pass_untouched():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        raw = b'{"user_name": "not touched"}'
        for ct in ("text/plain", "application/x-www-form-urlencoded"):
            status, _, body = gw.request("POST", "/req/1", body=raw, headers={"Content-Type": ct})
            assert status == 200, body
            assert json.loads(body)["body_sha256"] == sha(raw), ct
        status, _, body = gw.request("GET", "/req/1", headers={"Content-Type": "application/json"})
        assert status == 200 and json.loads(body)["body_bytes"] == 0, body


def test_request_over_max_body_bytes_gets_413():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        big = b'{"pad":"' + b"x" * 5000 + b'"}'
        status, _, body = gw.request("POST", "/req/1", body=big,
                                     headers={"Content-Type": "application/json"})
        assert status == 413, body
        assert json.loads(body)["error"] == "payload_too_large"
        assert up.stats()["requests"] == 0


def test_response_transform_renames_and_removes():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        p = curl(["-i", "http://127.0.0.1:%d/profile/1" % gw.port])
        head, body = p.stdout.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"content-length: %d" % len(body) in head.lower(), head
        got = json.loads(body)
        assert got["served_by"] == up.instance and "instance" not in got and "headers" not in got
        assert list(got)[:4] == ["service", "served_by", "method", "path"], list(got)


RESPONSE_IN = (b'{"internal": {"cost": 12}, "id": 9007199254740993, "items": ['
               b'{"price_cents": 100, "meta": {"sku": "A-1", "w": 1.50}}, '
               b'{"price_cents": 2.5e3, "meta": {}}], "total": 123456789012345678901234567890}')
RESPONSE_OUT = (b'{"id":9007199254740993,"items":[{"price":100,"meta":{"w":1.50},"sku":"A-1"},'
                b'{"price":2.5e3,"meta":{}}],"total":123456789012345678901234567890,"api":{"v":2}}')


def test_response_transform_of_content_length_and_chunked_upstream_bodies():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        for chunked in ("0", "1"):
            status, headers, body = gw.request("POST", "/echo/x", body=RESPONSE_IN,
                                               headers={"X-Reply-Chunked": chunked})
            assert status == 200, body
            assert body == RESPONSE_OUT, (chunked, body)
            assert headers["content-length"] == str(len(RESPONSE_OUT)), headers
            assert "transfer-encoding" not in headers, headers


def test_response_that_is_not_json_passes_untouched():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        # Not JSON by type: untouched even though it parses.
        status, _, body = gw.request("POST", "/echo/x", body=RESPONSE_IN,
                                     headers={"X-Reply-Type": "text/plain"})
        assert status == 200 and body == RESPONSE_IN
        # JSON by type but not valid: passes unchanged by default ...
        status, _, body = gw.request("POST", "/echo/x", body=b'{"internal": oops}')
        assert status == 200 and body == b'{"internal": oops}', body
        # ... and gets 502 invalid_upstream_json with on_invalid_response: reject.
        status, _, body = gw.request("POST", "/strict/x", body=b'{"internal": oops}')
        assert status == 502, body
        err = json.loads(body)
        assert err["error"] == "invalid_upstream_json", err
        # The post-stage filter transforms valid ones.
        status, _, body = gw.request("POST", "/strict/x", body=b'{"internal":1,"keep":2}')
        assert status == 200 and body == b'{"keep":2}', body
        _, metrics = gw.admin("GET", "/metrics")
        assert b"gateway_filter_json_transform_invalid_response_total 2" in metrics, metrics


def test_response_over_max_body_bytes_gets_502():
    with Upstream(service="demo") as up, EchoUpstream() as echo, gateway(up, echo) as gw:
        big = b'{"pad":"' + b"x" * 70000 + b'"}'
        status, _, body = gw.request("POST", "/echo/x", body=big)
        assert status == 502, body[:200]
        assert json.loads(body)["error"] == "response_too_large"
