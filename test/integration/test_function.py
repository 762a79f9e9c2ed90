"""`function` on a real gatewayd with the demo upstream's Lambda-style runtime
(POST /2015-03-31/functions/<name>/invocations): the sample function's answer, the payload 2.0
event as the function sees it (the `echo` function returns it), a function error, an invalid
result, an unknown function, a function that times out (its connection closed at the timeout),
and a runtime that is down."""
import base64
import json
import time

from harness import Gateway, Upstream, one_listener_config, wait_for

ROUTES = """          - name: fn
            match: {{path_template: "/fn/{{name}}/**"}}
            route_filter:
              name: function
              config: {{cluster: runtime, function_name: echo, path_template: "/fn/{{name}}/**",
                        route_key: "ANY /fn/{{name}}/**"}}
          - name: hello
            match: {{path: /hello}}
            route_filter: {{name: function, config: {{cluster: runtime, function_name: hello}}}}
          - name: broken
            match: {{path: /broken}}
            route_filter: {{name: function, config: {{cluster: runtime, function_name: broken}}}}
          - name: invalid
            match: {{path: /invalid}}
            route_filter: {{name: function, config: {{cluster: runtime, function_name: invalid}}}}
          - name: missing
            match: {{path: /missing}}
            route_filter: {{name: function, config: {{cluster: runtime, function_name: nope}}}}
          - name: slow
            match: {{path: /slow}}
            route_filter:
              name: function
              config: {{cluster: runtime, function_name: slow, timeout_ms: 500}}
          - name: down
            match: {{path: /down}}
            route_filter: {{name: function, config: {{cluster: down, function_name: hello}}}}
"""
CONFIG = one_listener_config(routes=ROUTES, tail="""clusters:
  - name: runtime
    endpoints: [{{address: "{up0}"}}]
  - name: down
    endpoints: [{{address: "127.0.0.1:1"}}]
""")


def tcp_states(port):
    """The states of the TCP sockets whose local port is `port` (the upstream's accepted ones),
    from /proc/net/tcp, without the listener."""
    names = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}
    states = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if int(local.split(":")[1], 16) == port and state != "0A":
                states.add(names.get(state, state))
    return states


def error_of(status, body):
    return status, json.loads(body)["error"]


def test_function_hello_answers_what_the_function_returns():
    with Upstream(service="fn") as up, Gateway(CONFIG, [up]) as gw:
        status, headers, body = gw.request("GET", "/hello?name=Ada")
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"message": "Hello, Ada!"}
        status, _, body = gw.request("GET", "/hello")
        assert json.loads(body) == {"message": "Hello, world!"}, body


def test_function_event_is_payload_2_0():
    with Upstream(service="fn") as up, Gateway(CONFIG, [up]) as gw:
        status, headers, body = gw.request(
            "POST", "/fn/report/a/b?x=1&x=2&q=a%20b", body=b'{"n": 12345678901234567890}',
            headers={"Content-Type": "application/json", "Cookie": "s=1; t=2",
                     "User-Agent": "it-test", "x-request-id": "fn-test-0001"})
        assert status == 200, body
        e = json.loads(body)  # the echo function returns the event as a bare JSON value
        assert e["version"] == "2.0"
        assert e["routeKey"] == "ANY /fn/{name}/**"
        assert e["rawPath"] == "/fn/report/a/b"
        assert e["rawQueryString"] == "x=1&x=2&q=a%20b"
        assert e["cookies"] == ["s=1", "t=2"]
        assert "cookie" not in e["headers"]
        assert e["headers"]["content-type"] == "application/json"
        assert e["queryStringParameters"] == {"x": "1,2", "q": "a b"}
        assert e["pathParameters"] == {"name": "report"}
        rc = e["requestContext"]
        assert rc["http"] == {"method": "POST", "path": "/fn/report/a/b", "protocol": "HTTP/1.1",
                              "sourceIp": "127.0.0.1", "userAgent": "it-test"}
        assert rc["requestId"] == "fn-test-0001"
        assert abs(rc["timeEpoch"] / 1000 - time.time()) < 30
        assert e["body"] == '{"n": 12345678901234567890}' and e["isBase64Encoded"] is False
        # A binary body goes base64.
        status, _, body = gw.request("PUT", "/fn/bin/x", body=b"\x00\xff\x10",
                                     headers={"Content-Type": "application/octet-stream"})
        e = json.loads(body)
        assert e["isBase64Encoded"] is True
        assert base64.b64decode(e["body"]) == b"\x00\xff\x10"


def test_function_errors_are_502_json():
    with Upstream(service="fn") as up, Gateway(CONFIG, [up]) as gw:
        status, _, body = gw.request("GET", "/broken")
        assert error_of(status, body) == (502, "function_error"), body
        assert "something broke" in json.loads(body)["message"], body
        status, _, body = gw.request("GET", "/invalid")
        assert error_of(status, body) == (502, "function_invalid_result"), body
        assert "statusCode" in json.loads(body)["message"], body
        status, _, body = gw.request("GET", "/missing")
        assert error_of(status, body) == (502, "function_error"), body
        assert "status 404" in json.loads(body)["message"], body
        status, _, body = gw.request("GET", "/down")
        assert error_of(status, body) == (502, "upstream_connect_failed"), body


def test_function_that_times_out():
    with Upstream(service="fn") as up, Gateway(CONFIG, [up]) as gw:
        t0 = time.monotonic()
        status, _, body = gw.request("GET", "/slow")
        elapsed = time.monotonic() - t0
        assert error_of(status, body) == (502, "function_timeout"), body
        assert "500 ms" in json.loads(body)["message"]
        assert 0.45 <= elapsed < 1.5, elapsed
        # The gateway closed the invocation's connection at the timeout: the runtime, which
        # never answers (nor reads again), holds its end in CLOSE_WAIT.
        wait_for(lambda: tcp_states(up.port) == {"CLOSE_WAIT"}, timeout=1.5,
                 what="the invocation's connection closed by the gateway")
        _, metrics = gw.admin("GET", "/metrics")
        assert "gateway_filter_function_timeouts_total 1" in metrics.decode()
