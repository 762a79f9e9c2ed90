#include "source/filters/function/payload.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/percent.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "source/http/http1_codec.h"

namespace gw::filters::function {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8Len(absl::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    return 1;
  }
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < n; k++) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  // Overlong forms, surrogates, beyond U+10FFFF.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return n;
}

bool validUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8Len(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

// A JSON string of `s`; bytes that are not UTF-8 become U+FFFD.
void str(Writer& w, absl::string_view s) {
  if (validUtf8(s)) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  std::string fixed;
  fixed.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8Len(s, i);
    if (n == 0) {
      fixed.append("\xEF\xBF\xBD");
      i++;
    } else {
      fixed.append(s.data() + i, n);
      i += n;
    }
  }
  w.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
}



// Joins repeated names with ',' keeping first-seen order.
void addJoined(std::vector<std::pair<std::string, std::string>>& out, std::string name,
               std::string value) {
  for (auto& [n, v] : out) {
    if (n == name) {
      absl::StrAppend(&v, ",", value);
      return;
    }
  }
  out.emplace_back(std::move(name), std::move(value));
}

bool isHopByHopOrFraming(absl::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "te" || n == "trailer" || n == "upgrade" ||
         n == "content-length";
}

bool validName(absl::string_view n) {
  if (n.empty()) {
    return false;
  }
  for (unsigned char c : n) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

// A header value from a JSON string, number or boolean.
bool headerValue(const rapidjson::Value& v, std::string& out) {
  if (v.IsString()) {
    out.assign(v.GetString(), v.GetStringLength());
  } else if (v.IsBool()) {
    out = v.GetBool() ? "true" : "false";
  } else if (v.IsInt64()) {
    out = absl::StrCat(v.GetInt64());
  } else if (v.IsUint64()) {
    out = absl::StrCat(v.GetUint64());
  } else if (v.IsDouble()) {
    out = absl::StrCat(v.GetDouble());
  } else {
    return false;
  }
  return http::isValidFieldValue(out);
}

absl::Status invalid(absl::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

} // namespace

std::string eventTime(int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[40];
  strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return buf;
}

bool isTextBody(absl::string_view content_type, absl::string_view body) {
  absl::string_view ct = content_type.substr(0, content_type.find(';'));
  ct = absl::StripAsciiWhitespace(ct);
  const std::string t = absl::AsciiStrToLower(ct);
  const bool text = absl::StartsWith(t, "text/") || t == "application/json" ||
                    absl::EndsWith(t, "+json") || t == "application/xml" ||
                    absl::EndsWith(t, "+xml") || t == "application/javascript" ||
                    t == "application/x-www-form-urlencoded";
  return text && validUtf8(body);
}

std::string buildEvent(const EventInput& in) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("version");
  w.String("2.0");
  w.Key("routeKey");
  str(w, in.route_key);
  w.Key("rawPath");
  str(w, in.path);
  w.Key("rawQueryString");
  str(w, in.query);

  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> cookies;
  std::string user_agent;
  if (in.headers != nullptr) {
    for (const auto& [name, value] : in.headers->entries()) {
      if (name == "cookie") {
        for (absl::string_view c : absl::StrSplit(value, ';', absl::SkipWhitespace())) {
          cookies.emplace_back(absl::StripAsciiWhitespace(c));
        }
        continue;
      }
      if (name == "user-agent" && user_agent.empty()) {
        user_agent = value;
      }
      addJoined(headers, name, value);
    }
  }
  if (!cookies.empty()) {
    w.Key("cookies");
    w.StartArray();
    for (const auto& c : cookies) {
      str(w, c);
    }
    w.EndArray();
  }
  w.Key("headers");
  w.StartObject();
  for (const auto& [n, v] : headers) {
    str(w, n);
    str(w, v);
  }
  w.EndObject();

  if (!in.query.empty()) {
    std::vector<std::pair<std::string, std::string>> params;
    for (absl::string_view p : absl::StrSplit(in.query, '&', absl::SkipEmpty())) {
      const size_t eq = p.find('=');
      absl::string_view k = eq == absl::string_view::npos ? p : p.substr(0, eq);
      absl::string_view v = eq == absl::string_view::npos ? absl::string_view() : p.substr(eq + 1);
      addJoined(params, gw::percentDecode(k), gw::percentDecode(v));
    }
    if (!params.empty()) {
      w.Key("queryStringParameters");
      w.StartObject();
      for (const auto& [n, v] : params) {
        str(w, n);
        str(w, v);
      }
      w.EndObject();
    }
  }
  if (in.path_parameters != nullptr && !in.path_parameters->empty()) {
    w.Key("pathParameters");
    w.StartObject();
    for (const auto& [n, v] : *in.path_parameters) {
      str(w, n);
      str(w, v);
    }
    w.EndObject();
  }

  w.Key("requestContext");
  w.StartObject();
  w.Key("accountId");
  w.String("anonymous");
  w.Key("apiId");
  w.String("gateway");
  if (in.claims != nullptr) {
    w.Key("authorizer");
    w.StartObject();
    w.Key("jwt");
    w.StartObject();
    w.Key("claims");
    w.StartObject();
    for (const auto& [n, v] : *in.claims) {
      str(w, n);
      str(w, v);
    }
    w.EndObject();
    w.Key("scopes");
    w.StartArray();
    for (const auto& s : in.scopes) {
      str(w, s);
    }
    w.EndArray();
    w.EndObject();
    w.EndObject();
  }
  w.Key("domainName");
  str(w, in.domain_name);
  w.Key("domainPrefix");
  str(w, in.domain_name.substr(0, in.domain_name.find('.')));
  w.Key("http");
  w.StartObject();
  w.Key("method");
  str(w, in.method);
  w.Key("path");
  str(w, in.path);
  w.Key("protocol");
  str(w, in.protocol);
  w.Key("sourceIp");
  str(w, in.source_ip);
  w.Key("userAgent");
  str(w, user_agent);
  w.EndObject();
  w.Key("requestId");
  str(w, in.request_id);
  w.Key("routeKey");
  str(w, in.route_key);
  w.Key("stage");
  w.String("$default");
  w.Key("time");
  str(w, eventTime(in.time_ms));
  w.Key("timeEpoch");
  w.Int64(in.time_ms);
  w.EndObject();

  if (in.has_body) {
    const std::string* ct = in.headers != nullptr ? in.headers->get("content-type") : nullptr;
    const bool text = ct != nullptr && isTextBody(*ct, in.body);
    w.Key("body");
    if (text) {
      str(w, in.body);
    } else {
      str(w, absl::Base64Escape(in.body));
    }
    w.Key("isBase64Encoded");
    w.Bool(!text);
  } else {
    w.Key("isBase64Encoded");
    w.Bool(false);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

absl::StatusOr<FunctionResponse> mapResult(absl::string_view result) {
  rapidjson::Document d;
  d.Parse(result.data(), result.size());
  if (d.HasParseError()) {
    return invalid("the function's result is not JSON");
  }
  FunctionResponse out;
  if (!d.IsObject() || !d.HasMember("statusCode")) {
    out.status = 200;
    out.headers.add("content-type", "application/json");
    out.body = std::string(result);
    return out;
  }
  const rapidjson::Value& sc = d["statusCode"];
  if (!sc.IsInt() || sc.GetInt() < 100 || sc.GetInt() > 599) {
    return invalid("statusCode must be an integer 100..599");
  }
  out.status = sc.GetInt();
  std::string value;
  if (d.HasMember("headers") && !d["headers"].IsNull()) {
    const rapidjson::Value& h = d["headers"];
    if (!h.IsObject()) {
      return invalid("headers must be an object");
    }
    for (auto it = h.MemberBegin(); it != h.MemberEnd(); ++it) {
      std::string name = absl::AsciiStrToLower(
          absl::string_view(it->name.GetString(), it->name.GetStringLength()));
      if (!validName(name) || !headerValue(it->value, value)) {
        return invalid(absl::StrCat("headers.", name, ": not a valid header"));
      }
      if (!isHopByHopOrFraming(name)) {
        out.headers.add(name, value);
      }
    }
  }
  if (d.HasMember("multiValueHeaders") && !d["multiValueHeaders"].IsNull()) {
    const rapidjson::Value& h = d["multiValueHeaders"];
    if (!h.IsObject()) {
      return invalid("multiValueHeaders must be an object");
    }
    for (auto it = h.MemberBegin(); it != h.MemberEnd(); ++it) {
      std::string name = absl::AsciiStrToLower(
          absl::string_view(it->name.GetString(), it->name.GetStringLength()));
      if (!validName(name) || !it->value.IsArray()) {
        return invalid(absl::StrCat("multiValueHeaders.", name, ": not an array of values"));
      }
      for (const auto& v : it->value.GetArray()) {
        if (!headerValue(v, value)) {
          return invalid(absl::StrCat("multiValueHeaders.", name, ": not a valid header value"));
        }
        if (!isHopByHopOrFraming(name)) {
          out.headers.add(name, value);
        }
      }
    }
  }
  if (d.HasMember("cookies") && !d["cookies"].IsNull()) {
    const rapidjson::Value& c = d["cookies"];
    if (!c.IsArray()) {
      return invalid("cookies must be an array of strings");
    }
    for (const auto& v : c.GetArray()) {
      if (!v.IsString() || !headerValue(v, value)) {
        return invalid("cookies must be an array of strings");
      }
      out.headers.add("set-cookie", value);
    }
  }
  bool base64 = false;
  if (d.HasMember("isBase64Encoded") && !d["isBase64Encoded"].IsNull()) {
    if (!d["isBase64Encoded"].IsBool()) {
      return invalid("isBase64Encoded must be a boolean");
    }
    base64 = d["isBase64Encoded"].GetBool();
  }
  if (d.HasMember("body") && !d["body"].IsNull()) {
    const rapidjson::Value& b = d["body"];
    if (!b.IsString()) {
      return invalid("body must be a string");
    }
    absl::string_view text(b.GetString(), b.GetStringLength());
    if (base64) {
      if (!absl::Base64Unescape(text, &out.body)) {
        return invalid("body is not valid base64 (isBase64Encoded is true)");
      }
    } else {
      out.body = std::string(text);
    }
  }
  return out;
}

} // namespace gw::filters::function
