// `json_transform`: edits JSON bodies with the operations of json_ops.h, in a pre filter's
// request stage (before routing) and, on the same instance, its response stage (seesResponse);
// in post_filters only the response operations run.
//
// - Only bodies whose Content-Type is JSON (application/json, or any */*+json) are parsed; other
//   bodies, empty bodies and bodies with a Content-Encoding pass untouched.
// - Each direction with operations buffers the whole body (BodyPolicy::buffer(max_body_bytes)):
//   over it, a request gets 413 and a response 502 (the stream's own rules). The stream frames
//   the edited body with Content-Length, whatever framing (chunked) it arrived with.
// - A request body that is not valid JSON gets 400 invalid_json; a response body that is not
//   passes unchanged, or gets 502 invalid_upstream_json with on_invalid_response: reject.
// - A body no operation changed is sent byte for byte as it came.
// Stateless: one shared instance serves every request.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/json_transform/v1/json_transform.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/common/percent.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/json_transform/json_ops.h"
#include "source/router/path_template.h"

namespace gw::filters {
namespace {

using Proto = gateway::filters::json_transform::v1::JsonTransform;
using json::Program;
using json::TemplateRef;

constexpr uint64_t kDefaultMaxBody = 1 << 20;
constexpr uint64_t kMaxMaxBody = 64ull << 20;

const FilterCounter kTransformed{"json_transform", "transformed",
                                 "Bodies (either direction) an operation changed."};
const FilterCounter kNotJson{"json_transform", "not_json",
                             "Bodies passed untouched: not JSON by Content-Type, or encoded."};
const FilterCounter kInvalidRequest{"json_transform", "invalid_request",
                                    "Requests refused 400 invalid_json."};
const FilterCounter kInvalidResponse{
    "json_transform", "invalid_response",
    "Responses whose body was not valid JSON (passed unchanged, or 502 with reject)."};

// application/json, application/problem+json, application/vnd.example.v2+json (any case, with
// parameters).
bool isJsonType(const std::string* content_type) {
  if (content_type == nullptr) {
    return false;
  }
  absl::string_view t = *content_type;
  t = t.substr(0, t.find(';'));
  t = absl::StripAsciiWhitespace(t);
  return absl::EqualsIgnoreCase(t, "application/json") ||
         (absl::StartsWithIgnoreCase(t, "application/") && absl::EndsWithIgnoreCase(t, "+json"));
}

bool transformable(const HeaderMap& h, const std::string& body) {
  if (body.empty() || !isJsonType(h.get("content-type"))) {
    return false;
  }
  const std::string* enc = h.get("content-encoding");
  return enc == nullptr || absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(*enc), "identity");
}

class JsonTransformConfig;

class JsonTransformFilter : public Filter {
public:
  explicit JsonTransformFilter(const JsonTransformConfig& c) : config_(c) {}
  FilterStatus onRequestBody(RequestContext& ctx, std::string& body, bool end) override;
  FilterStatus onResponseBody(RequestContext& ctx, std::string& body, bool end) override;

private:
  const JsonTransformConfig& config_;
};

class JsonTransformConfig : public FilterConfig {
public:
  Filter* shared() const override { return &shared_; }
  BodyPolicy requestBody() const override {
    return request->empty() ? BodyPolicy::untouched() : BodyPolicy::buffer(max_body);
  }
  BodyPolicy responseBody() const override {
    return response->empty() ? BodyPolicy::untouched() : BodyPolicy::buffer(max_body);
  }
  bool seesResponse() const override { return !response->empty(); }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("JSON bodies up to ", max_body, " bytes; request: ", request->describe(),
                        "; response: ", response->describe(),
                        reject_invalid_response ? " (invalid JSON responses: 502)" : "");
  }

  // A placeholder's value for this request.
  bool resolve(RequestContext& ctx, const TemplateRef& ref, std::string& out) const {
    const http::RequestHead& req = ctx.request();
    switch (ref.source) {
    case TemplateRef::Source::Header:
      if (const std::string* v = req.headers.get(ref.name)) {
        out = *v;
        return true;
      }
      return false;
    case TemplateRef::Source::PathCapture: {
      std::vector<std::pair<std::string, std::string>> captures;
      if (!router::matchTemplate(path_template, req.path, &captures)) {
        return false;
      }
      for (auto& [name, value] : captures) {
        if (name == ref.name) {
          out = percentDecode(value);
          return true;
        }
      }
      return false;
    }
    case TemplateRef::Source::Query: {
      bool found = false;
      forEachQueryPair(req.query, [&](absl::string_view, absl::string_view k,
                                      absl::string_view v) {
        if (!queryKeyIs(k, ref.name)) {
          return true;
        }
        std::string plus(v);
        std::replace(plus.begin(), plus.end(), '+', ' ');
        out = percentDecode(plus);
        found = true;
        return false;
      });
      return found;
    }
    case TemplateRef::Source::Claim:
    case TemplateRef::Source::Subject: {
      const Identity* id = ctx.filterState().get(kIdentity);
      if (id == nullptr) {
        return false;
      }
      if (ref.source == TemplateRef::Source::Subject) {
        out = id->subject;
        return !out.empty();
      }
      for (const auto& [name, value] : id->claims) {
        if (name == ref.name) {
          out = value;
          return true;
        }
      }
      return false;
    }
    case TemplateRef::Source::RequestId:
      out = std::string(ctx.requestId());
      return true;
    }
    return false;
  }

  std::unique_ptr<Program> request, response;
  uint64_t max_body = kDefaultMaxBody;
  bool reject_invalid_response = false;
  std::vector<router::TemplateSegment> path_template;

private:
  mutable JsonTransformFilter shared_{*this};
};

FilterStatus JsonTransformFilter::onRequestBody(RequestContext& ctx, std::string& body, bool end) {
  if (!end || config_.request->empty()) {
    return FilterStatus::Continue;
  }
  if (!transformable(ctx.request().headers, body)) {
    kNotJson.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  std::string error;
  auto resolve = [&](const TemplateRef& r, std::string& out) {
    return config_.resolve(ctx, r, out);
  };
  switch (config_.request->apply(body, resolve, error)) {
  case Program::Result::Invalid:
    kInvalidRequest.inc(ctx.worker());
    ctx.fail(ErrorInfo::make(ErrorKind::BadRequest,
                             absl::StrCat("request body is not valid JSON: ", error),
                             "invalid_json"));
    return FilterStatus::StopAndRespond;
  case Program::Result::Changed:
    kTransformed.inc(ctx.worker());
    break;
  case Program::Result::Unchanged:
    break;
  }
  return FilterStatus::Continue;
}

FilterStatus JsonTransformFilter::onResponseBody(RequestContext& ctx, std::string& body,
                                                 bool end) {
  if (!end || config_.response->empty()) {
    return FilterStatus::Continue;
  }
  if (!transformable(ctx.response().headers, body)) {
    kNotJson.inc(ctx.worker());
    return FilterStatus::Continue;
  }
  std::string error;
  auto resolve = [&](const TemplateRef& r, std::string& out) {
    return config_.resolve(ctx, r, out);
  };
  switch (config_.response->apply(body, resolve, error)) {
  case Program::Result::Invalid:
    kInvalidResponse.inc(ctx.worker());
    if (config_.reject_invalid_response) {
      ctx.fail(ErrorInfo::make(ErrorKind::UpstreamProtocolError,
                               absl::StrCat("upstream response body is not valid JSON: ", error),
                               "invalid_upstream_json"));
      return FilterStatus::StopAndRespond;
    }
    break;
  case Program::Result::Changed:
    kTransformed.inc(ctx.worker());
    break;
  case Program::Result::Unchanged:
    break;
  }
  return FilterStatus::Continue;
}

absl::StatusOr<std::unique_ptr<Program>> compileList(
    const google::protobuf::RepeatedPtrField<Proto::Operation>& list, absl::string_view field) {
  std::vector<json::OpSpec> specs;
  for (int i = 0; i < list.size(); i++) {
    const Proto::Operation& o = list[i];
    json::OpSpec s;
    s.op = o.op();
    s.path = o.path();
    s.to = o.to();
    const int values = o.has_value() + !o.value_json().empty();
    if (values > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "]: set exactly one of value, value_json and template"));
    }
    if (o.has_value()) {
      s.has_value = true;
      if (auto st = google::protobuf::util::MessageToJsonString(o.value(), &s.value_json);
          !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, "[", i, "].value: ", st.ToString()));
      }
    } else if (!o.value_json().empty()) {
      s.has_value = true;
      s.value_json = o.value_json();
    }
    s.has_template = !o.template_().empty();
    s.template_text = o.template_();
    specs.push_back(std::move(s));
  }
  return Program::compile(specs, field);
}

class JsonTransformFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "json_transform"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return Proto::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    Proto proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<JsonTransformConfig>();
    auto req = compileList(proto.request(), "request");
    if (!req.ok()) {
      return req.status();
    }
    auto resp = compileList(proto.response(), "response");
    if (!resp.ok()) {
      return resp.status();
    }
    c->request = std::move(*req);
    c->response = std::move(*resp);
    if (c->request->empty() && c->response->empty()) {
      return absl::InvalidArgumentError("request: give request or response operations");
    }
    if (proto.max_body_bytes() > kMaxMaxBody) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_body_bytes: at most ", kMaxMaxBody, " (64 MiB)"));
    }
    if (proto.max_body_bytes() != 0) {
      c->max_body = proto.max_body_bytes();
    }
    if (proto.on_invalid_response() == "reject") {
      c->reject_invalid_response = true;
    } else if (!proto.on_invalid_response().empty() && proto.on_invalid_response() != "pass") {
      return absl::InvalidArgumentError(absl::StrCat("on_invalid_response: unknown value '",
                                                     proto.on_invalid_response(),
                                                     "' (pass or reject)"));
    }
    std::vector<std::string> captures;
    if (!proto.path_template().empty()) {
      auto segs = router::parseTemplate(proto.path_template(), "path_template");
      if (!segs.ok()) {
        return segs.status();
      }
      c->path_template = std::move(*segs);
      for (const auto& s : c->path_template) {
        if (s.kind == router::TemplateSegment::Kind::Capture) {
          captures.push_back(s.text);
        }
      }
    }
    for (const Program* p : {c->request.get(), c->response.get()}) {
      for (const TemplateRef* r : p->references()) {
        if (r->source == TemplateRef::Source::PathCapture &&
            std::find(captures.begin(), captures.end(), r->name) == captures.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              p == c->request.get() ? "request" : "response", ": {path.", r->name,
              "} is not a capture of path_template '", proto.path_template(), "'"));
        }
      }
    }
    return FilterConfigConstSharedPtr(std::move(c));
  }
};

const Register<JsonTransformFactory> kRegister;

} // namespace
} // namespace gw::filters
