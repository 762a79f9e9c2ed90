#include "source/policy/jwt_claims.h"

#include "absl/strings/str_split.h"

namespace gw::policy {

ClaimPath::ClaimPath(std::string name) : full(std::move(name)) {
  const size_t dot = full.find('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < full.size()) {
    top = full.substr(0, dot);
    rest = full.substr(dot + 1);
  }
}

bool resolveClaimPath(const JsonValue& v, absl::string_view rest, JsonValue& out) {
  JsonValue cur = v;
  for (absl::string_view step : absl::StrSplit(rest, '.')) {
    if (cur.type != JsonType::Object || step.empty()) {
      return false;
    }
    bool found = false;
    JsonValue next;
    scanJsonObject(cur.raw, [&](absl::string_view k, const JsonValue& m) {
      if (k == step) {
        next = m;
        found = true;
        return false;  // found: stop the scan
      }
      return true;
    });
    if (!found) {
      return false;
    }
    cur = next;
  }
  out = cur;
  return true;
}

bool claimText(const JsonValue& v, std::string& out) {
  if (v.type != JsonType::Array) {
    return jsonScalarText(v, out);
  }
  out.clear();
  bool ok = true;
  std::string item;
  size_t n = 0;
  forEachJsonArrayElement(v.raw, [&](const JsonValue& e) {
    if (!jsonScalarText(e, item)) {
      ok = false;
      return false;
    }
    if (n++ > 0) {
      out += ',';
    }
    out += item;
    return true;
  });
  return ok && n > 0;
}

void forEachClaimWord(const JsonValue& v, absl::FunctionRef<void(absl::string_view)> fn) {
  std::string text;
  if (v.type == JsonType::String) {
    if (jsonScalarText(v, text)) {
      for (absl::string_view w : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
        fn(w);
      }
    }
  } else if (v.type == JsonType::Array) {
    forEachJsonArrayElement(v.raw, [&](const JsonValue& e) {
      if (e.type == JsonType::String && jsonScalarText(e, text) && !text.empty()) {
        fn(text);
      }
      return true;
    });
  }
}

} // namespace gw::policy
