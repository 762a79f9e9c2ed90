// SOAP response -> JSON or a Fault (soap_codec.h: parseResponse).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pugixml.hpp"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "source/filters/soap/soap_codec.h"

namespace gw::filters::soap {
namespace {

// Strings are checked with isValidUtf8 before they reach the writer: RapidJSON 1.1's own check
// (kWriteValidateEncodingFlag) reads a truncated multi-byte sequence past the string's end
// (found by soap_xml_fuzz; test/fuzz/regressions/soap_xml_fuzz).
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) {
      return false;
    }
    for (size_t k = 2; k < len; k++) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) {
        return false;
      }
    }
    i += len;
  }
  return true;
}

absl::string_view nameOf(pugi::xml_node n) { return n.name(); }

absl::string_view localName(absl::string_view qname) {
  const size_t colon = qname.find(':');
  return colon == absl::string_view::npos ? qname : qname.substr(colon + 1);
}

absl::string_view prefixOf(absl::string_view qname) {
  const size_t colon = qname.find(':');
  return colon == absl::string_view::npos ? absl::string_view() : qname.substr(0, colon);
}

// The namespace URI an element's prefix (or the default namespace) is bound to, from the xmlns
// attributes of it and its ancestors; "" when unbound.
absl::string_view namespaceOf(pugi::xml_node n) {
  const absl::string_view prefix = prefixOf(nameOf(n));
  const std::string attr = prefix.empty() ? std::string("xmlns") : absl::StrCat("xmlns:", prefix);
  for (pugi::xml_node p = n; p && p.type() == pugi::node_element; p = p.parent()) {
    if (pugi::xml_attribute a = p.attribute(attr.c_str())) {
      return a.value();
    }
  }
  return "";
}

bool isXmlnsAttribute(absl::string_view name) {
  return name == "xmlns" || absl::StartsWith(name, "xmlns:");
}

// The first child element whose local name is `local` (any namespace), or an empty node.
pugi::xml_node childByLocalName(pugi::xml_node n, absl::string_view local) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && localName(nameOf(c)) == local) {
      return c;
    }
  }
  return {};
}

pugi::xml_node firstElement(pugi::xml_node n) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element) {
      return c;
    }
  }
  return {};
}

// The concatenated text and CDATA children of `n`.
std::string textOf(pugi::xml_node n) {
  std::string out;
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      out.append(c.value());
    }
  }
  return out;
}

bool allWhitespace(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isspace(c); });
}

// The deepest element nesting of the document, walked without recursion; stops counting past
// `limit`.
uint32_t depthOf(const pugi::xml_document& doc, uint32_t limit) {
  uint32_t depth = 0, deepest = 0;
  pugi::xml_node n = doc.first_child();
  while (n) {
    if (n.type() == pugi::node_element) {
      deepest = std::max(deepest, depth + 1);
      if (deepest > limit) {
        return deepest;
      }
    }
    if (n.type() == pugi::node_element && n.first_child()) {
      n = n.first_child();
      depth++;
      continue;
    }
    while (n && !n.next_sibling()) {
      n = n.parent();
      if (n.type() == pugi::node_document) {
        return deepest;
      }
      depth--;
    }
    if (n) {
      n = n.next_sibling();
    }
  }
  return deepest;
}

class Converter {
public:
  // scratch_ is sized once: parseResponse has checked the depth, so it never grows and the
  // per-depth vectors never move while a caller iterates over its own.
  Converter(const ResponseOptions& o, JsonWriter& w)
      : o_(o), w_(w), scratch_(static_cast<size_t>(o.max_depth) + 4) {}

  // The element's attributes, child elements and text as one JSON object.
  bool object(pugi::xml_node n, uint32_t depth) {
    if (!w_.StartObject()) {
      return false;
    }
    for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
      const absl::string_view name = a.name();
      if (isXmlnsAttribute(name) && !o_.keep_namespaces) {
        continue;
      }
      const absl::string_view shown = o_.keep_namespaces ? name : localName(name);
      key_.assign("@");
      key_.append(shown.data(), shown.size());
      if (!isValidUtf8(key_) ||
          !w_.Key(key_.data(), static_cast<rapidjson::SizeType>(key_.size())) ||
          !string(a.value())) {
        return false;
      }
    }
    // Child elements grouped by their JSON name, groups in the order each name first appears.
    if (depth >= scratch_.size()) {
      return false;  // not reached: the depth was checked before converting
    }
    std::vector<Child>& kids = scratch_[depth];
    kids.clear();
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
      if (c.type() == pugi::node_element) {
        const absl::string_view q = nameOf(c);
        kids.push_back({o_.keep_namespaces ? q : localName(q), kids.size(), c});
      }
    }
    std::stable_sort(kids.begin(), kids.end(),
                     [](const Child& a, const Child& b) { return a.name < b.name; });
    // first: the position of each group's first element, to order the groups.
    for (size_t i = 0; i < kids.size();) {
      size_t j = i;
      while (j < kids.size() && kids[j].name == kids[i].name) {
        kids[j].first = kids[i].position;
        j++;
      }
      i = j;
    }
    std::stable_sort(kids.begin(), kids.end(),
                     [](const Child& a, const Child& b) { return a.first < b.first; });
    for (size_t i = 0; i < kids.size();) {
      size_t j = i;
      while (j < kids.size() && kids[j].first == kids[i].first) {
        j++;
      }
      // [i, j): one name.
      const absl::string_view name = kids[i].name;
      if (!isValidUtf8(name) ||
          !w_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()))) {
        return false;
      }
      const bool as_array = j - i > 1 || o_.array_elements.contains(name);
      if (as_array && !w_.StartArray()) {
        return false;
      }
      for (size_t k = i; k < j; k++) {
        if (!value(kids[k].node, depth + 1)) {
          return false;
        }
      }
      if (as_array && !w_.EndArray()) {
        return false;
      }
      i = j;
    }
    const std::string text = textOf(n);
    if (!allWhitespace(text)) {
      if (!w_.Key("#text", 5) || !string(text)) {
        return false;
      }
    }
    return w_.EndObject();
  }

private:
  struct Child {
    absl::string_view name;
    size_t position;
    pugi::xml_node node;
    size_t first = 0;
  };

  bool string(absl::string_view s) {
    return isValidUtf8(s) && w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }

  static bool isNil(pugi::xml_node n) {
    for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
      if (localName(a.name()) == "nil" && prefixOf(a.name()) != "" &&
          (absl::string_view(a.value()) == "true" || absl::string_view(a.value()) == "1")) {
        return true;
      }
    }
    return false;
  }

  bool value(pugi::xml_node n, uint32_t depth) {
    if (isNil(n) && !firstElement(n)) {
      return w_.Null();
    }
    bool has_attributes = false;
    for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
      if (o_.keep_namespaces || !isXmlnsAttribute(a.name())) {
        has_attributes = true;
        break;
      }
    }
    if (!has_attributes && !firstElement(n)) {
      return string(textOf(n));
    }
    return object(n, depth);
  }

  const ResponseOptions& o_;
  JsonWriter& w_;
  std::string key_;
  std::vector<std::vector<Child>> scratch_;  // per depth, reused
};

SoapResult fail(SoapResult::Kind kind, std::string why) {
  SoapResult r;
  r.kind = kind;
  r.error = std::move(why);
  return r;
}

std::string trimmed(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

void readFault(pugi::xml_node fault, SoapResult& r) {
  r.kind = SoapResult::Kind::Fault;
  if (r.version == SoapVersion::V11) {
    r.fault_code = trimmed(textOf(childByLocalName(fault, "faultcode")));
    r.fault_string = trimmed(textOf(childByLocalName(fault, "faultstring")));
    const absl::string_view local = localName(r.fault_code);
    r.client_fault = local == "Client" || absl::StartsWith(local, "Client.");
  } else {
    r.fault_code = trimmed(textOf(childByLocalName(childByLocalName(fault, "Code"), "Value")));
    r.fault_string =
        trimmed(textOf(childByLocalName(childByLocalName(fault, "Reason"), "Text")));
    r.client_fault = localName(r.fault_code) == "Sender";
  }
}

} // namespace

SoapResult parseResponse(absl::string_view xml, const ResponseOptions& options) {
  // No DTD of any kind: refused before the parser sees it (pugixml would skip a DOCTYPE and
  // never expand its entities, but a document that declares any is not a SOAP message, SOAP 1.1
  // 3 and 1.2 part 1 5). The search is bytewise: a DOCTYPE inside a CDATA section is refused too.
  if (absl::StrContains(xml, "<!DOCTYPE") || absl::StrContains(xml, "<!ENTITY")) {
    return fail(SoapResult::Kind::Rejected, "the response declares a DOCTYPE or an ENTITY");
  }
  pugi::xml_document doc;
  // parse_doctype: a DOCTYPE the byte search missed (another encoding) becomes a node, refused
  // below. Comments and processing instructions are skipped.
  const pugi::xml_parse_result pr =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_doctype);
  if (!pr) {
    return fail(SoapResult::Kind::Invalid, absl::StrCat("the response is not well-formed XML: ",
                                                        pr.description(), " at offset ",
                                                        pr.offset));
  }
  for (pugi::xml_node c = doc.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_doctype) {
      return fail(SoapResult::Kind::Rejected, "the response declares a DOCTYPE");
    }
  }
  // The envelope adds two levels (Envelope, Body) above the response element.
  const uint32_t limit = options.max_depth + 2;
  if (depthOf(doc, limit) > limit) {
    return fail(SoapResult::Kind::Rejected,
                absl::StrCat("the response nests elements deeper than max_depth (",
                             options.max_depth, ")"));
  }
  const pugi::xml_node env = doc.document_element();
  if (localName(nameOf(env)) != "Envelope") {
    return fail(SoapResult::Kind::Invalid,
                absl::StrCat("the response is not a SOAP envelope (root element '",
                             nameOf(env), "')"));
  }
  SoapResult r;
  const absl::string_view ns = namespaceOf(env);
  if (ns == kSoap11Namespace) {
    r.version = SoapVersion::V11;
  } else if (ns == kSoap12Namespace) {
    r.version = SoapVersion::V12;
  } else {
    return fail(SoapResult::Kind::Invalid,
                absl::StrCat("the Envelope's namespace '", ns, "' is neither SOAP 1.1's nor 1.2's"));
  }
  pugi::xml_node body;
  for (pugi::xml_node c = env.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && localName(nameOf(c)) == "Body" &&
        namespaceOf(c) == ns) {
      body = c;
      break;
    }
  }
  if (!body) {
    return fail(SoapResult::Kind::Invalid, "the envelope has no Body");
  }
  const pugi::xml_node first = firstElement(body);
  if (!first) {
    return fail(SoapResult::Kind::Invalid, "the Body is empty");
  }
  if (localName(nameOf(first)) == "Fault" && namespaceOf(first) == ns) {
    readFault(first, r);
    return r;
  }
  if (localName(nameOf(first)) != options.response_element) {
    return fail(SoapResult::Kind::Invalid,
                absl::StrCat("the Body holds '", localName(nameOf(first)), "', expected '",
                             options.response_element, "'"));
  }
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  Converter conv(options, w);
  if (!conv.object(first, 1)) {
    return fail(SoapResult::Kind::Invalid, "the response has text that is not valid UTF-8");
  }
  r.kind = SoapResult::Kind::Ok;
  r.json.assign(buf.GetString(), buf.GetSize());
  return r;
}

} // namespace gw::filters::soap
