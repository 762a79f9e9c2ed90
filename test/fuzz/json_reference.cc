#include "test/fuzz/json_reference.h"

#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace gw::fuzz {

JsonParse parseReferenceJson(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  JsonParse out;
  if (doc.HasParseError()) {
    out.number_too_big = doc.GetParseError() == rapidjson::kParseErrorNumberTooBig;
    out.error = std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at " +
                std::to_string(doc.GetErrorOffset());
    return out;
  }
  out.ok = true;
  out.object = doc.IsObject();
  out.members = out.object ? static_cast<int>(doc.MemberCount()) : 0;
  return out;
}

std::optional<Claims> parseReferenceClaims(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return std::nullopt;
  }
  auto str = [](const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); };
  Claims c;
  if (doc.HasMember("exp") && doc["exp"].IsNumber()) {
    c.exp = doc["exp"].GetDouble();
  }
  if (doc.HasMember("iss") && doc["iss"].IsString()) {
    c.iss = str(doc["iss"]);
  }
  if (doc.HasMember("aud") && doc["aud"].IsString()) {
    c.aud_has_api = str(doc["aud"]) == "api";
  } else if (doc.HasMember("aud") && doc["aud"].IsArray()) {
    for (const auto& a : doc["aud"].GetArray()) {
      c.aud_has_api = c.aud_has_api || (a.IsString() && str(a) == "api");
    }
  }
  return c;
}

} // namespace gw::fuzz
