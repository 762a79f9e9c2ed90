#pragma once
// The path templates of `aggregate` parts: "/api/orders?user={user_id}&since={query.since}".
// Parsed once when the config is built; expanded per request with the request's values, each
// percent-encoded (every byte but A-Z a-z 0-9 - . _ ~).
//   {NAME}                  a capture of the filter's path_template (percent-decoded first)
//   {query.NAME}            the first query parameter NAME (percent-decoded first)
//   {header.NAME}           the first request header NAME
//   {identity.subject}      the caller's identity subject (filter state, set by an auth filter)
//   {identity.claim.NAME}   one of the identity's claims
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/filters/identity.h"

namespace gw::filters::aggregate {

struct Piece {
  enum class Kind { Literal, Capture, Query, Header, Subject, Claim };
  Kind kind = Kind::Literal;
  std::string text;  // the literal, or the name
};

// `field` prefixes errors ("parts[1].path: ..."); `captures` are the names the filter's
// path_template defines.
absl::StatusOr<std::vector<Piece>> parsePartPath(absl::string_view path,
                                                 const std::vector<std::string>& captures,
                                                 absl::string_view field);

struct Values {
  const std::vector<std::pair<std::string, std::string>>* captures = nullptr;
  absl::string_view query;
  const HeaderMap* headers = nullptr;
  const Identity* identity = nullptr;
};

// Appends the expansion to `out`; false (and `missing` names the placeholder, e.g.
// "{query.since}") when a value is absent.
bool expand(const std::vector<Piece>& pieces, const Values& v, std::string& out,
            std::string* missing);

std::string percentEncode(absl::string_view s);
std::string percentDecode(absl::string_view s);

} // namespace gw::filters::aggregate
