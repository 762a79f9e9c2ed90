#include <cstdlib>
#include <string>

#include "pugixml.hpp"
#include "tools/demo_upstream/endpoints.h"

namespace demo {

// A legacy SOAP customer-lookup service for the `soap` filter (its demo route and tests).
// Fixed contract (the WSDL below): namespace urn:demo:customers, operation GetCustomer with a
// customerId, answered by GetCustomerResponse/customer; SOAPAction
// "urn:demo:customers:GetCustomer" (1.1, text/xml) or the action parameter (1.2,
// application/soap+xml, answered in 1.2).
//   GET  /soap/customers[?wsdl]   the WSDL
//   POST /soap/customers          customerId 42 (Ada Lovelace, two phones), 7 (Grace Hopper)
//     -1 or unknown    Client (1.2: Sender) Fault "Customer N does not exist", HTTP 500 (1.2: 400)
//     not an integer   Client Fault "customerId must be an integer"
//     -500             Server Fault "customer database unavailable"
//   Test-only answers (200, text/xml) that a gateway must refuse:
//     -666  billion laughs (nested entity expansion in the DTD)
//     -667  XXE: an external entity SYSTEM "file:///etc/passwd"
//     -668  XXE: an external entity at http://<this server>/soap/xxe-fetched (a fetch would
//           show as a request to this path in /__stats)
//     -669  elements nested 10,000 deep
//     -670  an HTML error page, status 500 (not XML)
//     -671  never answered (the connection stays open)
//     -672  a response of 2 MiB (a valid envelope)
//     -673  a response element the contract does not name (UnexpectedResponse)
// Requests that are not XML, not a SOAP envelope, or declare a DOCTYPE get a Client Fault.
namespace {

constexpr const char* kSoap11 = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr const char* kSoap12 = "http://www.w3.org/2003/05/soap-envelope";

const char kWsdl[] = R"(<?xml version="1.0" encoding="utf-8"?>
<definitions name="CustomerService" targetNamespace="urn:demo:customers"
    xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="urn:demo:customers" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types>
    <xsd:schema targetNamespace="urn:demo:customers" elementFormDefault="qualified">
      <xsd:element name="GetCustomer">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="customerId" type="xsd:long"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="GetCustomerResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="customer">
            <xsd:complexType>
              <xsd:sequence>
                <xsd:element name="name" type="xsd:string"/>
                <xsd:element name="email" type="xsd:string"/>
                <xsd:element name="tier" type="xsd:string"/>
                <xsd:element name="phone" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>
                <xsd:element name="since" type="xsd:date"/>
              </xsd:sequence>
              <xsd:attribute name="id" type="xsd:long"/>
              <xsd:attribute name="status" type="xsd:string"/>
            </xsd:complexType>
          </xsd:element>
          <xsd:element name="servedBy" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="GetCustomerInput"><part name="parameters" element="tns:GetCustomer"/></message>
  <message name="GetCustomerOutput"><part name="parameters" element="tns:GetCustomerResponse"/></message>
  <portType name="CustomerPortType">
    <operation name="GetCustomer">
      <input message="tns:GetCustomerInput"/><output message="tns:GetCustomerOutput"/>
    </operation>
  </portType>
  <binding name="CustomerBinding" type="tns:CustomerPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="GetCustomer">
      <soap:operation soapAction="urn:demo:customers:GetCustomer"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="CustomerService">
    <port name="CustomerPort" binding="tns:CustomerBinding">
      <soap:address location="http://127.0.0.1/soap/customers"/>
    </port>
  </service>
</definitions>
)";

struct Customer {
  long long id;
  const char* name;
  const char* email;
  const char* tier;
  const char* phones[2];
  const char* since;
};

constexpr Customer kCustomers[] = {
    {42, "Ada Lovelace", "ada@example.com", "gold",
     {"+44 20 7946 0001", "+44 20 7946 0002"}, "1843-07-01"},
    {7, "Grace Hopper", "grace@example.com", "silver", {"+1 202 555 0107", nullptr}, "1952-05-01"},
};

std::string_view localName(std::string_view q) {
  const size_t c = q.find(':');
  return c == std::string_view::npos ? q : q.substr(c + 1);
}

pugi::xml_node findLocal(pugi::xml_node n, std::string_view local) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && localName(c.name()) == local) {
      return c;
    }
  }
  return {};
}

std::string envelope(bool v12, const std::string& body) {
  return std::string("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"") +
         (v12 ? kSoap12 : kSoap11) + "\"><soap:Body>" + body + "</soap:Body></soap:Envelope>\n";
}

EndpointResponse fault(bool v12, bool client, const std::string& text) {
  EndpointResponse out;
  out.content_type = v12 ? "application/soap+xml; charset=utf-8" : "text/xml; charset=utf-8";
  if (v12) {
    out.status = client ? 400 : 500;
    out.body = envelope(true, std::string("<soap:Fault><soap:Code><soap:Value>soap:") +
                                  (client ? "Sender" : "Receiver") +
                                  "</soap:Value></soap:Code><soap:Reason><soap:Text "
                                  "xml:lang=\"en\">" + text +
                                  "</soap:Text></soap:Reason></soap:Fault>");
  } else {
    out.status = 500;
    out.body = envelope(false, std::string("<soap:Fault><faultcode>soap:") +
                                   (client ? "Client" : "Server") + "</faultcode><faultstring>" +
                                   text + "</faultstring></soap:Fault>");
  }
  return out;
}

EndpointResponse xmlAnswer(std::string body) {
  EndpointResponse out;
  out.content_type = "text/xml; charset=utf-8";
  out.body = std::move(body);
  return out;
}

// The answers that test a gateway's XML safety and error handling.
bool hostile(long long id, const EndpointRequest& r, EndpointResponse& out) {
  const std::string ok_tail =
      "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
      "<c:GetCustomerResponse xmlns:c=\"urn:demo:customers\"><c:customer><c:name>&x;</c:name>"
      "</c:customer></c:GetCustomerResponse></soap:Body></soap:Envelope>\n";
  switch (id) {
  case -666: {
    std::string dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE soap:Envelope [\n <!ENTITY l0 \"lol\">\n";
    for (int i = 1; i <= 9; i++) {
      dtd += " <!ENTITY l" + std::to_string(i) + " \"";
      for (int k = 0; k < 10; k++) {
        dtd += "&l" + std::to_string(i - 1) + ";";
      }
      dtd += "\">\n";
    }
    dtd += " <!ENTITY x \"&l9;\">\n]>\n";
    out = xmlAnswer(dtd + ok_tail);
    return true;
  }
  case -667:
    out = xmlAnswer("<?xml version=\"1.0\"?>\n<!DOCTYPE soap:Envelope [\n <!ENTITY x SYSTEM "
                    "\"file:///etc/passwd\">\n]>\n" + ok_tail);
    return true;
  case -668: {
    const std::string* host = findHeader(r.headers, "host");
    out = xmlAnswer("<?xml version=\"1.0\"?>\n<!DOCTYPE soap:Envelope [\n <!ENTITY x SYSTEM "
                    "\"http://" + (host != nullptr ? *host : std::string("127.0.0.1:1")) +
                    "/soap/xxe-fetched\">\n]>\n" + ok_tail);
    return true;
  }
  case -669: {
    std::string deep;
    for (int i = 0; i < 10000; i++) {
      deep += "<d>";
    }
    for (int i = 0; i < 10000; i++) {
      deep += "</d>";
    }
    out = xmlAnswer(envelope(false, "<c:GetCustomerResponse xmlns:c=\"urn:demo:customers\">" +
                                        deep + "</c:GetCustomerResponse>"));
    return true;
  }
  case -670:
    out.status = 500;
    out.content_type = "text/html";
    out.body = "<html><body><h1>500 Internal Server Error</h1><br></body></html>\n";
    return true;
  case -671:
    out.hang = true;
    return true;
  case -672: {
    std::string notes;
    notes.reserve(2u << 20);
    while (notes.size() < (2u << 20)) {
      notes += "<c:note>padding padding padding padding padding padding</c:note>";
    }
    out = xmlAnswer(envelope(false, "<c:GetCustomerResponse xmlns:c=\"urn:demo:customers\">" +
                                        notes + "</c:GetCustomerResponse>"));
    return true;
  }
  case -673:
    out = xmlAnswer(envelope(false, "<c:UnexpectedResponse xmlns:c=\"urn:demo:customers\"/>"));
    return true;
  }
  return false;
}

}  // namespace

EndpointResponse serveSoapCustomers(const EndpointRequest& r) {
  if (r.method == "GET") {
    EndpointResponse out;
    out.content_type = "text/xml; charset=utf-8";
    out.body = kWsdl;
    return out;
  }
  const std::string* ct = findHeader(r.headers, "content-type");
  const bool v12 = ct != nullptr && ct->find("application/soap+xml") != std::string::npos;
  if (!v12) {
    const std::string* action = findHeader(r.headers, "soapaction");
    if (action == nullptr || *action != "\"urn:demo:customers:GetCustomer\"") {
      return fault(false, true, "unknown SOAPAction (expected \"urn:demo:customers:GetCustomer\")");
    }
  } else if (ct->find("action=\"urn:demo:customers:GetCustomer\"") == std::string::npos) {
    return fault(true, true, "unknown action (expected urn:demo:customers:GetCustomer)");
  }
  if (r.body.find("<!DOCTYPE") != std::string_view::npos) {
    return fault(v12, true, "DOCTYPE not allowed");
  }
  pugi::xml_document doc;
  if (!doc.load_buffer(r.body.data(), r.body.size())) {
    return fault(v12, true, "malformed request: not XML");
  }
  pugi::xml_node env = doc.document_element();
  pugi::xml_node op = findLocal(findLocal(env, "Body"), "GetCustomer");
  if (localName(env.name()) != "Envelope" || !op) {
    return fault(v12, true, "malformed request: no Envelope/Body/GetCustomer");
  }
  const std::string text = findLocal(op, "customerId").text().as_string();
  char* end = nullptr;
  const long long id = text.empty() ? 0 : strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0') {
    return fault(v12, true, "customerId must be an integer");
  }
  EndpointResponse out;
  if (hostile(id, r, out)) {
    return out;
  }
  if (id == -500) {
    return fault(v12, false, "customer database unavailable");
  }
  for (const Customer& c : kCustomers) {
    if (c.id != id) {
      continue;
    }
    std::string body = "<c:GetCustomerResponse xmlns:c=\"urn:demo:customers\"><c:customer id=\"" +
                       std::to_string(c.id) + "\" status=\"active\"><c:name>" + c.name +
                       "</c:name><c:email>" + c.email + "</c:email><c:tier>" + c.tier +
                       "</c:tier>";
    for (const char* p : c.phones) {
      if (p != nullptr) {
        body += std::string("<c:phone>") + p + "</c:phone>";
      }
    }
    body += std::string("<c:since>") + c.since + "</c:since></c:customer><c:servedBy>" +
            std::string(r.instance) + "</c:servedBy></c:GetCustomerResponse>";
    out.content_type = v12 ? "application/soap+xml; charset=utf-8" : "text/xml; charset=utf-8";
    out.body = envelope(v12, body);
    return out;
  }
  return fault(v12, true, "Customer " + std::to_string(id) + " does not exist");
}

}  // namespace demo
