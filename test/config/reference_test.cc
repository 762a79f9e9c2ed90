// Keeps docs/config-reference.md in step with the config protos: every message has a section,
// every field a row in it (and no row names a field that does not exist), every enum value is
// mentioned, and every complete YAML example in the document parses and validates.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "source/filters/filter.h"
#include "gateway/v1/config.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "source/config/config.h"

namespace gw::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;

// The test runs in the runfiles root of the main workspace.
constexpr char kDocPath[] = "docs/config-reference.md";

std::vector<std::string> docLines() {
  std::ifstream in(kDocPath);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  REQUIRE(lines.size() > 100);
  return lines;
}

int headingLevel(const std::string& line) {
  size_t n = 0;
  while (n < line.size() && line[n] == '#') {
    n++;
  }
  return n > 0 && n < line.size() && line[n] == ' ' ? static_cast<int>(n) : 0;
}

// The lines of the section whose heading contains "`full_name`", up to the next heading (any
// level). Empty when there is no such heading.
std::vector<std::string> section(const std::vector<std::string>& lines,
                                 const std::string& full_name) {
  const std::string needle = absl::StrCat("`", full_name, "`");
  bool in_fence = false;
  for (size_t i = 0; i < lines.size(); i++) {
    if (absl::StartsWith(lines[i], "```")) {
      in_fence = !in_fence;
    }
    if (in_fence || headingLevel(lines[i]) == 0 || !absl::StrContains(lines[i], needle)) {
      continue;
    }
    std::vector<std::string> out;
    bool fence = false;
    for (size_t k = i + 1; k < lines.size(); k++) {
      if (absl::StartsWith(lines[k], "```")) {
        fence = !fence;
      }
      if (!fence && headingLevel(lines[k]) > 0) {
        break;
      }
      out.push_back(lines[k]);
    }
    return out;
  }
  return {};
}

// "| `name` | ..." -> "name"; "" for other lines.
std::string rowKey(const std::string& line) {
  if (!absl::StartsWith(line, "| `")) {
    return "";
  }
  const size_t end = line.find('`', 3);
  return end == std::string::npos ? "" : line.substr(3, end - 3);
}

void collect(const Descriptor* d, std::vector<const Descriptor*>& out,
             std::set<const EnumDescriptor*>& enums) {
  // Map entries (claim_headers) are documented as their map field, not as messages.
  if (absl::StartsWith(d->full_name(), "google.protobuf.") || d->options().map_entry() ||
      std::find(out.begin(), out.end(), d) != out.end()) {
    return;
  }
  out.push_back(d);
  for (int i = 0; i < d->field_count(); i++) {
    if (d->field(i)->message_type() != nullptr) {
      collect(d->field(i)->message_type(), out, enums);
    }
    if (d->field(i)->enum_type() != nullptr) {
      enums.insert(d->field(i)->enum_type());
    }
  }
  for (int i = 0; i < d->nested_type_count(); i++) {
    collect(d->nested_type(i), out, enums);
  }
}

std::vector<const Descriptor*> allMessages(std::set<const EnumDescriptor*>& enums) {
  std::vector<const Descriptor*> out;
  collect(gateway::v1::Config::descriptor(), out, enums);
  // Every registered filter's config message (FilterFactory::configDescriptor).
  for (const std::string& name : filters::FilterRegistry::names()) {
    collect(filters::FilterRegistry::get(name)->configDescriptor(), out, enums);
  }
  return out;
}

TEST_CASE("every config message and field is documented") {
  const auto lines = docLines();
  std::set<const EnumDescriptor*> enums;
  const auto messages = allMessages(enums);
  CHECK(messages.size() >= 20);
  int fields = 0;
  for (const Descriptor* d : messages) {
    INFO("message " << d->full_name());
    const auto body = section(lines, d->full_name());
    REQUIRE_FALSE(body.empty());
    std::set<std::string> rows;
    for (const auto& l : body) {
      const std::string key = rowKey(l);
      // Field rows are lower_snake_case; other tables (enum values, variables) are not.
      if (!key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
            return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
          })) {
        rows.insert(key);
      }
    }
    for (int i = 0; i < d->field_count(); i++) {
      INFO("field " << d->field(i)->name());
      CHECK(rows.count(d->field(i)->name()) == 1);
      fields++;
    }
    for (const auto& row : rows) {
      INFO("documented field " << row);
      CHECK(d->FindFieldByName(row) != nullptr);
    }
  }
  CHECK(fields >= 70);
}

TEST_CASE("every enum value is documented") {
  const auto lines = docLines();
  const std::string doc = absl::StrJoin(lines, "\n");
  std::set<const EnumDescriptor*> enums;
  allMessages(enums);
  REQUIRE_FALSE(enums.empty());
  for (const EnumDescriptor* e : enums) {
    for (int i = 0; i < e->value_count(); i++) {
      INFO(e->full_name() << "." << e->value(i)->name());
      CHECK(absl::StrContains(doc, absl::StrCat("| `", e->value(i)->name(), "` |")));
    }
  }
}

// Puts a fragment (a Listener, VirtualHost or Route field, or a route's route_filter) into a
// Config skeleton: its lines become the fields of the innermost list item.
std::string embed(const std::string& block) {
  std::string skeleton;
  int indent = 0;
  if (absl::StartsWith(block, "routes:")) {
    skeleton = "listeners:\n  - virtual_hosts:\n      - ";
    indent = 8;
  } else if (absl::StartsWith(block, "route_filter:")) {
    skeleton = "listeners:\n  - virtual_hosts:\n      - routes:\n          - ";
    indent = 12;
  } else {
    skeleton = "listeners:\n  - ";  // virtual_hosts:, pre_filters:, post_filters: ...
    indent = 4;
  }
  std::string out = skeleton;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    if (line.empty()) {
      continue;
    }
    absl::StrAppend(&out, first ? "" : std::string(indent, ' '), line, "\n");
    first = false;
  }
  return out;
}

TEST_CASE("complete YAML examples in the reference parse and validate") {
  const auto lines = docLines();
  std::vector<std::string> blocks;
  std::string current;
  bool in_yaml = false;
  for (const auto& l : lines) {
    if (!in_yaml && l == "```yaml") {
      in_yaml = true;
      current.clear();
    } else if (in_yaml && l == "```") {
      in_yaml = false;
      blocks.push_back(current);
    } else if (in_yaml) {
      absl::StrAppend(&current, l, "\n");
    }
  }
  REQUIRE(blocks.size() >= 15);
  int complete = 0;
  int fragments = 0;
  for (const auto& block : blocks) {
    INFO(block);
    if (absl::StrContains(block, "[...]")) {
      continue;  // a placeholder: not meant to stand alone
    }
    // Complete configs start with a top-level Config field.
    const bool top = absl::StartsWith(block, "version:") || absl::StartsWith(block, "listeners:") ||
                     absl::StartsWith(block, "clusters:") ||
                     absl::StartsWith(block, "auth_providers:") ||
                     absl::StartsWith(block, "rate_limit_policies:") ||
                     absl::StartsWith(block, "redis_servers:");
    if (!top) {
      // A fragment: embed it where it belongs and check that it parses (names, types, syntax).
      const std::string embedded = embed(block);
      INFO(embedded);
      auto parsed = parseConfig(embedded);
      INFO(parsed.status().ToString());
      CHECK(parsed.ok());
      fragments++;
      continue;
    }
    auto parsed = parseConfig(block);
    INFO(parsed.status().ToString());
    REQUIRE(parsed.ok());
    std::vector<std::string> problems;
    for (const auto& e : validateConfig(*parsed)) {
      if (e.path == "listeners" && parsed->listeners_size() == 0) {
        continue;  // a clusters-only example
      }
      problems.push_back(e.toString());
    }
    INFO(absl::StrJoin(problems, "\n"));
    CHECK(problems.empty());
    complete++;
  }
  CHECK(complete >= 4);
  CHECK(fragments >= 8);
}

} // namespace
} // namespace gw::config
