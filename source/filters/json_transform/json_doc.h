#pragma once
// A RapidJSON DOM whose numbers keep their exact text. RapidJSON's Reader with
// kParseNumbersAsStringsFlag hands every number over as its source text, but its Document then
// stores it as a string, indistinguishable from a real string. So each string value of a JsonDoc
// carries a one-byte tag in front of its text: 'n' for a number's text (written back raw, never
// through a double), 's' for a string. Keys are untagged. Only this file and json_doc.cc know the
// tags: the rest of the engine goes through the helpers below.
#include <string>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace gw::filters::json {

using Value = rapidjson::Value;
using Allocator = rapidjson::MemoryPoolAllocator<>;
using Document = rapidjson::Document;

// Nesting deeper than this is refused (the writer recurses).
inline constexpr int kMaxDepth = 128;

// Parses `text` into `doc` (numbers as tagged text). False with `error` ("invalid JSON at byte 7:
// Missing a colon after a name of object member.") when it is not one valid UTF-8 JSON value, or
// nests deeper than kMaxDepth.
bool parse(absl::string_view text, Document& doc, std::string& error);

// Serializes `v` compactly (no whitespace), keys in their order, numbers as their text, strings
// re-escaped (UTF-8 passes unescaped).
void write(const Value& v, std::string& out);

// A tagged string value holding `s` (copied into `alloc`).
void setString(Value& v, absl::string_view s, Allocator& alloc);
// A deep copy of `from` (a value of another document made by parse()) into `alloc`. Its strings
// are referred to, not copied: `from` must outlive `to` (a config's literal outlives requests).
void copyValue(Value& to, const Value& from, Allocator& alloc);

} // namespace gw::filters::json
