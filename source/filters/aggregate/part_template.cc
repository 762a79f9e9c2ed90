#include "source/filters/aggregate/part_template.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/percent.h"

namespace gw::filters::aggregate {

namespace {


bool validName(absl::string_view n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

absl::string_view describe(Piece::Kind k) {
  switch (k) {
  case Piece::Kind::Capture: return "";
  case Piece::Kind::Query: return "query.";
  case Piece::Kind::Header: return "header.";
  case Piece::Kind::Subject: return "identity.subject";
  case Piece::Kind::Claim: return "identity.claim.";
  case Piece::Kind::Literal: return "";
  }
  return "";
}

} // namespace

absl::StatusOr<std::vector<Piece>> parsePartPath(absl::string_view path,
                                                 const std::vector<std::string>& captures,
                                                 absl::string_view field) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (path.empty() || path[0] != '/') {
    return fail("required, starting with '/'");
  }
  std::vector<Piece> out;
  std::string literal;
  for (size_t i = 0; i < path.size(); i++) {
    const unsigned char c = path[i];
    if (c == '}') {
      return fail("'}' without '{'");
    }
    if (c != '{') {
      if (c <= ' ' || c >= 0x7f || c == '#') {
        return fail("must be printable ASCII without spaces or '#'");
      }
      literal.push_back(static_cast<char>(c));
      continue;
    }
    const size_t close = path.find('}', i);
    if (close == absl::string_view::npos) {
      return fail(absl::StrCat("unterminated placeholder '", path.substr(i), "'"));
    }
    const absl::string_view name = path.substr(i + 1, close - i - 1);
    Piece p;
    if (absl::StartsWith(name, "query.")) {
      p.kind = Piece::Kind::Query;
      p.text = std::string(name.substr(6));
    } else if (absl::StartsWith(name, "header.")) {
      p.kind = Piece::Kind::Header;
      p.text = absl::AsciiStrToLower(name.substr(7));
    } else if (name == "identity.subject") {
      p.kind = Piece::Kind::Subject;
    } else if (absl::StartsWith(name, "identity.claim.")) {
      p.kind = Piece::Kind::Claim;
      p.text = std::string(name.substr(15));
    } else {
      p.kind = Piece::Kind::Capture;
      p.text = std::string(name);
      if (std::find(captures.begin(), captures.end(), p.text) == captures.end()) {
        return fail(absl::StrCat(
            "'{", name, "}' is not a capture of path_template (placeholders: {capture}, "
            "{query.NAME}, {header.NAME}, {identity.subject}, {identity.claim.NAME})"));
      }
    }
    if (p.kind != Piece::Kind::Subject && !validName(p.text)) {
      return fail(absl::StrCat("bad placeholder '{", name, "}'"));
    }
    if (!literal.empty()) {
      out.push_back({Piece::Kind::Literal, std::move(literal)});
      literal.clear();
    }
    out.push_back(std::move(p));
    i = close;
  }
  if (!literal.empty()) {
    out.push_back({Piece::Kind::Literal, std::move(literal)});
  }
  return out;
}

bool expand(const std::vector<Piece>& pieces, const Values& v, std::string& out,
            std::string* missing) {
  for (const Piece& p : pieces) {
    const std::string* value = nullptr;
    std::string decoded;
    switch (p.kind) {
    case Piece::Kind::Literal:
      out.append(p.text);
      continue;
    case Piece::Kind::Capture:
      if (v.captures != nullptr) {
        for (const auto& [n, val] : *v.captures) {
          if (n == p.text) {
            decoded = gw::percentDecode(val);
            value = &decoded;
            break;
          }
        }
      }
      break;
    case Piece::Kind::Query:
      for (absl::string_view kv : absl::StrSplit(v.query, '&', absl::SkipEmpty())) {
        const size_t eq = kv.find('=');
        if (gw::percentDecode(kv.substr(0, eq)) == p.text) {
          decoded = eq == absl::string_view::npos ? "" : gw::percentDecode(kv.substr(eq + 1));
          value = &decoded;
          break;
        }
      }
      break;
    case Piece::Kind::Header:
      value = v.headers != nullptr ? v.headers->get(p.text) : nullptr;
      break;
    case Piece::Kind::Subject:
      if (v.identity != nullptr && !v.identity->subject.empty()) {
        value = &v.identity->subject;
      }
      break;
    case Piece::Kind::Claim:
      if (v.identity != nullptr) {
        for (const auto& [n, val] : v.identity->claims) {
          if (n == p.text) {
            value = &val;
            break;
          }
        }
      }
      break;
    }
    if (value == nullptr) {
      if (missing != nullptr) {
        *missing = absl::StrCat("{", describe(p.kind), p.kind == Piece::Kind::Subject ? "" : p.text,
                                "}");
      }
      return false;
    }
    out.append(gw::percentEncode(*value));
  }
  return true;
}

} // namespace gw::filters::aggregate
