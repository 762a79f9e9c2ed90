#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace gw::policy {

// A minimal strict JSON (RFC 8259) scanner for JWT headers and claim sets: one pass over an
// object, no tree, no allocation unless a key contains escapes.
enum class JsonType { String, Number, True, False, Null, Object, Array };

struct JsonValue {
  JsonType type = JsonType::Null;
  // String: the characters between the quotes, still escaped (see `escaped`). Others: the value's
  // JSON text (a number's digits, a nested object's braces and all).
  absl::string_view raw;
  bool escaped = false;  // String only: raw contains backslash escapes
};

// Calls fn(key, value) for each member of the top-level object in `json` (keys unescaped).
// Returns false, without further calls, for anything that is not exactly one valid JSON object
// (surrounding whitespace allowed): bad syntax, invalid escapes or UTF-16 surrogates, control
// characters in strings, nesting deeper than 32, more than 64 members, or a duplicate key
// (RFC 7515 section 4: a JOSE header with duplicate names must be rejected; we do the same for
// claims). fn returning false stops the scan and makes it fail.
bool scanJsonObject(absl::string_view json,
                    absl::FunctionRef<bool(absl::string_view key, const JsonValue& value)> fn);

// A JSON string's raw (escaped) characters -> UTF-8. False on a bad escape.
bool jsonUnescape(absl::string_view raw, std::string& out);

// The text of a string, number or boolean value (strings unescaped); false for other types.
bool jsonScalarText(const JsonValue& v, std::string& out);

// Calls fn for each element of an array value's raw text. False if not a valid array.
bool forEachJsonArrayElement(absl::string_view array_raw,
                             absl::FunctionRef<bool(const JsonValue&)> fn);

} // namespace gw::policy
