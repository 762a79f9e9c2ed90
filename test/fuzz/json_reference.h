#pragma once
// RapidJSON as the reference JSON parser of jwt_fuzz, behind a small interface: RapidJSON 1.1
// (Debian's rapidjson-dev) does pointer arithmetic on a null pointer in its parse stack
// (internal/stack.h), which UBSan reports, so json_reference.cc is compiled without that one
// check (-fno-sanitize=pointer-overflow) and the fuzzer's own code keeps every check.

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace gw::fuzz {

struct JsonParse {
  bool ok = false;
  bool number_too_big = false;  // RapidJSON refuses numbers beyond a double
  bool object = false;
  int members = 0;
  std::string error;  // when !ok
};
JsonParse parseReferenceJson(absl::string_view json);

// Members of a top-level JSON object, as RapidJSON reads it.
struct Claims {
  std::optional<double> exp;       // when "exp" is a number
  std::optional<std::string> iss;  // when "iss" is a string
  bool aud_has_api = false;        // "aud" is "api" or an array with "api"
};
// nullopt when `json` is not an object (or RapidJSON refuses it).
std::optional<Claims> parseReferenceClaims(absl::string_view json);

} // namespace gw::fuzz
