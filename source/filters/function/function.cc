// `function` (route filter): invokes a Lambda-style function. The request (its body buffered up
// to max_request_body_bytes) becomes an AWS API Gateway HTTP API payload 2.0 event (payload.h),
// POSTed to /2015-03-31/functions/<name>/invocations on a cluster: the Lambda Runtime Interface
// Emulator, the demo upstream's function runtime, or (with `aws`) AWS Lambda's Invoke API signed
// with SigV4 (sigv4.h). What the function returns is mapped back (payload.h mapResult).
// Function errors are 502 JSON: function_error (an X-Amz-Function-Error header, or an invocation
// status other than 2xx), function_invalid_result, function_timeout. Transport errors (connect
// failure, no healthy endpoint, open breaker) are handed on as they are.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gateway/filters/function/v1/function.pb.h"
#include "rapidjson/document.h"
#include "source/filters/filter.h"
#include "source/filters/function/payload.h"
#include "source/filters/function/sigv4.h"
#include "source/filters/identity.h"
#include "source/router/path_template.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

using FunctionProto = gateway::filters::function::v1::Function;

const char kName[] = "function";
const FilterCounter kInvocations{kName, "invocations", "Function invocations sent."};
const FilterCounter kOk{kName, "ok", "Invocations answered with a valid result."};
const FilterCounter kFunctionErrors{kName, "function_errors",
                                    "Invocations that reported a function error "
                                    "(X-Amz-Function-Error, or a non-2xx invocation status)."};
const FilterCounter kInvalidResults{kName, "invalid_results",
                                    "Invocations whose result could not be mapped."};
const FilterCounter kTimeouts{kName, "timeouts", "Invocations that timed out."};
const FilterCounter kCancelled{kName, "cancelled",
                               "Requests that ended with an invocation in flight."};

constexpr uint32_t kDefaultTimeoutMs = 10000;
constexpr uint32_t kMaxTimeoutMs = 900000;  // Lambda's own maximum
constexpr uint64_t kDefaultMaxBody = 1 << 20;
constexpr uint64_t kDefaultMaxResponse = 6 << 20;

struct Aws {
  sigv4::Credentials creds;  // read when the config is built; never printed
  std::string region, service, host;
};

struct Settings {
  std::string cluster;
  std::string function_name;
  std::string invoke_path;  // /2015-03-31/functions/<name>/invocations[?Qualifier=...]
  std::chrono::milliseconds timeout{kDefaultTimeoutMs};
  std::vector<router::TemplateSegment> segments;
  std::string route_key = "$default";
  uint64_t max_request_body = kDefaultMaxBody;
  uint64_t max_response = kDefaultMaxResponse;
  std::unique_ptr<Aws> aws;
};

int64_t toUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

ErrorInfo functionError(absl::string_view code, std::string message) {
  return ErrorInfo::make(ErrorKind::FunctionError, std::move(message), code);
}

// The errorMessage of a Lambda error body ({"errorMessage": ..., "errorType": ...}), if any.
std::string lambdaErrorMessage(absl::string_view body) {
  rapidjson::Document d;
  d.Parse(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) {
    return "";
  }
  std::string out;
  if (d.HasMember("errorType") && d["errorType"].IsString()) {
    out = absl::StrCat(d["errorType"].GetString(), ": ");
  }
  if (d.HasMember("errorMessage") && d["errorMessage"].IsString()) {
    absl::StrAppend(&out, d["errorMessage"].GetString());
  }
  return out.size() > 512 ? out.substr(0, 512) : out;
}

class FunctionFilter : public Filter {
public:
  explicit FunctionFilter(const Settings& s) : s_(s) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream& upstream) override;
  void onDestroy(RequestContext& ctx) override {
    if (call_id_ != 0) {
      kCancelled.inc(ctx.worker());
      upstream_->cancel(call_id_);
      call_id_ = 0;
    }
  }

private:
  void onResult(RequestContext& ctx, HttpResult&& r);
  void timedOut(RequestContext& ctx);

  const Settings& s_;
  Upstream* upstream_ = nullptr;
  uint64_t call_id_ = 0;
};

class FunctionConfig : public FilterConfig {
public:
  explicit FunctionConfig(Settings s) : s_(std::move(s)) {}
  FilterPtr create() const override { return std::make_unique<FunctionFilter>(s_); }
  BodyPolicy requestBody() const override { return BodyPolicy::buffer(s_.max_request_body); }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("invoke function '", s_.function_name, "' on cluster '", s_.cluster,
                        "' (POST ", s_.invoke_path, ", payload 2.0, timeout ",
                        s_.timeout.count(), " ms",
                        s_.aws != nullptr ? absl::StrCat(", SigV4 ", s_.aws->region) : "", ")");
  }

private:
  const Settings s_;
};

FilterStatus FunctionFilter::onRoute(RequestContext& ctx, Upstream& upstream) {
  upstream_ = &upstream;
  const http::RequestHead& req = ctx.request();
  std::vector<std::pair<std::string, std::string>> captures;
  if (!s_.segments.empty()) {
    router::matchTemplate(s_.segments, req.path, &captures);
  }
  function::EventInput in;
  in.route_key = s_.route_key;
  in.method = req.method;
  in.path = req.path;
  in.query = req.query;
  const std::string protocol = absl::StrCat("HTTP/1.", req.version_minor);
  in.protocol = protocol;
  in.source_ip = ctx.clientAddress();
  in.request_id = ctx.requestId();
  in.domain_name = req.host;
  in.headers = &req.headers;
  in.path_parameters = &captures;
  if (const Identity* id = ctx.filterState().get(kIdentity)) {
    in.claims = &id->claims;
    in.scopes = id->permissions;
  }
  in.time_ms = toUnixMs(ctx.startTime());
  const std::string& body = ctx.requestBody();
  in.body = body;
  in.has_body = !body.empty();

  HttpRequest call;
  call.method = "POST";
  call.path = s_.invoke_path;
  call.timeout = s_.timeout;
  call.max_response_bytes = s_.max_response;
  call.body = function::buildEvent(in);
  call.headers.add("content-type", "application/json");
  call.headers.add("x-amz-invocation-type", "RequestResponse");
  call.headers.add("x-request-id", std::string(ctx.requestId()));
  if (s_.aws != nullptr) {
    const Aws& aws = *s_.aws;
    const int64_t now_s = toUnixMs(std::chrono::system_clock::now()) / 1000;
    const std::string amz_date = sigv4::amzDate(now_s);
    call.authority = aws.host;
    call.headers.add("x-amz-date", amz_date);
    if (!aws.creds.session_token.empty()) {
      call.headers.add("x-amz-security-token", aws.creds.session_token);
    }
    sigv4::Request sr;
    sr.method = call.method;
    const size_t q = call.path.find('?');
    sr.path = call.path.substr(0, q);
    sr.query = q == std::string::npos ? "" : call.path.substr(q + 1);
    sr.headers.emplace_back("host", aws.host);
    for (const auto& [n, v] : call.headers.entries()) {
      if (n != "x-request-id") {
        sr.headers.emplace_back(n, v);
      }
    }
    sr.body = call.body;
    sigv4::Scope scope{amz_date.substr(0, 8), aws.region, aws.service};
    call.headers.add("authorization", sigv4::authorization(sr, aws.creds, scope, amz_date));
  }
  kInvocations.inc(ctx.worker());
  RequestHandle h = ctx.handle();
  call_id_ = upstream.send(s_.cluster, std::move(call), [this, h](HttpResult&& r) {
    if (RequestContext* c = h.context()) {
      call_id_ = 0;
      onResult(*c, std::move(r));
    }
  });
  // The client enforces the same timeout; this timer makes sure the request never waits longer.
  ctx.runAfter(s_.timeout + std::chrono::milliseconds(50), [this, h] {
    RequestContext* c = h.context();
    if (c == nullptr || call_id_ == 0) {
      return;
    }
    upstream_->cancel(call_id_);
    call_id_ = 0;
    timedOut(*c);
  });
  return FilterStatus::Pause;
}

void FunctionFilter::timedOut(RequestContext& ctx) {
  kTimeouts.inc(ctx.worker());
  ctx.fail(functionError("function_timeout",
                         absl::StrCat("function '", s_.function_name, "' did not answer within ",
                                      s_.timeout.count(), " ms")));
}

void FunctionFilter::onResult(RequestContext& ctx, HttpResult&& r) {
  if (!r.ok()) {
    if (r.error.kind == ErrorKind::UpstreamTimeout) {
      timedOut(ctx);
      return;
    }
    ctx.fail(std::move(r.error));
    return;
  }
  const HttpResponse& resp = r.response;
  const std::string* fe = resp.head.headers.get("x-amz-function-error");
  if (fe != nullptr || resp.head.status < 200 || resp.head.status > 299) {
    kFunctionErrors.inc(ctx.worker());
    const std::string detail = lambdaErrorMessage(resp.body);
    std::string msg = fe != nullptr
                          ? absl::StrCat("function '", s_.function_name, "' failed (", *fe, ")")
                          : absl::StrCat("invoking function '", s_.function_name,
                                         "' returned status ", resp.head.status);
    if (!detail.empty()) {
      absl::StrAppend(&msg, ": ", detail);
    }
    ErrorInfo e = functionError("function_error", std::move(msg));
    if (fe != nullptr) {
      e.details.emplace_back("function_error", *fe);
    }
    ctx.fail(std::move(e));
    return;
  }
  auto mapped = function::mapResult(resp.body);
  if (!mapped.ok()) {
    kInvalidResults.inc(ctx.worker());
    ctx.fail(functionError("function_invalid_result",
                           absl::StrCat("function '", s_.function_name,
                                        "' returned an invalid result: ",
                                        mapped.status().message())));
    return;
  }
  kOk.inc(ctx.worker());
  http::ResponseHead head;
  head.status = mapped->status;
  head.headers = std::move(mapped->headers);
  ctx.respond(std::move(head), std::move(mapped->body));
}

absl::Status invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// [profile] aws_access_key_id / aws_secret_access_key / aws_session_token of a shared
// credentials file.
absl::Status readCredentialsFile(const std::string& path, const std::string& profile,
                                 sigv4::Credentials& out) {
  std::ifstream in(path);
  if (!in) {
    return invalid("aws.credentials_file", absl::StrCat("cannot read '", path, "'"));
  }
  std::string line;
  bool in_profile = false;
  bool found = false;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#' || l[0] == ';') {
      continue;
    }
    if (l.front() == '[' && l.back() == ']') {
      in_profile = absl::StripAsciiWhitespace(l.substr(1, l.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) {
      continue;
    }
    const size_t eq = l.find('=');
    if (eq == absl::string_view::npos) {
      continue;
    }
    const absl::string_view k = absl::StripAsciiWhitespace(l.substr(0, eq));
    const std::string v(absl::StripAsciiWhitespace(l.substr(eq + 1)));
    if (k == "aws_access_key_id") {
      out.access_key_id = v;
    } else if (k == "aws_secret_access_key") {
      out.secret_access_key = v;
    } else if (k == "aws_session_token") {
      out.session_token = v;
    }
  }
  if (!found) {
    return invalid("aws.profile", absl::StrCat("no [", profile, "] section in '", path, "'"));
  }
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return invalid("aws.credentials_file",
                   absl::StrCat("[", profile, "] in '", path,
                                "' lacks aws_access_key_id or aws_secret_access_key"));
  }
  return absl::OkStatus();
}

bool isFunctionName(absl::string_view s) {
  if (s.empty() || s.size() > 170) {
    return false;
  }
  for (unsigned char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == ':')) {
      return false;
    }
  }
  return true;
}

class FunctionFactory : public FilterFactory {
public:
  absl::string_view name() const override { return kName; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return FunctionProto::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    FunctionProto proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    Settings s;
    if (proto.cluster().empty()) {
      return invalid("cluster", "required (the function runtime's cluster)");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return invalid("cluster", absl::StrCat("unknown cluster '", proto.cluster(), "'"));
    }
    s.cluster = proto.cluster();
    if (!isFunctionName(proto.function_name())) {
      return invalid("function_name",
                     "required: a function name or ARN (A-Z a-z 0-9 '-' '_' ':', at most 170)");
    }
    s.function_name = proto.function_name();
    // ':' (an ARN) is percent-encoded in the path, as AWS's SDKs send it.
    std::string encoded;
    for (char c : s.function_name) {
      if (c == ':') {
        encoded += "%3A";
      } else {
        encoded.push_back(c);
      }
    }
    s.invoke_path = absl::StrCat("/2015-03-31/functions/", encoded, "/invocations");
    if (!proto.qualifier().empty()) {
      for (unsigned char c : proto.qualifier()) {
        if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '$')) {
          return invalid("qualifier", "must be a version number or an alias name");
        }
      }
      absl::StrAppend(&s.invoke_path, "?Qualifier=",
                      absl::StrReplaceAll(proto.qualifier(), {{"$", "%24"}}));
    }
    if (proto.timeout_ms() != 0) {
      if (proto.timeout_ms() > kMaxTimeoutMs) {
        return invalid("timeout_ms", absl::StrCat("must be at most ", kMaxTimeoutMs));
      }
      s.timeout = std::chrono::milliseconds(proto.timeout_ms());
    }
    if (!proto.path_template().empty()) {
      auto segs = router::parseTemplate(proto.path_template(), "path_template");
      if (!segs.ok()) {
        return segs.status();
      }
      s.segments = std::move(*segs);
    }
    if (!proto.route_key().empty()) {
      s.route_key = proto.route_key();
    }
    if (proto.max_request_body_bytes() != 0) {
      s.max_request_body = proto.max_request_body_bytes();
    }
    if (proto.max_response_bytes() != 0) {
      s.max_response = proto.max_response_bytes();
    }
    if (proto.has_aws()) {
      const auto& a = proto.aws();
      auto aws = std::make_unique<Aws>();
      if (a.region().empty()) {
        return invalid("aws.region", "required (e.g. eu-west-1)");
      }
      for (unsigned char c : a.region()) {
        if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) {
          return invalid("aws.region", "must be lower-case letters, digits and '-'");
        }
      }
      aws->region = a.region();
      aws->service = a.service().empty() ? "lambda" : a.service();
      aws->host = a.host().empty() ? absl::StrCat("lambda.", a.region(), ".amazonaws.com")
                                   : a.host();
      if (!a.credentials_file().empty()) {
        if (auto st = readCredentialsFile(a.credentials_file(),
                                          a.profile().empty() ? "default" : a.profile(),
                                          aws->creds);
            !st.ok()) {
          return st;
        }
      } else {
        const char* id = std::getenv("AWS_ACCESS_KEY_ID");
        const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
        const char* token = std::getenv("AWS_SESSION_TOKEN");
        if (id == nullptr || *id == '\0' || secret == nullptr || *secret == '\0') {
          return invalid("aws", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (or "
                                "give aws.credentials_file)");
        }
        aws->creds.access_key_id = id;
        aws->creds.secret_access_key = secret;
        aws->creds.session_token = token != nullptr ? token : "";
      }
      s.aws = std::move(aws);
    }
    return FilterConfigConstSharedPtr(std::make_shared<FunctionConfig>(std::move(s)));
  }
};

const Register<FunctionFactory> kRegister;

} // namespace
} // namespace gw::filters
