#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace gw::ctl {

// Output formats of every command (-o): a human-readable rendering (the default), JSON, YAML.
enum class OutputFormat { Table, Json, Yaml };

// A JSON value tree whose objects keep their key order, so a message printed through it keeps
// its proto declaration order in both JSON and YAML, and a command can add fields of its own.
class Doc {
public:
  enum class Kind { Null, Bool, Number, String, List, Map };

  Doc() = default;  // null
  static Doc boolean(bool b);
  static Doc number(int64_t n);
  static Doc number(uint64_t n);
  static Doc number(double d);
  static Doc rawNumber(std::string json_text);  // text already a valid JSON number
  static Doc string(std::string s);
  static Doc list();
  static Doc map();

  // The message's protobuf JSON mapping with proto field names. `with_defaults`: include scalar and
  // repeated fields at their default value (responses); configs stay terse so they re-apply.
  static Doc fromMessage(const google::protobuf::Message& message, bool with_defaults);
  static absl::StatusOr<Doc> fromJson(absl::string_view json);

  Kind kind() const { return kind_; }
  // Bool: "true"/"false"; Number: its JSON text; String: the string.
  const std::string& scalar() const { return scalar_; }
  const std::vector<Doc>& items() const { return items_; }
  const std::vector<std::pair<std::string, Doc>>& fields() const { return fields_; }

  // Map: replaces the value of `key`, or appends it. Returns *this.
  Doc& set(const std::string& key, Doc value);
  // List: appends. Returns *this.
  Doc& push(Doc value);
  // Map: the value of `key`, or null.
  const Doc* find(const std::string& key) const;

private:
  Kind kind_ = Kind::Null;
  std::string scalar_;
  std::vector<Doc> items_;
  std::vector<std::pair<std::string, Doc>> fields_;
};

// Pretty JSON (two-space indent), ending in a newline.
std::string toJson(const Doc& doc);

// Block-style YAML, ending in a newline. Strings that YAML would read as something else (numbers,
// booleans, null, empty) are quoted, so the output parses back to the same JSON value.
std::string toYaml(const Doc& doc);

// JSON or YAML by `format` (Table is the caller's job; it gets JSON here).
std::string renderStructured(const Doc& doc, OutputFormat format);

// Columns padded to their widest cell, separated by two spaces; the header is printed as given.
// Newlines and tabs in cells become spaces; trailing spaces are trimmed.
class Table {
public:
  explicit Table(std::vector<std::string> header);
  void addRow(std::vector<std::string> row);
  size_t rows() const { return rows_.size() - 1; }
  std::string render() const;

private:
  std::vector<std::vector<std::string>> rows_;
};

} // namespace gw::ctl
