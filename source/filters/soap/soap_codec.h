#pragma once
// The `soap` filter's two conversions, free of any request state (unit-tested and fuzzed alone):
// - a JSON request body -> a SOAP 1.1 / 1.2 envelope (the mapping rules, or a body template with
//   {{/json/pointer}} placeholders);
// - a SOAP response -> the response element as JSON, or the Fault's code and string.
// JSON is read with RapidJSON (numbers keep their text), XML with pugixml (no DTD, no entities
// beyond the five predefined ones; a document with a DOCTYPE is refused before parsing).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::filters::soap {

enum class SoapVersion : uint8_t { V11, V12 };

inline constexpr absl::string_view kSoap11Namespace = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr absl::string_view kSoap12Namespace = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr absl::string_view kXsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";

// A body template: XML text with {{/json/pointer}} placeholders (RFC 6901), parsed once.
class BodyTemplate {
public:
  ~BodyTemplate();
  BodyTemplate(BodyTemplate&&) noexcept;
  // Errors name what is wrong ("unclosed placeholder at offset 12", "not well-formed XML: ...").
  static absl::StatusOr<BodyTemplate> parse(absl::string_view text);
  size_t placeholders() const;

private:
  friend class RequestBuilder;
  struct Piece;
  BodyTemplate();
  std::vector<Piece> pieces_;
};

struct RequestOptions {
  SoapVersion version = SoapVersion::V11;
  std::string operation;  // the operation element's name
  std::string ns;         // its namespace (the default namespace of the element)
  const BodyTemplate* body_template = nullptr;  // when set, it is the content of soap:Body
  uint32_t max_depth = 32;
};

// Why a request could not be built. InvalidJson: 400 invalid_json; the others 400 with `code`.
struct RequestError {
  bool invalid_json = false;
  std::string code;     // "soap_invalid_request", "soap_missing_field" (not InvalidJson)
  std::string message;
};

// An XML element or attribute name the codec writes: a letter or '_', then letters, digits,
// '_', '-' or '.' (no namespace prefix).
bool isXmlName(absl::string_view n);

// Builds the whole envelope (XML declaration, Envelope, Body) for `json` into `out`.
// The mapping rules (docs/config-reference.md, `soap`): the body must be a JSON object; each
// member becomes a child element of the operation element (in its namespace); an object becomes
// an element whose members are its children, with "@name" members as attributes and "#text" as
// its text; an array becomes the element repeated once per item (arrays of arrays are refused);
// strings and numbers (their exact text) become escaped text, true/false "true"/"false", null an
// empty element with xsi:nil="true". Names must be XML names ([A-Za-z_][A-Za-z0-9._-]*).
bool buildRequest(absl::string_view json, const RequestOptions& options, std::string& out,
                  RequestError& error);

struct ResponseOptions {
  std::string response_element;  // the expected local name of soap:Body's child
  bool keep_namespaces = false;
  absl::flat_hash_set<std::string> array_elements;  // names always converted to arrays
  uint32_t max_depth = 32;
};

struct SoapResult {
  enum class Kind : uint8_t {
    Ok,        // json: the response element's content as a JSON object
    Fault,     // fault_code / fault_string / client_fault
    Rejected,  // unsafe XML: a DOCTYPE (DTD, entities), too deep; `error` says which
    Invalid,   // not XML, not a SOAP envelope, no Body, another element than expected
  };
  Kind kind = Kind::Invalid;
  SoapVersion version = SoapVersion::V11;  // of the envelope that answered
  std::string json;
  std::string fault_code;    // 1.1 faultcode, 1.2 Code/Value, as written (e.g. "soap:Client")
  std::string fault_string;  // 1.1 faultstring, 1.2 the first Reason/Text
  bool client_fault = false; // the code's local part is Client (or Client.*) / Sender
  std::string error;
};

// Either SOAP version's envelope is accepted (the namespace says which). The conversion rules of
// an element (docs/config-reference.md): an element without attributes or child elements is its
// text (a string; xsi:nil="true" gives null); otherwise an object with "@name" for each attribute
// and one member per child element name (in the order each name first appears), whose value is
// an array when the name repeats or is in array_elements; text beside child elements or
// attributes is "#text". Namespace prefixes are dropped (and xmlns attributes left out) unless
// keep_namespaces. The response element itself always becomes an object.
SoapResult parseResponse(absl::string_view xml, const ResponseOptions& options);

} // namespace gw::filters::soap
