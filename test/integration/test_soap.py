"""`soap` (route filter) on a real gatewayd, with a demo_upstream as the legacy SOAP customer
service (POST /soap/customers, tools/demo_upstream/soap_service.cc): JSON -> SOAP 1.1 and 1.2 and
back, Faults as JSON errors (mapped 4xx for Client/Sender, 502 for Server), a body template,
malformed JSON (400, nothing sent), malformed and unexpected XML (502), billion laughs and XXE
(502 at once, nothing fetched, memory flat), a deep document, an oversized response and a hanging
service (504 at the call's timeout)."""
import http.client
import json
import time

from harness import Gateway, Upstream, curl, one_listener_config, rss_kib

ROUTES = """          - name: soap11
            match: {{path: /lookup}}
            route_filter:
              name: soap
              config:
                cluster: legacy
                path: /soap/customers
                operation: GetCustomer
                namespace: "urn:demo:customers"
                array_elements: [phone]
                client_fault_status: 404
                timeout_ms: 500
                max_request_bytes: 4096
          - name: soap12
            match: {{path: /lookup12}}
            route_filter:
              name: soap
              config:
                cluster: legacy
                path: /soap/customers
                soap_version: "1.2"
                operation: GetCustomer
                namespace: "urn:demo:customers"
                client_fault_status: 422
          - name: templated
            match: {{path: /templated}}
            route_filter:
              name: soap
              config:
                cluster: legacy
                path: /soap/customers
                operation: GetCustomer
                namespace: "urn:demo:customers"
                keep_namespaces: true
                body_template: '<c:GetCustomer xmlns:c="urn:demo:customers"><c:customerId>{{{{/customer/id}}}}</c:customerId></c:GetCustomer>'
          - name: wsdl
            match: {{path: /soap/customers}}
            route_filter: {{name: router, config: {{cluster: legacy}}}}
"""

CONFIG = one_listener_config(routes=ROUTES, tail="""clusters:
  - name: legacy
    endpoints: [{{address: "{up0}"}}]
""")

JSON = {"Content-Type": "application/json"}


def lookup(gw, body, path="/lookup"):
    status, headers, data = gw.request("POST", path, headers=JSON,
                                       body=body if isinstance(body, bytes) else json.dumps(body))
    return status, headers, json.loads(data) if data else None


def test_soap11_lookup_and_faults():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        status, headers, doc = lookup(gw, {"customerId": 42})
        assert status == 200, doc
        assert headers["content-type"] == "application/json"
        assert doc == {"customer": {
            "@id": "42", "@status": "active", "name": "Ada Lovelace", "email": "ada@example.com",
            "tier": "gold", "phone": ["+44 20 7946 0001", "+44 20 7946 0002"],
            "since": "1843-07-01"}, "servedBy": up.instance}, doc
        # One phone is still an array (array_elements).
        status, _, doc = lookup(gw, {"customerId": 7})
        assert status == 200 and doc["customer"]["phone"] == ["+1 202 555 0107"], doc
        # A number's exact text goes to the service: 42.0 is not an integer there.
        status, _, doc = lookup(gw, b'{"customerId": 42.0}')
        assert status == 404 and doc["details"]["faultstring"] == "customerId must be an integer"
        # Client faults: the mapped 404, faultcode and faultstring kept.
        for cid, text in ((-1, "Customer -1 does not exist"), (999, "Customer 999 does not exist"),
                          ("abc", "customerId must be an integer")):
            status, _, doc = lookup(gw, {"customerId": cid})
            assert status == 404, doc
            assert doc["error"] == "soap_fault", doc
            assert doc["details"] == {"faultcode": "soap:Client", "faultstring": text}, doc
            assert text in doc["message"] and doc["request_id"], doc
        # A Server fault: 502.
        status, _, doc = lookup(gw, {"customerId": -500})
        assert status == 502 and doc["error"] == "soap_fault", doc
        assert doc["details"] == {"faultcode": "soap:Server",
                                  "faultstring": "customer database unavailable"}, doc
        # The WSDL, straight through a router route.
        status, headers, body = gw.request("GET", "/soap/customers?wsdl")
        assert status == 200 and b'soapAction="urn:demo:customers:GetCustomer"' in body
        _, metrics = gw.admin("GET", "/metrics")
        m = metrics.decode()
        assert "gateway_filter_soap_ok_total 2" in m, m
        assert "gateway_filter_soap_faults_total 5" in m, m


def test_soap12_lookup_and_sender_fault():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        status, _, doc = lookup(gw, {"customerId": 42}, "/lookup12")
        assert status == 200, doc
        # No array_elements here: repeated phones are an array, the rest strings.
        assert doc["customer"]["phone"] == ["+44 20 7946 0001", "+44 20 7946 0002"], doc
        assert doc["customer"]["name"] == "Ada Lovelace"
        status, _, doc = lookup(gw, {"customerId": 7}, "/lookup12")
        assert status == 200 and doc["customer"]["phone"] == "+1 202 555 0107", doc
        status, _, doc = lookup(gw, {"customerId": -1}, "/lookup12")
        assert status == 422 and doc["error"] == "soap_fault", doc
        assert doc["details"] == {"faultcode": "soap:Sender",
                                  "faultstring": "Customer -1 does not exist"}, doc
        status, _, doc = lookup(gw, {"customerId": -500}, "/lookup12")
        assert status == 502 and doc["details"]["faultcode"] == "soap:Receiver", doc


def test_soap_body_template_and_kept_namespaces():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        status, _, doc = lookup(gw, {"customer": {"id": 42}}, "/templated")
        assert status == 200, doc
        assert doc["@xmlns:c"] == "urn:demo:customers", doc
        assert doc["c:customer"]["c:name"] == "Ada Lovelace", doc
        status, _, doc = lookup(gw, {"customer": {}}, "/templated")
        assert status == 400 and doc["error"] == "soap_missing_field", doc
        assert doc["message"] == "/customer/id: missing from the request body", doc
        # A value with markup is escaped into text: the service sees a non-integer, not XML.
        status, _, doc = lookup(gw, {"customer": {"id": "</c:customerId><x>"}}, "/templated")
        assert status == 502 and doc["error"] == "soap_fault", doc  # no client_fault_status
        assert doc["details"]["faultstring"] == "customerId must be an integer", doc


def test_soap_malformed_json_never_reaches_the_service():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        before = up.stats()["requests"]
        cases = [
            (b"", 400, "invalid_json"),
            (b"{", 400, "invalid_json"),
            (b'{"customerId": 42,}', 400, "invalid_json"),
            (b"{'customerId': 42}", 400, "invalid_json"),
            (b'{"customerId": "\xff"}', 400, "invalid_json"),
            (b"[42]", 400, "soap_invalid_request"),
            (b'{"customer id": 42}', 400, "soap_invalid_request"),
            (b'{"ids": [[1]]}', 400, "soap_invalid_request"),
            (b'{"x": "\\u0001"}', 400, "soap_invalid_request"),
            (b'{"x": {"@xmlns": "urn:evil"}}', 400, "soap_invalid_request"),
            (b'{"a":' * 40 + b"1" + b"}" * 40, 400, "soap_invalid_request"),  # max_depth 32
            (b'{"x": "' + b"a" * 5000 + b'"}', 413, "payload_too_large"),  # max_request_bytes
        ]
        for body, want, code in cases:
            status, _, doc = lookup(gw, body)
            assert (status, doc["error"]) == (want, code), (body[:60], status, doc)
        # Real curl, chunked upload of broken JSON.
        r = curl(["-s", "-X", "POST", "-H", "Content-Type: application/json",
                  "-H", "Transfer-Encoding: chunked", "--data-binary", '{"customerId": 4',
                  "-w", "\n%{http_code}", "http://127.0.0.1:%d/lookup" % gw.port])
        out = r.stdout.decode()
        assert out.endswith("\n400") and '"invalid_json"' in out, out
        assert up.stats()["requests"] == before


def test_soap_malformed_and_unexpected_xml_is_502():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        for cid, code, why in ((-670, "soap_invalid_response", "not well-formed XML"),
                               (-673, "soap_invalid_response", "'UnexpectedResponse'"),
                               (-669, "soap_xml_rejected", "deeper than max_depth"),
                               (-672, "response_too_large", "")):
            status, _, doc = lookup(gw, {"customerId": cid})
            assert status == 502 and doc["error"] == code, (cid, doc)
            assert why in doc["message"], (cid, doc)


def test_soap_billion_laughs_and_xxe_are_refused_without_fetching():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        rss_before = rss_kib(gw.proc.pid)
        before = up.stats()["requests"]
        for cid in (-666, -667, -668):
            t0 = time.time()
            status, _, doc = lookup(gw, {"customerId": cid})
            assert status == 502 and doc["error"] == "soap_xml_rejected", (cid, doc)
            assert "DOCTYPE" in doc["message"], doc
            assert "root:" not in json.dumps(doc)
            assert time.time() - t0 < 1.0, cid
        # Three SOAP calls reached the service and nothing else: the XXE of -668 points at this
        # very upstream (/soap/xxe-fetched), so a fetch would have shown as a fourth request.
        assert up.stats()["requests"] == before + 3
        for _ in range(50):
            lookup(gw, {"customerId": -666})
        assert rss_kib(gw.proc.pid) - rss_before < 20000
        _, metrics = gw.admin("GET", "/metrics")
        assert "gateway_filter_soap_rejected_xml_total 53" in metrics.decode()
        # The gateway still answers normally.
        assert lookup(gw, {"customerId": 42})[0] == 200


def test_soap_hanging_service_times_out():
    with Upstream(service="legacy") as up, Gateway(CONFIG, [up]) as gw:
        t0 = time.time()
        status, _, doc = lookup(gw, {"customerId": -671})
        elapsed = time.time() - t0
        assert status == 504 and doc["error"] == "upstream_timeout", doc
        assert 0.4 < elapsed < 2.0, elapsed
        # A client that leaves mid-call: the call is cancelled, the gateway goes on.
        c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        c.request("POST", "/lookup", body='{"customerId": -671}', headers=JSON)
        time.sleep(0.1)
        c.close()
        assert lookup(gw, {"customerId": 42})[0] == 200
