#include "source/router/path_template.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gw::router {
namespace {

// For errors: quoted, with control and non-ASCII bytes escaped.
std::string quote(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

bool isCaptureName(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

} // namespace

absl::StatusOr<std::vector<TemplateSegment>> parseTemplate(absl::string_view t,
                                                           const std::string& field) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": invalid path template ", quote(t), ": ", why));
  };
  if (t.empty() || t[0] != '/') {
    return fail("must start with '/'");
  }
  if (t.find_first_of("?#") != absl::string_view::npos) {
    return fail("must not contain '?' or '#'");
  }
  std::vector<TemplateSegment> segs;
  std::vector<absl::string_view> names;
  size_t pos = 1;
  while (true) {
    const size_t slash = t.find('/', pos);
    const bool last = slash == absl::string_view::npos;
    const absl::string_view s = last ? t.substr(pos) : t.substr(pos, slash - pos);
    TemplateSegment seg;
    if (s == "**") {
      if (!last) {
        return fail("'**' must be the last segment");
      }
      seg.kind = TemplateSegment::Kind::Rest;
    } else if (s == "*") {
      seg.kind = TemplateSegment::Kind::AnySegment;
    } else if (!s.empty() && s.front() == '{') {
      if (s.back() != '}') {
        return fail(absl::StrCat("unterminated capture ", quote(s)));
      }
      const absl::string_view name = s.substr(1, s.size() - 2);
      if (!isCaptureName(name)) {
        return fail(absl::StrCat("bad capture name ", quote(name),
                                 " (letters, digits and '_', not starting with a digit)"));
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        return fail(absl::StrCat("duplicate capture name ", quote(name)));
      }
      names.push_back(name);
      seg.kind = TemplateSegment::Kind::Capture;
      seg.text = std::string(name);
    } else {
      if (s.find_first_of("{}*") != absl::string_view::npos) {
        return fail(absl::StrCat("segment ", quote(s),
                                 " mixes a literal with '{', '}' or '*' (a capture or wildcard "
                                 "must be a whole segment)"));
      }
      if (s == "." || s == "..") {
        return fail("dot segments never match a normalized path");
      }
      if (s.empty() && !last) {
        return fail("empty segment ('//')");
      }
      seg.text = std::string(s);
    }
    segs.push_back(std::move(seg));
    if (last) {
      break;
    }
    pos = slash + 1;
  }
  return segs;
}

bool matchTemplate(const std::vector<TemplateSegment>& segs, absl::string_view path,
                   std::vector<std::pair<std::string, std::string>>* captures) {
  if (path.empty() || path[0] != '/') {
    return false;
  }
  size_t pos = 1;  // start of the next segment; path.size() + 1 once every segment is consumed
  for (const TemplateSegment& seg : segs) {
    if (pos > path.size()) {
      return false;
    }
    if (seg.kind == TemplateSegment::Kind::Rest) {
      return true;
    }
    const size_t slash = path.find('/', pos);
    const size_t end = slash == absl::string_view::npos ? path.size() : slash;
    const absl::string_view s = path.substr(pos, end - pos);
    switch (seg.kind) {
    case TemplateSegment::Kind::Literal:
      if (s != seg.text) {
        return false;
      }
      break;
    case TemplateSegment::Kind::Capture:
      if (s.empty()) {
        return false;
      }
      if (captures != nullptr) {
        captures->emplace_back(seg.text, std::string(s));
      }
      break;
    case TemplateSegment::Kind::AnySegment:
      if (s.empty()) {
        return false;
      }
      break;
    case TemplateSegment::Kind::Rest: break;
    }
    pos = end + 1;
  }
  return pos == path.size() + 1;
}

} // namespace gw::router
