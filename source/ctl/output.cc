#include "source/ctl/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/json_util.h"
#include "source/common/json.h"

namespace gw::ctl {
namespace {

// yaml-cpp reads JSON (a YAML 1.2 subset) keeping key order; a quoted scalar has the tag "!", a
// plain one "?", which tells strings from numbers, booleans and null.
absl::StatusOr<Doc> fromYamlNode(const YAML::Node& node) {
  switch (node.Type()) {
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    return Doc();
  case YAML::NodeType::Scalar: {
    const std::string& s = node.Scalar();
    if (node.Tag() == "!") {
      return Doc::string(s);
    }
    if (s == "true" || s == "false") {
      return Doc::boolean(s == "true");
    }
    if (s == "null") {
      return Doc();
    }
    double d;
    auto res = std::from_chars(s.data(), s.data() + s.size(), d);
    if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
      return absl::InvalidArgumentError(absl::StrCat("not a JSON value: ", s));
    }
    (void)d;
    return Doc::rawNumber(s);
  }
  case YAML::NodeType::Sequence: {
    Doc list = Doc::list();
    for (const auto& item : node) {
      auto v = fromYamlNode(item);
      if (!v.ok()) {
        return v.status();
      }
      list.push(*std::move(v));
    }
    return list;
  }
  case YAML::NodeType::Map: {
    Doc map = Doc::map();
    for (const auto& kv : node) {
      auto v = fromYamlNode(kv.second);
      if (!v.ok()) {
        return v.status();
      }
      map.set(kv.first.Scalar(), *std::move(v));
    }
    return map;
  }
  }
  return Doc();
}

// True when a plain YAML scalar with this text would not be read back as this string.
bool needsQuotes(const std::string& s) {
  if (s.empty()) {
    return true;
  }
  std::string lower = absl::AsciiStrToLower(s);
  static const char* const kSpecial[] = {"true", "false", "yes", "no",   "on",    "off",   "y",
                                         "n",    "null",  "~",   ".inf", "-.inf", "+.inf", ".nan"};
  for (const char* k : kSpecial) {
    if (lower == k) {
      return true;
    }
  }
  // Anything that starts like a number (ints, floats, 0x, 0o, 1_000, dates, 12:30) is quoted:
  // cheaper and safer than reproducing every YAML resolver.
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && (absl::ascii_isdigit(s[i]) || s[i] == '.')) {
    return true;
  }
  // Leading or trailing spaces would be lost in a plain scalar.
  return s.front() == ' ' || s.back() == ' ';
}

void emitString(YAML::Emitter& e, const std::string& s) {
  bool printable = std::all_of(s.begin(), s.end(), [](char c) {
    return c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  });
  if (printable && s.size() > 1 && s.back() == '\n' && s.front() != ' ' &&
      s.find(" \n") == std::string::npos && s.find("\n\n") == std::string::npos) {
    e << YAML::Literal << s;
  } else if (!printable || needsQuotes(s)) {
    e << YAML::DoubleQuoted << s;
  } else {
    e << s;
  }
}

void emitYaml(YAML::Emitter& e, const Doc& d) {
  switch (d.kind()) {
  case Doc::Kind::Null:
    e << YAML::Null;
    return;
  case Doc::Kind::Bool:
  case Doc::Kind::Number:
    e << d.scalar();
    return;
  case Doc::Kind::String:
    emitString(e, d.scalar());
    return;
  case Doc::Kind::List:
    if (d.items().empty()) {
      e << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    e << YAML::BeginSeq;
    for (const auto& item : d.items()) {
      emitYaml(e, item);
    }
    e << YAML::EndSeq;
    return;
  case Doc::Kind::Map:
    if (d.fields().empty()) {
      e << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      return;
    }
    e << YAML::BeginMap;
    for (const auto& [k, v] : d.fields()) {
      e << YAML::Key;
      emitString(e, k);
      e << YAML::Value;
      emitYaml(e, v);
    }
    e << YAML::EndMap;
    return;
  }
}

void appendJson(const Doc& d, int indent, std::string& out) {
  std::string pad(indent + 2, ' ');
  switch (d.kind()) {
  case Doc::Kind::Null:
    out += "null";
    return;
  case Doc::Kind::Bool:
  case Doc::Kind::Number:
    out += d.scalar();
    return;
  case Doc::Kind::String:
    appendJsonString(d.scalar(), out);
    return;
  case Doc::Kind::List:
    if (d.items().empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < d.items().size(); i++) {
      out += pad;
      appendJson(d.items()[i], indent + 2, out);
      out += i + 1 < d.items().size() ? ",\n" : "\n";
    }
    out.append(indent, ' ');
    out += "]";
    return;
  case Doc::Kind::Map:
    if (d.fields().empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    for (size_t i = 0; i < d.fields().size(); i++) {
      out += pad;
      appendJsonString(d.fields()[i].first, out);
      out += ": ";
      appendJson(d.fields()[i].second, indent + 2, out);
      out += i + 1 < d.fields().size() ? ",\n" : "\n";
    }
    out.append(indent, ' ');
    out += "}";
    return;
  }
}

} // namespace

Doc Doc::boolean(bool b) {
  Doc d;
  d.kind_ = Kind::Bool;
  d.scalar_ = b ? "true" : "false";
  return d;
}

Doc Doc::number(int64_t n) {
  Doc d;
  d.kind_ = Kind::Number;
  d.scalar_ = std::to_string(n);
  return d;
}

Doc Doc::number(uint64_t n) {
  Doc d;
  d.kind_ = Kind::Number;
  d.scalar_ = std::to_string(n);
  return d;
}

Doc Doc::number(double v) {
  if (!std::isfinite(v)) {
    return Doc();  // JSON has no NaN / Infinity
  }
  Doc d;
  d.kind_ = Kind::Number;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  d.scalar_.assign(buf, res.ptr);
  return d;
}

Doc Doc::rawNumber(std::string text) {
  Doc d;
  d.kind_ = Kind::Number;
  d.scalar_ = std::move(text);
  return d;
}

Doc Doc::string(std::string s) {
  Doc d;
  d.kind_ = Kind::String;
  d.scalar_ = std::move(s);
  return d;
}

Doc Doc::list() {
  Doc d;
  d.kind_ = Kind::List;
  return d;
}

Doc Doc::map() {
  Doc d;
  d.kind_ = Kind::Map;
  return d;
}

Doc Doc::fromMessage(const google::protobuf::Message& message, bool with_defaults) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = with_defaults;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, opts).ok()) {
    return Doc();
  }
  auto doc = fromJson(json);
  return doc.ok() ? *std::move(doc) : Doc();
}

absl::StatusOr<Doc> Doc::fromJson(absl::string_view json) {
  try {
    return fromYamlNode(YAML::Load(std::string(json)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

Doc& Doc::set(const std::string& key, Doc value) {
  kind_ = Kind::Map;
  for (auto& [k, v] : fields_) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  fields_.emplace_back(key, std::move(value));
  return *this;
}

Doc& Doc::push(Doc value) {
  kind_ = Kind::List;
  items_.push_back(std::move(value));
  return *this;
}

const Doc* Doc::find(const std::string& key) const {
  for (const auto& [k, v] : fields_) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

std::string toJson(const Doc& doc) {
  std::string out;
  appendJson(doc, 0, out);
  out.push_back('\n');
  return out;
}

std::string toYaml(const Doc& doc) {
  YAML::Emitter e;
  e.SetIndent(2);
  emitYaml(e, doc);
  std::string out = e.c_str();
  if (out.empty() || out.back() != '\n') {
    out.push_back('\n');
  }
  return out;
}

std::string renderStructured(const Doc& doc, OutputFormat format) {
  return format == OutputFormat::Yaml ? toYaml(doc) : toJson(doc);
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::addRow(std::vector<std::string> row) {
  for (auto& cell : row) {
    absl::StrReplaceAll({{"\r\n", " "}, {"\n", " "}, {"\r", " "}, {"\t", " "}}, &cell);
  }
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) {
      widths.resize(row.size(), 0);
    }
    for (size_t i = 0; i < row.size(); i++) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out.push_back('\n');
  }
  return out;
}

} // namespace gw::ctl
