// The `soap` filter's conversions (source/filters/soap/soap_codec.h): every JSON -> XML mapping
// rule, the body template, every XML -> JSON rule, Faults of both SOAP versions, and the XML
// safety rules (DOCTYPE, entities, depth) and malformed input.
#include <string>

#include <catch2/catch.hpp>

#include "pugixml.hpp"
#include "source/filters/soap/soap_codec.h"

namespace gw::filters::soap {
namespace {

const std::string kHead11 =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope "
    "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soap:Body>";
const std::string kTail = "</soap:Body></soap:Envelope>\n";

RequestOptions op(SoapVersion v = SoapVersion::V11) {
  RequestOptions o;
  o.version = v;
  o.operation = "GetCustomer";
  o.ns = "urn:demo:customers";
  return o;
}

// The operation element built for `json` (the envelope around it checked and cut off).
std::string body(const std::string& json, const RequestOptions& o = op()) {
  std::string out;
  RequestError e;
  INFO(json);
  const bool ok = buildRequest(json, o, out, e);
  INFO(e.message);
  REQUIRE(ok);
  REQUIRE(out.substr(0, kHead11.size()) == kHead11);
  REQUIRE(out.size() >= kHead11.size() + kTail.size());
  REQUIRE(out.substr(out.size() - kTail.size()) == kTail);
  return out.substr(kHead11.size(), out.size() - kHead11.size() - kTail.size());
}

RequestError requestError(const std::string& json, const RequestOptions& o = op()) {
  std::string out;
  RequestError e;
  INFO(json);
  REQUIRE_FALSE(buildRequest(json, o, out, e));
  CHECK_FALSE(e.message.empty());
  return e;
}

TEST_CASE("soap json->xml: members become elements of the operation, in its namespace",
          "[soap]") {
  CHECK(body(R"({"customerId": 42})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><customerId>42</customerId></GetCustomer>)");
  CHECK(body("{}") == R"(<GetCustomer xmlns="urn:demo:customers"></GetCustomer>)");
  CHECK(body(R"({"a": "x", "b": "y"})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><a>x</a><b>y</b></GetCustomer>)");
}

TEST_CASE("soap json->xml: SOAP 1.2 uses its envelope namespace", "[soap]") {
  std::string out;
  RequestError e;
  REQUIRE(buildRequest(R"({"a": 1})", op(SoapVersion::V12), out, e));
  CHECK(out.find("xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"") != std::string::npos);
  CHECK(out.find("schemas.xmlsoap.org") == std::string::npos);
}

TEST_CASE("soap json->xml: scalars: numbers keep their exact text", "[soap]") {
  CHECK(body(R"({"n": 18446744073709551616, "d": 1.10, "e": -0.5e-7, "i": -0})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><n>18446744073709551616</n><d>1.10</d>"
        "<e>-0.5e-7</e><i>-0</i></GetCustomer>");
  CHECK(body(R"({"t": true, "f": false})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><t>true</t><f>false</f></GetCustomer>)");
  CHECK(body(R"({"s": ""})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><s></s></GetCustomer>)");
}

TEST_CASE("soap json->xml: null is an empty element with xsi:nil", "[soap]") {
  CHECK(body(R"({"email": null})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><email xsi:nil="true"/></GetCustomer>)");
}

TEST_CASE("soap json->xml: objects nest; @name is an attribute, #text the text", "[soap]") {
  CHECK(body(R"({"customer": {"id": 7, "name": {"first": "Ada"}}})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><customer><id>7</id><name><first>Ada</first>"
        "</name></customer></GetCustomer>");
  CHECK(body(R"({"price": {"@currency": "EUR", "#text": 9.5}})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><price currency=\"EUR\">9.5</price>"
        "</GetCustomer>");
  // Attributes go on the element whatever their place among the members; on the operation too.
  CHECK(body(R"({"x": {"a": 1, "@k": true}, "@version": "2"})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\" version=\"2\"><x k=\"true\"><a>1</a></x>"
        "</GetCustomer>");
  CHECK(body(R"({"x": {"@nil": null}})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><x nil=""></x></GetCustomer>)");
}

TEST_CASE("soap json->xml: arrays repeat the element", "[soap]") {
  CHECK(body(R"({"id": [1, 2, 3]})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><id>1</id><id>2</id><id>3</id></GetCustomer>");
  CHECK(body(R"({"item": [{"sku": "a"}, null, "x"]})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><item><sku>a</sku></item>"
        "<item xsi:nil=\"true\"/><item>x</item></GetCustomer>");
  CHECK(body(R"({"none": []})") == R"(<GetCustomer xmlns="urn:demo:customers"></GetCustomer>)");
  RequestError e = requestError(R"({"m": [[1, 2]]})");
  CHECK(e.code == "soap_invalid_request");
  CHECK(e.message == "m: an array of arrays has no XML mapping");
}

TEST_CASE("soap json->xml: text and attribute values are escaped", "[soap]") {
  CHECK(body(R"({"q": "<a href=\"x\">&amp;</a> 'y'"})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><q>&lt;a href=\"x\"&gt;&amp;amp;&lt;/a&gt; "
        "'y'</q></GetCustomer>");
  CHECK(body(R"({"q": {"@v": "a\"<&>\n\t\r"}})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><q v=\"a&quot;&lt;&amp;&gt;&#10;&#9;&#13;\">"
        "</q></GetCustomer>");
  CHECK(body(R"({"u": "caf\u00e9 \u2603"})") ==
        "<GetCustomer xmlns=\"urn:demo:customers\"><u>caf\xc3\xa9 \xe2\x98\x83</u></GetCustomer>");
  // Markup in a value can never become markup: a closing tag is text.
  CHECK(body(R"({"q": "</q><admin>1</admin>"})").find("<admin>") == std::string::npos);
  for (const char* bad : {R"({"q": "a\u0001b"})", R"({"q": "\u0000"})",
                          R"({"q": {"@a": "\u001f"}})"}) {
    RequestError e = requestError(bad);
    CHECK(e.code == "soap_invalid_request");
    CHECK_THAT(e.message, Catch::Contains("control character"));
  }
}

TEST_CASE("soap json->xml: names must be XML names", "[soap]") {
  for (const char* bad : {R"({"1a": 1})", R"({"a b": 1})", R"({"": 1})", R"({"a:b": 1})",
                          R"({"<x>": 1})", R"({"x": {"@": 1}})", R"({"x": {"@a b": 1}})",
                          R"({"x": {"@xmlns": "urn:evil"}})", R"({"x": {"@xmlns:p": "u"}})",
                          R"({"caf\u00e9": 1})"}) {
    INFO(bad);
    RequestError e = requestError(bad);
    CHECK_FALSE(e.invalid_json);
    CHECK(e.code == "soap_invalid_request");
  }
  CHECK(body(R"({"_a.b-c9": 1})") ==
        R"(<GetCustomer xmlns="urn:demo:customers"><_a.b-c9>1</_a.b-c9></GetCustomer>)");
  CHECK(requestError(R"({"x": {"@a": {"b": 1}}})").message ==
        "@a: an attribute value must be a string, number, boolean or null");
  CHECK(requestError(R"({"x": {"#text": [1]}})").message ==
        "#text: #text must be a string, number, boolean or null");
}

TEST_CASE("soap json->xml: the body must be a JSON object", "[soap]") {
  for (const char* bad : {"[]", "1", "\"x\"", "null", "true"}) {
    RequestError e = requestError(bad);
    CHECK_FALSE(e.invalid_json);
    CHECK(e.code == "soap_invalid_request");
    CHECK(e.message == "the request body must be a JSON object");
  }
}

TEST_CASE("soap json->xml: invalid JSON", "[soap]") {
  for (const char* bad : {"", "{", "{\"a\": }", "{\"a\": 1} x", "{'a': 1}", "{\"a\": 01}",
                          "\xff", "{\"a\": \"\xc3\x28\"}", "{\"a\": NaN}"}) {
    INFO(bad);
    RequestError e = requestError(bad);
    CHECK(e.invalid_json);
    CHECK(e.code == "invalid_json");
  }
  CHECK(requestError("").message == "the request body is empty; a JSON object is expected");
  CHECK_THAT(requestError("{\"a\": }").message,
             Catch::StartsWith("the request body is not valid JSON: ") &&
                 Catch::Contains("at offset 6"));
}

TEST_CASE("soap json->xml: nesting deeper than max_depth is refused, deep input never crashes",
          "[soap]") {
  RequestOptions o = op();
  o.max_depth = 3;
  CHECK(body(R"({"a": {"b": 1}})", o) ==
        R"(<GetCustomer xmlns="urn:demo:customers"><a><b>1</b></a></GetCustomer>)");
  CHECK(requestError(R"({"a": {"b": {"c": 1}}})", o).message ==
        "c: nested deeper than max_depth (3)");
  // A million levels: the iterative parser takes it, the mapping stops at max_depth.
  std::string deep;
  for (int i = 0; i < 1000000; i++) {
    deep += "{\"a\":";
  }
  deep += "1" + std::string(1000000, '}');
  CHECK_THAT(requestError(deep).message, Catch::Contains("max_depth (32)"));
  std::string arrays = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  CHECK(requestError(arrays).code == "soap_invalid_request");
}

// ---- body template --------------------------------------------------------------------------

std::string templated(const std::string& tmpl, const std::string& json) {
  auto t = BodyTemplate::parse(tmpl);
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  RequestOptions o = op();
  o.body_template = &*t;
  return body(json, o);
}

TEST_CASE("soap template: placeholders are JSON Pointers, values escaped", "[soap]") {
  const std::string t =
      R"(<c:Lookup xmlns:c="urn:c" kind="{{/kind}}"><c:id>{{/customer/id}}</c:id>)"
      R"(<c:n>{{/names/1}}</c:n></c:Lookup>)";
  CHECK(templated(t, R"({"kind": "a\"b", "customer": {"id": 12345678901234567890},
                        "names": ["x", "<y&>"]})") ==
        R"(<c:Lookup xmlns:c="urn:c" kind="a&quot;b"><c:id>12345678901234567890</c:id>)"
        R"(<c:n>&lt;y&amp;&gt;</c:n></c:Lookup>)");
  CHECK(templated("<a>{{/t}}|{{/f}}|{{/n}}</a>", R"({"t": true, "f": false, "n": null})") ==
        "<a>true|false|</a>");
  // Escaped pointer tokens (RFC 6901): ~1 is '/', ~0 is '~'.
  CHECK(templated("<a>{{/a~1b}}{{/c~0d}}</a>", R"({"a/b": 1, "c~d": 2})") == "<a>12</a>");
  // The template's root need not be an object.
  CHECK(templated("<a>{{/0}}</a>", "[7]") == "<a>7</a>");
  CHECK(templated("<a/>", "{}") == "<a/>");
  REQUIRE(BodyTemplate::parse("<a>{{/x}}{{/y}}</a>").ok());
  CHECK(BodyTemplate::parse("<a>{{/x}}{{/y}}</a>")->placeholders() == 2);
}

TEST_CASE("soap template: missing and non-scalar values", "[soap]") {
  auto t = BodyTemplate::parse("<a>{{/customer/id}}</a>");
  REQUIRE(t.ok());
  RequestOptions o = op();
  o.body_template = &*t;
  RequestError e = requestError(R"({"customer": {}})", o);
  CHECK(e.code == "soap_missing_field");
  CHECK(e.message == "/customer/id: missing from the request body");
  e = requestError(R"({"customer": {"id": {"x": 1}}})", o);
  CHECK(e.code == "soap_invalid_request");
  CHECK(e.message == "/customer/id: must be a string, number, boolean or null");
  CHECK(requestError(R"({"customer": {"id": [1]}})", o).code == "soap_invalid_request");
  CHECK(requestError("{", o).invalid_json);
}

TEST_CASE("soap template: config errors", "[soap]") {
  auto err = [](const std::string& t) {
    auto r = BodyTemplate::parse(t);
    INFO(t);
    REQUIRE_FALSE(r.ok());
    return std::string(r.status().message());
  };
  CHECK(err("<a>{{/x</a>") == "unclosed placeholder at offset 3 (expected '}}')");
  CHECK_THAT(err("<a>{{x}}</a>"), Catch::Contains("must be a JSON Pointer starting with '/'"));
  CHECK_THAT(err("<a>{{}}</a>"), Catch::Contains("must be a JSON Pointer"));
  CHECK_THAT(err("<a>{{/a~2}}</a>"), Catch::Contains("not a valid JSON Pointer"));
  CHECK_THAT(err("<a><b></a>"), Catch::StartsWith("not well-formed XML"));
  CHECK_THAT(err("<a>&bogus;</a"), Catch::StartsWith("not well-formed XML"));
  CHECK(err("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>") ==
        "must not contain a DOCTYPE or ENTITY declaration");
  CHECK(err("just text") == "must contain an element (the content of soap:Body)");
  CHECK(err("") == "must contain an element (the content of soap:Body)");
}

// ---- XML -> JSON ----------------------------------------------------------------------------

std::string envelope11(const std::string& inner) {
  return "<?xml version=\"1.0\"?><soap:Envelope "
         "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>" +
         inner + "</soap:Body></soap:Envelope>";
}

ResponseOptions resp(const std::string& element = "GetCustomerResponse") {
  ResponseOptions o;
  o.response_element = element;
  return o;
}

std::string json(const std::string& xml, const ResponseOptions& o = resp()) {
  SoapResult r = parseResponse(xml, o);
  INFO(xml);
  INFO(r.error);
  REQUIRE(r.kind == SoapResult::Kind::Ok);
  return r.json;
}

// The JSON of a GetCustomerResponse (in a namespace) whose content is `inner`.
std::string content(const std::string& inner, const ResponseOptions& o = resp()) {
  return json(envelope11("<r:GetCustomerResponse xmlns:r=\"urn:demo:customers\">" + inner +
                         "</r:GetCustomerResponse>"),
              o);
}

TEST_CASE("soap xml->json: leaf elements are strings, the response element an object",
          "[soap]") {
  CHECK(content("<r:customer><r:id>42</r:id><r:name>Ada Lovelace</r:name></r:customer>") ==
        R"({"customer":{"id":"42","name":"Ada Lovelace"}})");
  CHECK(content("") == "{}");
  CHECK(content("<empty/><blank></blank>") == R"({"empty":"","blank":""})");
  // Whitespace between elements is not text; whitespace inside a leaf is kept.
  CHECK(content("\n  <a> x </a>\n  <b>1</b>\n") == R"({"a":" x ","b":"1"})");
}

TEST_CASE("soap xml->json: attributes are @name", "[soap]") {
  CHECK(content(R"(<price currency="EUR" r:kind="net">9.50</price>)") ==
        R"({"price":{"@currency":"EUR","@kind":"net","#text":"9.50"}})");
  CHECK(content(R"(<flag on="1"/>)") == R"({"flag":{"@on":"1"}})");
  // The response element's own attributes.
  CHECK(json(envelope11(R"(<GetCustomerResponse status="ok"><a>1</a></GetCustomerResponse>)")) ==
        R"({"@status":"ok","a":"1"})");
}

TEST_CASE("soap xml->json: repeated elements are arrays, in first-appearance order", "[soap]") {
  CHECK(content("<id>1</id><id>2</id><id>3</id>") == R"({"id":["1","2","3"]})");
  CHECK(content("<b>1</b><a>x</a><b>2</b><c/><a>y</a>") ==
        R"({"b":["1","2"],"a":["x","y"],"c":""})");
  CHECK(content("<item><sku>a</sku></item><item><sku>b</sku><sku>c</sku></item>") ==
        R"({"item":[{"sku":"a"},{"sku":["b","c"]}]})");
}

TEST_CASE("soap xml->json: array_elements are arrays even when single", "[soap]") {
  ResponseOptions o = resp();
  o.array_elements = {"order", "tag"};
  CHECK(content("<order><tag>x</tag></order><name>n</name>", o) ==
        R"({"order":[{"tag":["x"]}],"name":"n"})");
}

TEST_CASE("soap xml->json: mixed content is #text; CDATA and entities are text", "[soap]") {
  CHECK(content("<p>Hello <b>big</b> world</p>") ==
        R"({"p":{"b":"big","#text":"Hello  world"}})");
  CHECK(content("<c><![CDATA[<not markup> & ]]></c>") == R"({"c":"<not markup> & "})");
  CHECK(content("<e>&lt;&amp;&gt;&quot;&apos;&#65;&#x263A;</e>") ==
        "{\"e\":\"<&>\\\"'A\xe2\x98\xba\"}");
  // An undeclared entity is left as it is written: never expanded, never fetched.
  CHECK(content("<e>&ext;</e>") == R"({"e":"&ext;"})");
  // Text the JSON must escape.
  CHECK(content("<e>a\\b\t\"c\"</e>") == R"({"e":"a\\b\t\"c\""})");
}

TEST_CASE("soap xml->json: xsi:nil is null", "[soap]") {
  CHECK(content(R"(<email xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>)") ==
        R"({"email":null})");
  CHECK(content(R"(<email xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="1"></email>)") ==
        R"({"email":null})");
  CHECK(content(R"(<email xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="false">a</email>)") ==
        R"({"email":{"@nil":"false","#text":"a"}})");
}

TEST_CASE("soap xml->json: namespaces stripped by default, kept by config", "[soap]") {
  const std::string xml = envelope11(
      R"(<r:GetCustomerResponse xmlns:r="urn:c"><r:customer xmlns:x="urn:x" x:k="v">)"
      R"(<x:id>1</x:id></r:customer></r:GetCustomerResponse>)");
  CHECK(json(xml) == R"({"customer":{"@k":"v","id":"1"}})");
  ResponseOptions keep = resp();
  keep.keep_namespaces = true;
  CHECK(json(xml, keep) ==
        R"({"@xmlns:r":"urn:c","r:customer":{"@xmlns:x":"urn:x","@x:k":"v","x:id":"1"}})");
  // Stripped, two prefixes with one local name are one name: an array.
  CHECK(content("<a:x xmlns:a=\"u1\">1</a:x><b:x xmlns:b=\"u2\">2</b:x>") ==
        R"({"x":["1","2"]})");
}

TEST_CASE("soap xml->json: SOAP 1.2 envelopes and headers", "[soap]") {
  const std::string xml =
      R"(<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">)"
      R"(<env:Header><t:trace xmlns:t="urn:t">1</t:trace></env:Header>)"
      R"(<env:Body><m:GetCustomerResponse xmlns:m="urn:c"><m:id>1</m:id>)"
      R"(</m:GetCustomerResponse></env:Body></env:Envelope>)";
  SoapResult r = parseResponse(xml, resp());
  REQUIRE(r.kind == SoapResult::Kind::Ok);
  CHECK(r.version == SoapVersion::V12);
  CHECK(r.json == R"({"id":"1"})");
  // A default-namespace envelope.
  CHECK(json(R"(<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>)"
             R"(<GetCustomerResponse xmlns="urn:c"><id>2</id></GetCustomerResponse>)"
             R"(</Body></Envelope>)") == R"({"id":"2"})");
}

TEST_CASE("soap faults: 1.1 faultcode and faultstring", "[soap]") {
  SoapResult r = parseResponse(
      envelope11("<soap:Fault><faultcode>soap:Client</faultcode><faultstring>Customer -1 "
                 "does not exist</faultstring><detail><code>404</code></detail></soap:Fault>"),
      resp());
  REQUIRE(r.kind == SoapResult::Kind::Fault);
  CHECK(r.version == SoapVersion::V11);
  CHECK(r.fault_code == "soap:Client");
  CHECK(r.fault_string == "Customer -1 does not exist");
  CHECK(r.client_fault);
  r = parseResponse(envelope11("<soap:Fault><faultcode> soap:Server </faultcode>"
                               "<faultstring>db down</faultstring></soap:Fault>"),
                    resp());
  REQUIRE(r.kind == SoapResult::Kind::Fault);
  CHECK(r.fault_code == "soap:Server");
  CHECK_FALSE(r.client_fault);
  r = parseResponse(envelope11("<soap:Fault><faultcode>Client.Authentication</faultcode>"
                               "</soap:Fault>"),
                    resp());
  REQUIRE(r.kind == SoapResult::Kind::Fault);
  CHECK(r.client_fault);
  CHECK(r.fault_string.empty());
  r = parseResponse(envelope11("<soap:Fault><faultcode>soap:ClientX</faultcode></soap:Fault>"),
                    resp());
  CHECK_FALSE(r.client_fault);
  // A Fault element outside the envelope's namespace is not a Fault.
  CHECK(parseResponse(envelope11("<Fault xmlns=\"urn:x\"/>"), resp()).kind ==
        SoapResult::Kind::Invalid);
}

TEST_CASE("soap faults: 1.2 Code/Value and Reason/Text", "[soap]") {
  const std::string sender =
      R"(<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>)"
      R"(<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>)"
      R"(m:BadId</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">)"
      R"(No such customer</env:Text><env:Text xml:lang="fr">Inconnu</env:Text></env:Reason>)"
      R"(</env:Fault></env:Body></env:Envelope>)";
  SoapResult r = parseResponse(sender, resp());
  REQUIRE(r.kind == SoapResult::Kind::Fault);
  CHECK(r.version == SoapVersion::V12);
  CHECK(r.fault_code == "env:Sender");
  CHECK(r.fault_string == "No such customer");
  CHECK(r.client_fault);
  std::string receiver = sender;
  receiver.replace(receiver.find("env:Sender"), 10, "env:Receiver");
  r = parseResponse(receiver, resp());
  REQUIRE(r.kind == SoapResult::Kind::Fault);
  CHECK_FALSE(r.client_fault);
}

TEST_CASE("soap xml safety: DOCTYPE, entities, billion laughs, XXE are refused", "[soap]") {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]>" +
      envelope11("<GetCustomerResponse><n>&lol2;</n></GetCustomerResponse>").substr(21);
  const std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>" +
      envelope11("<GetCustomerResponse><n>&xxe;</n></GetCustomerResponse>").substr(21);
  const std::string external_dtd =
      "<!DOCTYPE soap:Envelope SYSTEM \"http://127.0.0.1:1/evil.dtd\">" +
      envelope11("<GetCustomerResponse/>");
  for (const std::string& x : {laughs, xxe, external_dtd}) {
    SoapResult r = parseResponse(x, resp());
    INFO(x);
    CHECK(r.kind == SoapResult::Kind::Rejected);
    CHECK(r.error == "the response declares a DOCTYPE or an ENTITY");
    CHECK(r.json.empty());
  }
  // An ENTITY declaration alone (not even well-formed) is refused the same way.
  CHECK(parseResponse("<!ENTITY x \"y\">", resp()).kind == SoapResult::Kind::Rejected);
  // A DOCTYPE in UTF-16 escapes the byte search but not the parser's node check.
  std::string utf16 = "\xff\xfe";
  for (char c : std::string("<!DOCTYPE a><a/>")) {
    utf16.push_back(c);
    utf16.push_back('\0');
  }
  SoapResult r = parseResponse(utf16, resp());
  CHECK(r.kind == SoapResult::Kind::Rejected);
  CHECK(r.error == "the response declares a DOCTYPE");
}

TEST_CASE("soap xml safety: pugixml itself never expands or fetches DTD entities", "[soap]") {
  // What parseResponse relies on beneath its own DOCTYPE refusal: with the DOCTYPE parsed
  // (parse_doctype) an entity reference stays the literal text "&x;", internal or external.
  for (const char* decl : {"<!ENTITY x \"expanded\">", "<!ENTITY x SYSTEM \"file:///etc/passwd\">",
                           "<!ENTITY x SYSTEM \"http://127.0.0.1:1/x\">"}) {
    const std::string xml = std::string("<!DOCTYPE a [") + decl + "]><a>&x;</a>";
    pugi::xml_document doc;
    REQUIRE(doc.load_string(xml.c_str(), pugi::parse_default | pugi::parse_doctype));
    CHECK(std::string(doc.child("a").text().get()) == "&x;");
  }
}

TEST_CASE("soap xml safety: nesting deeper than max_depth is refused", "[soap]") {
  ResponseOptions o = resp();
  o.max_depth = 4;
  CHECK(content("<a><b><c>1</c></b></a>", o) == R"({"a":{"b":{"c":"1"}}})");
  SoapResult r = parseResponse(
      envelope11("<GetCustomerResponse><a><b><c><d>1</d></c></b></a></GetCustomerResponse>"), o);
  CHECK(r.kind == SoapResult::Kind::Rejected);
  CHECK(r.error == "the response nests elements deeper than max_depth (4)");
  // Deep anywhere counts, in the Header too; 100,000 levels never reach the call stack.
  std::string deep;
  for (int i = 0; i < 100000; i++) {
    deep += "<x>";
  }
  for (int i = 0; i < 100000; i++) {
    deep += "</x>";
  }
  r = parseResponse("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                    "<soap:Header>" + deep + "</soap:Header><soap:Body><GetCustomerResponse/>"
                    "</soap:Body></soap:Envelope>",
                    resp());
  CHECK(r.kind == SoapResult::Kind::Rejected);
}

TEST_CASE("soap xml->json: text, attributes and names must be well-formed UTF-8", "[soap]") {
  CHECK(content("<e>\xf0\x9f\x98\x80 \xc3\xa9</e>") == "{\"e\":\"\xf0\x9f\x98\x80 \xc3\xa9\"}");
  // Truncated at the end of the text (read past the end by RapidJSON's own check: found by
  // soap_xml_fuzz), overlong, a surrogate, above U+10FFFF, a stray continuation byte.
  for (const char* bad : {"<e>\xf0</e>", "<e>a\xe2\x98</e>", "<e>\xc0\xaf</e>",
                          "<e>\xed\xa0\x80</e>", "<e>\xf4\x90\x80\x80</e>", "<e>\x80</e>",
                          "<e a=\"\xf0\"/>", "<e\xf0/>", "<p>x<b/>\xc3</p>"}) {
    SoapResult r = parseResponse(envelope11(std::string("<GetCustomerResponse>") + bad +
                                            "</GetCustomerResponse>"),
                                 resp());
    INFO(bad);
    CHECK(r.kind == SoapResult::Kind::Invalid);
    CHECK(r.error == "the response has text that is not valid UTF-8");
  }
}

TEST_CASE("soap xml: malformed and unexpected responses are Invalid", "[soap]") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "the response is not well-formed XML: No document element found at offset 0"},
      {"not xml", "the response is not well-formed XML"},
      {"{\"json\": true}", "the response is not well-formed XML"},
      {"<a><b></a>", "the response is not well-formed XML"},
      {envelope11("<GetCustomerResponse>").substr(0, 60), "the response is not well-formed XML"},
      {"<html><body>502</body></html>", "the response is not a SOAP envelope (root element 'html')"},
      {"<soap:Envelope xmlns:soap=\"urn:other\"><soap:Body/></soap:Envelope>",
       "the Envelope's namespace 'urn:other' is neither SOAP 1.1's nor 1.2's"},
      {"<soap:Envelope><soap:Body/></soap:Envelope>",
       "the Envelope's namespace '' is neither SOAP 1.1's nor 1.2's"},
      {"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"/>",
       "the envelope has no Body"},
      {envelope11(""), "the Body is empty"},
      {envelope11("  text only "), "the Body is empty"},
      {envelope11("<OtherResponse/>"), "the Body holds 'OtherResponse', expected 'GetCustomerResponse'"},
      {envelope11("<GetCustomerResponse><n>\xc3\x28</n></GetCustomerResponse>"),
       "the response has text that is not valid UTF-8"},
  };
  for (const auto& [xml, why] : cases) {
    INFO(xml);
    SoapResult r = parseResponse(xml, resp());
    CHECK(r.kind == SoapResult::Kind::Invalid);
    CHECK_THAT(r.error, Catch::StartsWith(why));
  }
}

} // namespace
} // namespace gw::filters::soap
