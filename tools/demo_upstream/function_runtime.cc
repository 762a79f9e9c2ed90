#include <string>

#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/demo_upstream/endpoints.h"

namespace demo {

// A Lambda-style function runtime (the Runtime Interface Emulator's API) for the `function`
// filter: POST /2015-03-31/functions/<name>/invocations with an API Gateway payload 2.0 event.
// Functions:
//   hello    {"statusCode":200,"headers":{"content-type":"application/json"},
//             "body":"{\"message\":\"Hello, <queryStringParameters.name or world>!\"}"}
//   echo     the event itself, as a bare JSON value (the gateway answers it as 200 JSON)
//   slow     never answered (the connection stays open): for timeout tests
//   broken   X-Amz-Function-Error: Unhandled, {"errorMessage":"something broke",...}
//   invalid  {"statusCode":"oops"}: a result the gateway cannot map
// Any other name: 404 ResourceNotFoundException, as Lambda answers. A body that is not a JSON
// object: 400 InvalidRequestContentException.
namespace {

std::string functionName(std::string_view path) {
  constexpr std::string_view kPrefix = "/2015-03-31/functions/";
  constexpr std::string_view kSuffix = "/invocations";
  if (path.size() <= kPrefix.size() + kSuffix.size() || path.substr(0, kPrefix.size()) != kPrefix ||
      path.substr(path.size() - kSuffix.size()) != kSuffix) {
    return "";
  }
  return std::string(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
}

std::string lambdaError(const char* type, const std::string& message) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("Type");
  w.String("User");
  w.Key("message");
  w.String(message.c_str());
  w.Key("errorType");
  w.String(type);
  w.EndObject();
  return sb.GetString();
}

}  // namespace

EndpointResponse serveFunction(const EndpointRequest& r) {
  EndpointResponse out;
  const std::string name = functionName(r.path);
  if (r.method != "POST" || name.empty()) {
    out.status = r.method != "POST" ? 405 : 404;
    out.body = lambdaError("InvalidRequest", "POST /2015-03-31/functions/<name>/invocations");
    return out;
  }
  rapidjson::Document event;
  event.Parse(r.body.data(), r.body.size());
  if (event.HasParseError() || !event.IsObject()) {
    out.status = 400;
    out.body = lambdaError("InvalidRequestContentException", "the event is not a JSON object");
    return out;
  }
  if (name == "hello") {
    std::string who = "world";
    if (event.HasMember("queryStringParameters") && event["queryStringParameters"].IsObject()) {
      const auto& q = event["queryStringParameters"];
      if (q.HasMember("name") && q["name"].IsString() && q["name"].GetStringLength() > 0) {
        who.assign(q["name"].GetString(), q["name"].GetStringLength());
      }
    }
    rapidjson::StringBuffer inner;
    rapidjson::Writer<rapidjson::StringBuffer> iw(inner);
    iw.StartObject();
    iw.Key("message");
    const std::string message = "Hello, " + who + "!";
    iw.String(message.c_str(), static_cast<rapidjson::SizeType>(message.size()));
    iw.EndObject();
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("statusCode");
    w.Int(200);
    w.Key("headers");
    w.StartObject();
    w.Key("content-type");
    w.String("application/json");
    w.EndObject();
    w.Key("body");
    w.String(inner.GetString(), static_cast<rapidjson::SizeType>(inner.GetSize()));
    w.EndObject();
    out.body = sb.GetString();
  } else if (name == "echo") {
    out.body = std::string(r.body);
  } else if (name == "slow") {
    out.hang = true;
  } else if (name == "broken") {
    out.headers.emplace_back("x-amz-function-error", "Unhandled");
    out.body = R"({"errorMessage":"something broke","errorType":"Error","stackTrace":[]})";
  } else if (name == "invalid") {
    out.body = R"({"statusCode":"oops"})";
  } else {
    out.status = 404;
    out.body = lambdaError("ResourceNotFoundException", "Function not found: " + name);
  }
  return out;
}

}  // namespace demo
