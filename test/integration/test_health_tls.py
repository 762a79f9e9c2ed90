"""Active health checks over TLS: a front gatewayd whose HTTP/1.1 cluster reaches a second
gatewayd (the backend) serving TLS checks it with HTTPS requests, verified as the cluster's own
requests are. The backend's access log shows the checks arrived; a certificate the cluster does
not trust fails them with the verification error."""
import re

from harness import Gateway, Upstream, wait_for
from test_tls import pki
from test_upstream_h2_tls import backend_config, front_config, get, metric

HC = """    health_check:
      path: /healthz
      interval: 0.1s
      timeout: 0.5s
      healthy_threshold: 1
      unhealthy_threshold: 2
"""


def checks(gw, result):
    status, body = gw.admin("GET", "/metrics")
    assert status == 200
    m = re.search(r'^gateway_health_checks_total\{cluster="tls-backend",result="%s"\} (\S+)$'
                  % result, body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def healthz_requests(gw):
    return sum(1 for entry in gw.access_log() if entry.get("path") == "/healthz")


def test_health_checks_speak_https_to_a_tls_cluster():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p, http2=False), [up]) as back, \
            Gateway(front_config(p, back.port, "HTTP1") + HC) as front:
        wait_for(lambda: checks(front, "success") >= 3, what="three checks passed")
        assert checks(front, "failure") == 0
        # Each check is its own TLS connection to the backend, and its request arrived there.
        assert metric(back, "gateway_downstream_tls_handshakes_total") >= 3
        wait_for(lambda: healthz_requests(back) >= 3, what="checks in the access log")
        # The cluster still serves requests (the checks took nothing from its pool).
        code, body = get(front)
        assert code == 200, body


def test_health_checks_fail_on_an_untrusted_certificate():
    p = pki()
    with Upstream("svc") as up, Gateway(backend_config(p, http2=False), [up]) as back, \
            Gateway(front_config(p, back.port, "HTTP1", ca=p.client_ca) + HC) as front:
        wait_for(lambda: checks(front, "failure") >= 2, what="two checks failed")
        assert checks(front, "success") == 0
        wait_for(lambda: "unhealthy (tls: server certificate verify failed" in front.stderr(),
                 what="the log names the TLS failure")
        line = [l for l in front.stderr().splitlines() if "health check:" in l][0]
        assert "127.0.0.1:%d" % back.port in line, line
        # No request reached the backend's router: the handshake failed first.
        assert healthz_requests(back) == 0
