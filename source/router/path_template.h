#pragma once
// Path templates of route matches (`path_template: "/api/users/{id}/**"`): parsed once when the
// route table is built, matched per request without allocation (but for captures).

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gw::router {

// One segment of a path template.
struct TemplateSegment {
  enum class Kind { Literal, Capture, AnySegment, Rest };
  Kind kind = Kind::Literal;
  std::string text;  // the literal, or the capture name
};

// The segments of template `t`; the error names `field` and says what is wrong.
absl::StatusOr<std::vector<TemplateSegment>> parseTemplate(absl::string_view t,
                                                           const std::string& field);

// Matches `path` (normalized, starts with '/') against template segments. Captures are appended to
// `captures` only when non-null.
bool matchTemplate(const std::vector<TemplateSegment>& segs, absl::string_view path,
                   std::vector<std::pair<std::string, std::string>>* captures);

} // namespace gw::router
