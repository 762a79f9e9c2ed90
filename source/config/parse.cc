// Config text (YAML or JSON) -> gateway.v1.Config.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "source/common/json.h"
#include "source/config/config.h"
#include "source/config/field_path.h"
#include "yaml-cpp/yaml.h"

namespace gw::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// ---------------------------------------------------------------------------------------------
// YAML -> JSON, guided by the target message's descriptor
// ---------------------------------------------------------------------------------------------


// YAML 1.2 core schema booleans (not 1.1's yes/no/on/off: "country: NO" stays a string).
bool yamlBool(absl::string_view s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

bool yamlNull(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// A number JSON can carry verbatim: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(absl::string_view s) {
  size_t i = 0;
  auto digits = [&]() {
    const size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) {
      i++;
    }
    return i - start;
  };
  if (i < s.size() && s[i] == '-') {
    i++;
  }
  const size_t start = i;
  const size_t n = digits();
  if (n == 0 || (n > 1 && s[start] == '0')) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    i++;
    if (digits() == 0) {
      return false;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      i++;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == s.size();
}

bool isJsonInteger(absl::string_view s) {
  return isJsonNumber(s) && s.find_first_of(".eE") == absl::string_view::npos;
}

std::string markPrefix(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return "";
  }
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// What JSON a field wants.
enum class Shape { Message, Untyped, String, Duration, Bool, Number, Enum };

struct Expect {
  Shape shape = Shape::Untyped;
  const Descriptor* message = nullptr;  // Shape::Message only
};

Expect expectFor(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
  case FieldDescriptor::CPPTYPE_MESSAGE: {
    const Descriptor* m = field->message_type();
    const std::string& n = m->full_name();
    if (field->is_map() || n == "google.protobuf.Struct" || n == "google.protobuf.Value" ||
        n == "google.protobuf.ListValue" || n == "google.protobuf.Any") {
      return {Shape::Untyped};
    }
    if (n == "google.protobuf.Duration") {
      return {Shape::Duration};
    }
    if (n == "google.protobuf.Timestamp" || n == "google.protobuf.FieldMask") {
      return {Shape::String};
    }
    if (m->file()->name() == "google/protobuf/wrappers.proto") {
      return expectFor(m->FindFieldByName("value"));
    }
    return {Shape::Message, m};
  }
  case FieldDescriptor::CPPTYPE_STRING:
    return {Shape::String};
  case FieldDescriptor::CPPTYPE_BOOL:
    return {Shape::Bool};
  case FieldDescriptor::CPPTYPE_ENUM:
    return {Shape::Enum};
  default:
    return {Shape::Number};
  }
}

const FieldDescriptor* findField(const Descriptor* d, const std::string& key) {
  if (const FieldDescriptor* f = d->FindFieldByName(key); f != nullptr) {
    return f;
  }
  for (int i = 0; i < d->field_count(); i++) {
    if (d->field(i)->json_name() == key) {
      return d->field(i);
    }
  }
  return nullptr;
}

class YamlToJson {
public:
  absl::Status convert(const YAML::Node& root, const Descriptor* type) {
    return convertValue(root, {Shape::Message, type}, "", 0);
  }
  const std::string& json() const { return out_; }

  // The YAML position of `path` (or of its closest recorded ancestor), "" if unknown.
  std::string locate(absl::string_view path) const {
    std::string p(path);
    while (true) {
      if (auto it = marks_.find(p); it != marks_.end()) {
        return markPrefix(it->second);
      }
      const size_t cut = p.find_last_of(".[");
      if (cut == std::string::npos || cut == 0) {
        return "";
      }
      p.resize(cut);
    }
  }

private:
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxJsonBytes = 64 << 20;

  absl::Status fail(const YAML::Node& node, absl::string_view path, absl::string_view msg) {
    return absl::InvalidArgumentError(
        absl::StrCat(markPrefix(node.Mark()), path.empty() ? "" : absl::StrCat(path, ": "), msg));
  }

  absl::Status convertValue(const YAML::Node& node, const Expect& expect, const std::string& path,
                            int depth) {
    if (depth > kMaxDepth) {
      return fail(node, path, "nesting too deep (or a recursive alias)");
    }
    if (out_.size() > kMaxJsonBytes) {
      return fail(node, path, "config too large (alias expansion?)");
    }
    if (!path.empty()) {
      marks_.emplace(path, node.Mark());
    }
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out_ += "null";
      return absl::OkStatus();
    case YAML::NodeType::Scalar:
      return emitScalar(node, expect.shape, path);
    case YAML::NodeType::Sequence: {
      // A sequence where one value is expected: keep the element type; protobuf reports it.
      out_.push_back('[');
      for (size_t i = 0; i < node.size(); i++) {
        if (i > 0) {
          out_.push_back(',');
        }
        if (auto st = convertValue(node[i], expect, absl::StrCat(path, "[", i, "]"), depth + 1);
            !st.ok()) {
          return st;
        }
      }
      out_.push_back(']');
      return absl::OkStatus();
    }
    case YAML::NodeType::Map:
      return convertMap(node, expect, path, depth);
    }
    return absl::OkStatus();
  }

  absl::Status convertMap(const YAML::Node& node, const Expect& expect, const std::string& path,
                          int depth) {
    // Explicit keys first (in order), then keys from merge keys (`<<: *anchor`) not already set.
    std::vector<std::pair<YAML::Node, YAML::Node>> entries;
    std::map<std::string, YAML::Mark> seen;
    std::vector<YAML::Node> merges;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy: yaml-cpp's iterator returns a proxy, so a reference would dangle.
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        return fail(key, path, "map keys must be scalars");
      }
      if (key.Tag() == "?" && key.Scalar() == "<<") {
        merges.push_back(it->second);
        continue;
      }
      if (auto [prev, inserted] = seen.emplace(key.Scalar(), key.Mark()); !inserted) {
        return fail(key, path,
                    absl::StrCat("duplicate key '", key.Scalar(), "' (first at line ",
                                 prev->second.line + 1, ")"));
      }
      entries.emplace_back(key, it->second);
    }
    for (const YAML::Node& merge : merges) {
      std::vector<YAML::Node> sources;
      if (merge.IsMap()) {
        sources.push_back(merge);
      } else if (merge.IsSequence()) {
        for (const auto& s : merge) {
          sources.push_back(s);
        }
      }
      for (const YAML::Node& src : sources) {
        if (!src.IsMap()) {
          return fail(merge, path, "'<<' (merge key) needs a map or a list of maps");
        }
        for (auto it = src.begin(); it != src.end(); ++it) {
          if (it->first.IsScalar() && seen.emplace(it->first.Scalar(), it->first.Mark()).second) {
            entries.emplace_back(it->first, it->second);
          }
        }
      }
      if (sources.empty()) {
        return fail(merge, path, "'<<' (merge key) needs a map or a list of maps");
      }
    }

    out_.push_back('{');
    bool first = true;
    for (const auto& [key, value] : entries) {
      if (!first) {
        out_.push_back(',');
      }
      first = false;
      const std::string& name = key.Scalar();
      const std::string child = joinPath(path, name);
      appendJsonString(name, out_);
      out_.push_back(':');
      if (expect.shape != Shape::Message) {
        if (auto st = convertValue(value, {Shape::Untyped}, child, depth + 1); !st.ok()) {
          return st;
        }
        continue;
      }
      const FieldDescriptor* field = findField(expect.message, name);
      if (field == nullptr) {
        return fail(key, child,
                    absl::StrCat("unknown field (", expect.message->full_name(), " has no '",
                                 name, "')"));
      }
      if (auto st = convertValue(value, expectFor(field), child, depth + 1); !st.ok()) {
        return st;
      }
    }
    out_.push_back('}');
    return absl::OkStatus();
  }

  absl::Status emitScalar(const YAML::Node& node, Shape shape, const std::string& path) {
    const std::string& s = node.Scalar();
    // "?" = plain (unquoted, untagged); quoted scalars are "!", explicit tags their own name.
    const bool plain = node.Tag() == "?";
    bool b = false;
    if (plain && yamlNull(s)) {
      out_ += "null";
      return absl::OkStatus();
    }
    switch (shape) {
    case Shape::String:
      break;
    case Shape::Duration:
      if (!absl::EndsWith(s, "s") || absl::EndsWith(s, "ms") || absl::EndsWith(s, "us") ||
          absl::EndsWith(s, "ns")) {
        return fail(node, path,
                    absl::StrCat("invalid duration '", s,
                                 "': write seconds with an 's' suffix, e.g. 5s, 0.25s, 300s"));
      }
      break;
    case Shape::Bool:
      // Strictly true/false: protobuf would also take "yes", "n", "1" ... from a string.
      if (!plain || !yamlBool(s, &b)) {
        return fail(node, path, absl::StrCat("expected true or false, got '", s, "'"));
      }
      out_ += b ? "true" : "false";
      return absl::OkStatus();
    case Shape::Number:
      if (plain && isJsonNumber(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    case Shape::Enum:
      if (plain && isJsonInteger(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    case Shape::Message:
    case Shape::Untyped:
      if (plain && yamlBool(s, &b)) {
        out_ += b ? "true" : "false";
        return absl::OkStatus();
      }
      if (plain && isJsonNumber(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    }
    appendJsonString(s, out_);
    return absl::OkStatus();
  }

  std::string out_;
  absl::flat_hash_map<std::string, YAML::Mark> marks_;
};

absl::Status jsonToConfig(const std::string& json, gateway::v1::Config* config,
                          const YamlToJson* yaml) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(json, config, opts);
  if (st.ok()) {
    return absl::OkStatus();
  }
  const ConfigError e = splitFieldPath(std::string(st.message()));
  const std::string where = yaml != nullptr ? yaml->locate(e.path) : "";
  return absl::InvalidArgumentError(absl::StrCat(where, e.toString()));
}

} // namespace

absl::StatusOr<gateway::v1::Config> parseConfig(absl::string_view text) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);  // UTF-8 byte order mark
  }
  gateway::v1::Config config;
  const absl::string_view body = absl::StripLeadingAsciiWhitespace(text);
  if (absl::StartsWith(body, "{")) {
    if (auto st = jsonToConfig(std::string(text), &config, nullptr); !st.ok()) {
      return st;
    }
    return config;
  }

  YamlToJson converter;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull() || !root.IsDefined()) {
      return config;  // an empty document: the empty config (validation reports what's missing)
    }
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(markPrefix(root.Mark()), "the config must be a map (listeners, clusters)"));
    }
    if (auto st = converter.convert(root, gateway::v1::Config::descriptor()); !st.ok()) {
      return st;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(e.mark.is_null() ? "invalid YAML: " : markPrefix(e.mark), e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (auto st = jsonToConfig(converter.json(), &config, &converter); !st.ok()) {
    return st;
  }
  return config;
}

absl::StatusOr<gateway::v1::Config> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  }
  auto config = parseConfig(ss.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

} // namespace gw::config
