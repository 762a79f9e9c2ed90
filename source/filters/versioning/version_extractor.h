#pragma once
// Where `versioning` finds a request's API version: its sources in the configured order. Pure
// (a request head in, the version text and where it was found out), for the filter, `explain`
// and the fuzz target.
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/http/message.h"

namespace gw::filters::versioning {

struct Source {
  enum class Kind { Header, PathPrefix, Query, MediaType };
  Kind kind = Kind::Header;
  // Header: the lower-case name; PathPrefix: "/api/" (ends with '/'); Query: the parameter;
  // MediaType: the lower-case prefix before ".v<version>", e.g. "application/vnd.example".
  std::string name;
  bool keep_path = false;  // PathPrefix: do not strip the version segment
  // "header api-version", "path /api/v<version>/", "query version", "media type
  // application/vnd.example.v<version>+json".
  std::string describe() const;
};

struct Extracted {
  const Source* source = nullptr;  // nullptr: no source has a version
  std::string version;             // without a leading 'v' ("v2" and "2" are "2")
  // The path without its version segment ("/api/v2/x" -> "/api/x"), empty when it has none or
  // the prefix keeps it: set by a stripping PathPrefix source even when an earlier source gave
  // the version (the segment is never sent to the upstream).
  std::string stripped_path;
};

// The first source, in order, that the request gives a version in:
// - Header: the first field's value, trimmed; "v2" and "2" both give "2".
// - PathPrefix: the path starts with the prefix and the next segment is 'v' or 'V', a digit,
//   then letters, digits, '.', '_' or '-' ("/api/v2/items", "/api/v2"); "/api/values" has none.
// - Query: the first parameter of that name (percent-decoded), "v2" or "2".
// - MediaType: the first Accept media range "<prefix>.v<version>" optionally followed by "+suffix"
//   and parameters, compared case-insensitively.
// A source whose value is present but empty does not count.
Extracted extract(const std::vector<Source>& sources, const http::RequestHead& head);

} // namespace gw::filters::versioning
