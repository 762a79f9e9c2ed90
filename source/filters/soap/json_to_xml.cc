// JSON request body -> SOAP envelope (soap_codec.h: buildRequest, BodyTemplate).
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pugixml.hpp"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/pointer.h"
#include "source/filters/soap/soap_codec.h"

namespace gw::filters::soap {

bool isXmlName(absl::string_view n) {
  if (n.empty()) {
    return false;
  }
  for (size_t i = 0; i < n.size(); i++) {
    const char c = n[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool more = (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!(alpha || (i > 0 && more))) {
      return false;
    }
  }
  return true;
}

// A literal piece of the template, or a placeholder (pointer set).
struct BodyTemplate::Piece {
  std::string literal;
  std::string pointer_text;  // "/customer/id"
  std::unique_ptr<rapidjson::Pointer> pointer;
};

BodyTemplate::BodyTemplate() = default;
BodyTemplate::~BodyTemplate() = default;
BodyTemplate::BodyTemplate(BodyTemplate&&) noexcept = default;

size_t BodyTemplate::placeholders() const {
  size_t n = 0;
  for (const Piece& p : pieces_) {
    n += p.pointer != nullptr ? 1 : 0;
  }
  return n;
}

absl::StatusOr<BodyTemplate> BodyTemplate::parse(absl::string_view text) {
  BodyTemplate t;
  std::string probe;  // the template with every placeholder as "x", checked as XML below
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) {
      break;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unclosed placeholder at offset ", open, " (expected '}}')"));
    }
    absl::string_view ptr = text.substr(open + 2, close - open - 2);
    if (ptr.empty() || ptr[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "placeholder '{{", ptr, "}}' at offset ", open,
          " must be a JSON Pointer starting with '/', e.g. {{/customerId}}"));
    }
    auto pointer = std::make_unique<rapidjson::Pointer>(ptr.data(), ptr.size());
    if (!pointer->IsValid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("placeholder '{{", ptr, "}}' is not a valid JSON Pointer"));
    }
    Piece lit;
    lit.literal = std::string(text.substr(pos, open - pos));
    probe.append(lit.literal);
    probe.append("x");
    t.pieces_.push_back(std::move(lit));
    Piece ph;
    ph.pointer_text = std::string(ptr);
    ph.pointer = std::move(pointer);
    t.pieces_.push_back(std::move(ph));
    pos = close + 2;
  }
  if (pos < text.size()) {
    Piece lit;
    lit.literal = std::string(text.substr(pos));
    probe.append(lit.literal);
    t.pieces_.push_back(std::move(lit));
  }
  if (absl::StrContains(probe, "<!DOCTYPE") || absl::StrContains(probe, "<!ENTITY")) {
    return absl::InvalidArgumentError("must not contain a DOCTYPE or ENTITY declaration");
  }
  pugi::xml_document doc;
  const pugi::xml_parse_result r = doc.load_buffer(
      probe.data(), probe.size(), pugi::parse_default | pugi::parse_fragment, pugi::encoding_utf8);
  if (!r) {
    return absl::InvalidArgumentError(absl::StrCat("not well-formed XML (placeholders read as "
                                                   "'x'): ", r.description(), " at offset ",
                                                   r.offset));
  }
  if (doc.first_child().type() == pugi::node_null || doc.find_child([](pugi::xml_node n) {
        return n.type() == pugi::node_element;
      }).empty()) {
    return absl::InvalidArgumentError("must contain an element (the content of soap:Body)");
  }
  return t;
}

class RequestBuilder {
public:
  RequestBuilder(const RequestOptions& o, std::string& out, RequestError& e)
      : o_(o), out_(out), e_(e) {}

  bool build(const rapidjson::Value& root) {
    const absl::string_view env =
        o_.version == SoapVersion::V11 ? kSoap11Namespace : kSoap12Namespace;
    out_.append("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"");
    out_.append(env.data(), env.size());
    out_.append("\" xmlns:xsi=\"");
    out_.append(kXsiNamespace.data(), kXsiNamespace.size());
    out_.append("\"><soap:Body>");
    if (o_.body_template != nullptr) {
      if (!fillTemplate(root)) {
        return false;
      }
    } else {
      if (!root.IsObject()) {
        return invalid("", "the request body must be a JSON object");
      }
      out_.push_back('<');
      out_.append(o_.operation);
      out_.append(" xmlns=\"");
      appendEscaped(o_.ns, true);
      out_.push_back('"');
      if (!objectContent(o_.operation, root, 1)) {
        return false;
      }
    }
    out_.append("</soap:Body></soap:Envelope>\n");
    return true;
  }

private:
  bool invalid(absl::string_view where, absl::string_view what,
               absl::string_view code = "soap_invalid_request") {
    e_.code = std::string(code);
    e_.message = where.empty() ? std::string(what) : absl::StrCat(where, ": ", what);
    return false;
  }

  // XML 1.0 text or attribute value; false for characters XML cannot carry (controls but tab,
  // LF, CR).
  bool appendEscaped(absl::string_view s, bool attribute) {
    for (const char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
      case '&': out_.append("&amp;"); break;
      case '<': out_.append("&lt;"); break;
      case '>': out_.append("&gt;"); break;
      case '"': out_.append(attribute ? "&quot;" : "\""); break;
      case '\r': out_.append("&#13;"); break;
      case '\t': out_.append(attribute ? "&#9;" : "\t"); break;
      case '\n': out_.append(attribute ? "&#10;" : "\n"); break;
      default:
        if (c < 0x20) {
          return false;
        }
        out_.push_back(ch);
      }
    }
    return true;
  }

  // The text of a scalar: strings and numbers as they are, booleans "true"/"false", null "".
  static absl::string_view scalarText(const rapidjson::Value& v) {
    if (v.IsString()) {
      return {v.GetString(), v.GetStringLength()};
    }
    if (v.IsTrue()) {
      return "true";
    }
    if (v.IsFalse()) {
      return "false";
    }
    return "";
  }

  bool text(absl::string_view where, const rapidjson::Value& v, bool attribute) {
    if (!appendEscaped(scalarText(v), attribute)) {
      return invalid(where, "contains a control character XML 1.0 cannot carry");
    }
    return true;
  }

  // After "<name" (and its own namespace attribute): the attributes, '>', the text and the
  // child elements of object `v`, and the end tag.
  bool objectContent(absl::string_view name, const rapidjson::Value& v, uint32_t depth) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      absl::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (key.empty() || key[0] != '@') {
        continue;
      }
      absl::string_view attr = key.substr(1);
      if (!isXmlName(attr) || absl::StartsWithIgnoreCase(attr, "xmlns")) {
        return invalid(key, "not an attribute name this mapping accepts");
      }
      if (it->value.IsObject() || it->value.IsArray()) {
        return invalid(key, "an attribute value must be a string, number, boolean or null");
      }
      out_.push_back(' ');
      out_.append(attr.data(), attr.size());
      out_.append("=\"");
      if (!text(key, it->value, true)) {
        return false;
      }
      out_.push_back('"');
    }
    out_.push_back('>');
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      absl::string_view key(it->name.GetString(), it->name.GetStringLength());
      if (!key.empty() && key[0] == '@') {
        continue;
      }
      if (key == "#text") {
        if (it->value.IsObject() || it->value.IsArray()) {
          return invalid(key, "#text must be a string, number, boolean or null");
        }
        if (!text(key, it->value, false)) {
          return false;
        }
        continue;
      }
      if (!element(key, it->value, depth + 1)) {
        return false;
      }
    }
    out_.append("</");
    out_.append(name.data(), name.size());
    out_.push_back('>');
    return true;
  }

  bool element(absl::string_view name, const rapidjson::Value& v, uint32_t depth) {
    if (depth > o_.max_depth) {
      return invalid(name, absl::StrCat("nested deeper than max_depth (", o_.max_depth, ")"));
    }
    if (!isXmlName(name)) {
      return invalid(name, "not an XML element name ([A-Za-z_][A-Za-z0-9._-]*)");
    }
    if (v.IsArray()) {
      for (auto it = v.Begin(); it != v.End(); ++it) {
        if (it->IsArray()) {
          return invalid(name, "an array of arrays has no XML mapping");
        }
        if (!element(name, *it, depth)) {
          return false;
        }
      }
      return true;
    }
    out_.push_back('<');
    out_.append(name.data(), name.size());
    if (v.IsObject()) {
      return objectContent(name, v, depth);
    }
    if (v.IsNull()) {
      out_.append(" xsi:nil=\"true\"/>");
      return true;
    }
    out_.push_back('>');
    if (!text(name, v, false)) {
      return false;
    }
    out_.append("</");
    out_.append(name.data(), name.size());
    out_.push_back('>');
    return true;
  }

  bool fillTemplate(const rapidjson::Value& root) {
    for (const BodyTemplate::Piece& p : o_.body_template->pieces_) {
      if (p.pointer == nullptr) {
        out_.append(p.literal);
        continue;
      }
      const rapidjson::Value* v = p.pointer->Get(root);
      if (v == nullptr) {
        return invalid(p.pointer_text, "missing from the request body", "soap_missing_field");
      }
      if (v->IsObject() || v->IsArray()) {
        return invalid(p.pointer_text, "must be a string, number, boolean or null");
      }
      if (!text(p.pointer_text, *v, true)) {  // attribute escaping: safe in both places
        return false;
      }
    }
    return true;
  }

  const RequestOptions& o_;
  std::string& out_;
  RequestError& e_;
};

bool buildRequest(absl::string_view json, const RequestOptions& options, std::string& out,
                  RequestError& error) {
  rapidjson::Document doc;
  // Numbers keep their text (kParseNumbersAsStringsFlag); the iterative parser keeps deep input
  // off the call stack; invalid UTF-8 is refused.
  constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag;
  doc.Parse<kFlags>(json.data(), json.size());
  if (doc.HasParseError()) {
    error.invalid_json = true;
    error.code = "invalid_json";
    error.message = json.empty() ? std::string("the request body is empty; a JSON object is "
                                               "expected")
                                 : absl::StrCat("the request body is not valid JSON: ",
                                                absl::StripSuffix(rapidjson::GetParseError_En(
                                                                      doc.GetParseError()),
                                                                  "."),
                                                " at offset ", doc.GetErrorOffset());
    return false;
  }
  out.clear();
  out.reserve(json.size() * 2 + 256);
  RequestBuilder b(options, out, error);
  return b.build(doc);
}

} // namespace gw::filters::soap
