// The `soap` route filter on a fake request: config validation with field paths, the call it
// makes (SOAP 1.1 and 1.2 headers, the envelope), and every answer: JSON, Faults (502 or the
// mapped 4xx), unsafe and invalid XML, transport errors, a request that ended first.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "source/filters/filter.h"
#include "test/filters/fake_request_context.h"
#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::createError;
using test::createOk;
using test::FakeRequestContext;
using test::FakeHttpClient;
using test::FakeUpstream;

const char kBase[] =
    R"({"cluster": "legacy", "path": "/soap/customers", "operation": "GetCustomer",
        "namespace": "urn:demo:customers")";

std::string cfg(const std::string& extra = "") {
  return std::string(kBase) + (extra.empty() ? "" : ", " + extra) + "}";
}

ValidationContext vctx() { return test::clusters({"legacy"}); }

const std::string kOkResponse =
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
    "<c:GetCustomerResponse xmlns:c=\"urn:demo:customers\"><c:customer><c:id>42</c:id>"
    "<c:name>Ada</c:name></c:customer></c:GetCustomerResponse></soap:Body></soap:Envelope>";

std::string fault11(const std::string& code, const std::string& text) {
  return "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
         "<soap:Fault><faultcode>" + code + "</faultcode><faultstring>" + text +
         "</faultstring></soap:Fault></soap:Body></soap:Envelope>";
}

HttpResult answer(int status, std::string body) {
  HttpResult r;
  r.response.head.status = status;
  r.response.body = std::move(body);
  return r;
}

// Runs onRoute with `body` on a fresh request; the test completes the call.
struct Run {
  explicit Run(const FilterConfig& c, std::string body) {
    filter = &test::instanceOf(c, owned);
    ctx.requestBody() = std::move(body);
    status = filter->onRoute(ctx, upstream);
  }
  FakeHttpClient& http() { return ctx.fakeWorker().http; }
  FilterPtr owned;
  Filter* filter = nullptr;
  FakeRequestContext ctx;
  FakeUpstream upstream{ctx.fakeWorker().http};
  FilterStatus status;
};

TEST_CASE("soap config: defaults", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  CHECK(test::factory("soap").kind() == FilterKind::Route);
  CHECK(c->shared() != nullptr);  // no per-request state
  CHECK(c->create() == nullptr);
  CHECK(c->requestBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(c->requestBody().max_bytes == 65536);
  CHECK(c->responseBody().mode == BodyPolicy::Mode::Untouched);
  CHECK(c->staticRoute() == nullptr);
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "SOAP 1.1 call GetCustomer (urn:demo:customers, action \"urn:demo:customers:"
        "GetCustomer\") to cluster 'legacy' /soap/customers: the JSON body (at most 65536 bytes) "
        "mapped to XML; GetCustomerResponse answered as JSON; a Fault as 502 soap_fault");
  CHECK(createOk("soap", cfg(R"("max_request_bytes": 1000)"), vctx())->requestBody().max_bytes ==
        1000);
}

TEST_CASE("soap config: errors name the field", "[soap]") {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"path": "/s", "operation": "Op", "namespace": "urn:x"})", "cluster: required"},
      {R"({"cluster": "nope", "path": "/s", "operation": "Op", "namespace": "urn:x"})",
       "cluster: unknown cluster 'nope'"},
      {R"({"cluster": "legacy", "operation": "Op", "namespace": "urn:x"})",
       "path: required, starting with '/'"},
      {R"({"cluster": "legacy", "path": "/a b", "operation": "Op", "namespace": "urn:x"})",
       "path: must be printable ASCII"},
      {R"({"cluster": "legacy", "path": "/s", "namespace": "urn:x"})", "operation: required"},
      {R"({"cluster": "legacy", "path": "/s", "operation": "1Op", "namespace": "urn:x"})",
       "operation: must be an XML name"},
      {R"({"cluster": "legacy", "path": "/s", "operation": "Op"})", "namespace: required"},
      {R"({"cluster": "legacy", "path": "/s", "operation": "Op", "namespace": "urn:\"x"})",
       "namespace: required"},
      {cfg(R"("soap_version": "1.3")"), "soap_version: must be \"1.1\" or \"1.2\", not '1.3'"},
      {cfg(R"("action": "a\"b")"), "action: must be printable ASCII"},
      {cfg(R"("action": "a\nb")"), "action: must be printable ASCII"},
      {cfg(R"("body_template": "<a>{{/x</a>")"), "body_template: unclosed placeholder"},
      {cfg(R"("body_template": "<a>")"), "body_template: not well-formed XML"},
      {cfg(R"("response_element": "p:R")"), "response_element: must be an XML local name"},
      {cfg(R"("array_elements": ["ok", "no way"])"), "array_elements[1]: must be an XML"},
      {cfg(R"("client_fault_status": 399)"), "client_fault_status: must be 400..499"},
      {cfg(R"("client_fault_status": 502)"), "client_fault_status: must be 400..499"},
      {cfg(R"("timeout_ms": 300001)"), "timeout_ms: must be at most 300000"},
      {cfg(R"("max_request_bytes": 16777217)"), "max_request_bytes: must be at most"},
      {cfg(R"("max_response_bytes": 16777217)"), "max_response_bytes: must be at most"},
      {cfg(R"("max_depth": 257)"), "max_depth: must be at most 256"},
  };
  for (const auto& [json, want] : cases) {
    INFO(json);
    CHECK_THAT(createError("soap", json, vctx()), Catch::StartsWith(want));
  }
  CHECK_THAT(createError("soap", cfg(R"("headers": {})"), vctx()), Catch::Contains("headers"));
  // Accepted edges.
  createOk("soap", cfg(R"("client_fault_status": 400, "max_depth": 256, "timeout_ms": 300000,
                          "max_request_bytes": 16777216, "array_elements": ["p:item"])"),
           vctx());
}

TEST_CASE("soap: SOAP 1.1 call: envelope, SOAPAction, then the JSON answer", "[soap]") {
  auto c = createOk("soap", cfg(R"("timeout_ms": 1500, "max_response_bytes": 4096)"), vctx());
  Run run(*c, R"({"customerId": 42})");
  CHECK(run.status == FilterStatus::Pause);
  CHECK(run.ctx.untouched());
  REQUIRE(run.http().calls.size() == 1);
  const auto& call = run.http().calls[0];
  CHECK(call.cluster == "legacy");
  CHECK(call.request.method == "POST");
  CHECK(call.request.path == "/soap/customers");
  CHECK(call.request.timeout == std::chrono::milliseconds(1500));
  CHECK(call.request.max_response_bytes == 4096);
  CHECK(test::values(call.request.headers, "content-type") ==
        std::vector<std::string>{"text/xml; charset=utf-8"});
  CHECK(test::values(call.request.headers, "soapaction") ==
        std::vector<std::string>{"\"urn:demo:customers:GetCustomer\""});
  CHECK(test::values(call.request.headers, "x-request-id") ==
        std::vector<std::string>{"req-0123456789abcdef"});
  CHECK(call.request.body.find("<soap:Body><GetCustomer xmlns=\"urn:demo:customers\">"
                               "<customerId>42</customerId></GetCustomer></soap:Body>") !=
        std::string::npos);
  CHECK(test::counter(run.ctx, "soap", "calls") == 1);

  run.http().complete(0, answer(200, kOkResponse));
  REQUIRE(run.ctx.responses.size() == 1);
  CHECK(run.ctx.failures.empty());
  CHECK(run.ctx.responses[0].status == 200);
  CHECK(run.ctx.responses[0].content_type == "application/json");
  CHECK(run.ctx.responses[0].body == R"({"customer":{"id":"42","name":"Ada"}})");
  CHECK(test::counter(run.ctx, "soap", "ok") == 1);
}

TEST_CASE("soap: SOAP 1.2 call: application/soap+xml with the action parameter", "[soap]") {
  auto c = createOk(
      "soap", cfg(R"("soap_version": "1.2", "action": "http://example.com/GetCustomer")"),
      vctx());
  Run run(*c, "{}");
  REQUIRE(run.http().calls.size() == 1);
  const auto& call = run.http().calls[0];
  CHECK(test::values(call.request.headers, "content-type") ==
        std::vector<std::string>{
            "application/soap+xml; charset=utf-8; action=\"http://example.com/GetCustomer\""});
  CHECK(test::values(call.request.headers, "soapaction").empty());
  CHECK(call.request.body.find("http://www.w3.org/2003/05/soap-envelope") != std::string::npos);
  // An http namespace: the default action is namespace/operation.
  auto d = createOk("soap",
                    R"({"cluster": "legacy", "path": "/s", "operation": "Add",
                        "namespace": "http://tempuri.org/"})",
                    vctx());
  Run run2(*d, "{}");
  REQUIRE(run2.http().calls.size() == 1);
  CHECK(test::values(run2.http().calls[0].request.headers, "soapaction") ==
        std::vector<std::string>{"\"http://tempuri.org/Add\""});
}

TEST_CASE("soap: a body template fills the Body", "[soap]") {
  auto c = createOk("soap",
                    cfg(R"("body_template": "<c:Find xmlns:c=\"urn:c\"><c:id>{{/id}}</c:id></c:Find>")"),
                    vctx());
  Run run(*c, R"({"id": "<7>"})");
  REQUIRE(run.http().calls.size() == 1);
  CHECK(run.http().calls[0].request.body.find(
            "<soap:Body><c:Find xmlns:c=\"urn:c\"><c:id>&lt;7&gt;</c:id></c:Find></soap:Body>") !=
        std::string::npos);
  Run missing(*c, R"({"other": 1})");
  CHECK(missing.status == FilterStatus::StopAndRespond);
  REQUIRE(missing.ctx.failures.size() == 1);
  CHECK(missing.ctx.failures[0].status == 400);
  CHECK(missing.ctx.failures[0].code == "soap_missing_field");
  CHECK(missing.http().calls.empty());
}

TEST_CASE("soap: invalid JSON is 400 invalid_json, an unmappable body 400, no call", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  for (const char* body : {"", "{", "not json", "{\"customerId\": 42,}"}) {
    Run run(*c, body);
    INFO(body);
    CHECK(run.status == FilterStatus::StopAndRespond);
    REQUIRE(run.ctx.failures.size() == 1);
    CHECK(run.ctx.failures[0].kind == ErrorKind::InvalidJson);
    CHECK(run.ctx.failures[0].status == 400);
    CHECK(run.ctx.failures[0].code == "invalid_json");
    CHECK(run.http().calls.empty());
  }
  Run arr(*c, "[1]");
  REQUIRE(arr.ctx.failures.size() == 1);
  CHECK(arr.ctx.failures[0].kind == ErrorKind::BadRequest);
  CHECK(arr.ctx.failures[0].code == "soap_invalid_request");
  CHECK(arr.ctx.failures[0].message == "the request body must be a JSON object");
  CHECK(test::counter(arr.ctx, "soap", "bad_requests") == 1);
}

TEST_CASE("soap: a Fault is a JSON error with faultcode and faultstring", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  Run run(*c, R"({"customerId": -1})");
  run.http().complete(0, answer(500, fault11("soap:Client", "Customer -1 does not exist")));
  REQUIRE(run.ctx.failures.size() == 1);
  CHECK(run.ctx.responses.empty());
  const ErrorInfo& e = run.ctx.failures[0];
  CHECK(e.kind == ErrorKind::SoapFault);
  CHECK(e.status == 502);  // no client_fault_status: 502 for every fault
  CHECK(e.code == "soap_fault");
  CHECK(e.source == ErrorSource::Upstream);
  CHECK(e.message ==
        "SOAP service at cluster 'legacy' answered a SOAP Fault: Customer -1 does not exist");
  CHECK(*test::header(e.details, "faultcode") == "soap:Client");
  CHECK(*test::header(e.details, "faultstring") == "Customer -1 does not exist");
  CHECK(test::counter(run.ctx, "soap", "faults") == 1);
}

TEST_CASE("soap: client_fault_status maps Client/Sender faults, not Server", "[soap]") {
  auto c = createOk("soap", cfg(R"("client_fault_status": 404)"), vctx());
  Run client(*c, "{}");
  client.http().complete(0, answer(500, fault11("soap:Client", "no such customer")));
  REQUIRE(client.ctx.failures.size() == 1);
  CHECK(client.ctx.failures[0].status == 404);
  CHECK(client.ctx.failures[0].code == "soap_fault");
  Run server(*c, "{}");
  server.http().complete(0, answer(500, fault11("soap:Server", "database down")));
  REQUIRE(server.ctx.failures.size() == 1);
  CHECK(server.ctx.failures[0].status == 502);
  // A Fault in a 200 is still a Fault.
  Run in200(*c, "{}");
  in200.http().complete(0, answer(200, fault11("Client.Auth", "bad key")));
  REQUIRE(in200.ctx.failures.size() == 1);
  CHECK(in200.ctx.failures[0].status == 404);
}

TEST_CASE("soap: unsafe XML is 502 soap_xml_rejected", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  Run run(*c, "{}");
  run.http().complete(
      0, answer(200, "<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>" + kOkResponse));
  REQUIRE(run.ctx.failures.size() == 1);
  CHECK(run.ctx.failures[0].status == 502);
  CHECK(run.ctx.failures[0].code == "soap_xml_rejected");
  CHECK_THAT(run.ctx.failures[0].message, Catch::Contains("DOCTYPE"));
  CHECK(test::counter(run.ctx, "soap", "rejected_xml") == 1);
}

TEST_CASE("soap: invalid responses are 502 soap_invalid_response", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  const std::pair<int, std::string> cases[] = {
      {200, "<html>oops</html>"},
      {200, "{\"json\": 1}"},
      {200, ""},
      {503, "Service Unavailable"},
      {500, kOkResponse},  // a response element with an error status
  };
  for (const auto& [status, body] : cases) {
    Run run(*c, "{}");
    INFO(body);
    run.http().complete(0, answer(status, body));
    REQUIRE(run.ctx.failures.size() == 1);
    CHECK(run.ctx.failures[0].status == 502);
    CHECK(run.ctx.failures[0].code == "soap_invalid_response");
    CHECK_THAT(run.ctx.failures[0].message,
               Catch::StartsWith("SOAP service at cluster 'legacy'"));
  }
}

TEST_CASE("soap: transport errors pass as the client gives them", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  Run run(*c, "{}");
  HttpResult r;
  r.failed = true;
  r.error = ErrorInfo::make(ErrorKind::UpstreamTimeout, "timed out");
  run.http().complete(0, std::move(r));
  REQUIRE(run.ctx.failures.size() == 1);
  CHECK(run.ctx.failures[0].status == 504);
  CHECK(run.ctx.failures[0].code == "upstream_timeout");
  CHECK(test::counter(run.ctx, "soap", "call_errors") == 1);
}

TEST_CASE("soap: a request that ended first ignores the late answer", "[soap]") {
  auto c = createOk("soap", cfg(), vctx());
  Run run(*c, "{}");
  run.ctx.end();
  run.http().complete(0, answer(200, kOkResponse));
  CHECK(run.ctx.responses.empty());
  CHECK(run.ctx.failures.empty());
}

} // namespace
} // namespace gw::filters
