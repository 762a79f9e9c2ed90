// `soap` (route filter): REST -> SOAP and back. The whole JSON request body (buffered: the
// route's request body policy is Buffer(max_request_bytes)) becomes a SOAP 1.1 or 1.2 envelope
// (soap_codec.h: the mapping rules or a body template), POSTed to the configured cluster and
// path with SOAPAction (1.1) or the action parameter (1.2). The answer:
//   the response element          -> 200 application/json, the element's content as an object
//   a Fault (1.1 or 1.2)          -> 502 soap_fault, or client_fault_status for Client/Sender,
//                                    details.faultcode / details.faultstring
//   a DOCTYPE/ENTITY, too deep    -> 502 soap_xml_rejected (nothing is fetched or expanded)
//   not XML / not an envelope /
//   another element / a non-2xx without a Fault -> 502 soap_invalid_response
//   a transport error             -> as the HTTP client gives it (502, 503, 504)
// The request side: invalid JSON -> 400 invalid_json; a body the mapping cannot express (not an
// object, bad names, arrays of arrays, too deep) -> 400 soap_invalid_request; a template
// placeholder with nothing at its pointer -> 400 soap_missing_field.
// One shared instance: the filter keeps no per-request state (the call is a route
// sub-request, cancelled by the stream when the request ends).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/soap/v1/soap.pb.h"
#include "source/filters/filter.h"
#include "source/filters/filter_stats.h"
#include "source/filters/soap/soap_codec.h"

namespace gw::filters {
namespace {

using soap::SoapResult;
using soap::SoapVersion;

const char kName[] = "soap";
const FilterCounter kCalls{kName, "calls", "SOAP calls made."};
const FilterCounter kOk{kName, "ok", "SOAP responses converted to JSON."};
const FilterCounter kFaults{kName, "faults", "SOAP Faults answered as JSON errors."};
const FilterCounter kBadRequests{kName, "bad_requests",
                                 "Requests refused with 400 (invalid JSON, unmappable body)."};
const FilterCounter kInvalidResponses{
    kName, "invalid_responses",
    "SOAP responses refused with 502: not XML, not an envelope, unexpected element or status."};
const FilterCounter kRejectedXml{kName, "rejected_xml",
                                 "SOAP responses refused as unsafe (DOCTYPE, ENTITY, depth)."};
const FilterCounter kCallErrors{kName, "call_errors",
                                "SOAP calls that failed in transport (connect, timeout, size)."};

constexpr uint64_t kMaxBodyLimit = 16ull << 20;

struct Settings {
  std::string cluster, path;
  SoapVersion version = SoapVersion::V11;
  std::string action;
  std::string content_type;  // with the action parameter for 1.2
  std::optional<soap::BodyTemplate> body_template;
  soap::RequestOptions request;
  soap::ResponseOptions response;
  int client_fault_status = 0;  // 0: 502
  std::chrono::milliseconds timeout{5000};
  uint64_t max_request_bytes = 65536;
  uint64_t max_response_bytes = 1 << 20;
};

class SoapConfig;

class SoapFilter : public Filter {
public:
  explicit SoapFilter(const Settings& s) : s_(s) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream& upstream) override;

private:
  void onResult(RequestContext& ctx, HttpResult&& r) const;
  const Settings& s_;
};

class SoapConfig : public FilterConfig {
public:
  explicit SoapConfig(std::unique_ptr<Settings> s) : s_(std::move(s)), shared_(*s_) {
    // The options point at the template inside the (never moved again) settings.
    s_->request.body_template = s_->body_template ? &*s_->body_template : nullptr;
  }
  Filter* shared() const override { return &shared_; }
  BodyPolicy requestBody() const override { return BodyPolicy::buffer(s_->max_request_bytes); }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat(
        "SOAP ", s_->version == SoapVersion::V11 ? "1.1" : "1.2", " call ",
        s_->request.operation, " (", s_->request.ns, ", action \"", s_->action,
        "\") to cluster '", s_->cluster, "' ", s_->path, ": the JSON body (at most ",
        s_->max_request_bytes, " bytes) ",
        s_->body_template ? "fills the body template" : "mapped to XML", "; ",
        s_->response.response_element, " answered as JSON; a Fault as ",
        s_->client_fault_status != 0 ? absl::StrCat(s_->client_fault_status, " (Client/Sender), ")
                                     : std::string(),
        "502 soap_fault");
  }

private:
  std::unique_ptr<Settings> s_;
  mutable SoapFilter shared_;
};

FilterStatus SoapFilter::onRoute(RequestContext& ctx, Upstream& upstream) {
  HttpRequest call;
  soap::RequestError err;
  if (!soap::buildRequest(ctx.requestBody(), s_.request, call.body, err)) {
    kBadRequests.inc(ctx.worker());
    ctx.fail(ErrorInfo::make(err.invalid_json ? ErrorKind::InvalidJson : ErrorKind::BadRequest,
                             std::move(err.message), err.invalid_json ? "" : err.code));
    return FilterStatus::StopAndRespond;
  }
  call.method = "POST";
  call.path = s_.path;
  call.timeout = s_.timeout;
  call.max_response_bytes = s_.max_response_bytes;
  call.headers.add("content-type", s_.content_type);
  if (s_.version == SoapVersion::V11) {
    call.headers.add("soapaction", absl::StrCat("\"", s_.action, "\""));
    call.headers.add("accept", "text/xml");
  } else {
    call.headers.add("accept", "application/soap+xml");
  }
  call.headers.add("x-request-id", ctx.requestId());
  kCalls.inc(ctx.worker());
  RequestHandle h = ctx.handle();
  upstream.send(s_.cluster, std::move(call), [this, h](HttpResult&& r) {
    if (RequestContext* c = h.context()) {
      onResult(*c, std::move(r));
    }
  });
  return FilterStatus::Pause;
}

// "SOAP service at cluster 'x'", the start of every error message.
std::string serviceName(const Settings& s) {
  return absl::StrCat("SOAP service at cluster '", s.cluster, "'");
}

void SoapFilter::onResult(RequestContext& ctx, HttpResult&& r) const {
  if (!r.ok()) {
    kCallErrors.inc(ctx.worker());
    ctx.fail(std::move(r.error));
    return;
  }
  const int status = r.response.head.status;
  SoapResult res = soap::parseResponse(r.response.body, s_.response);
  switch (res.kind) {
  case SoapResult::Kind::Ok:
    if (status < 200 || status > 299) {
      break;  // a response element with an error status: refused below
    }
    kOk.inc(ctx.worker());
    ctx.respond(200, res.json, "application/json");
    return;
  case SoapResult::Kind::Fault: {
    kFaults.inc(ctx.worker());
    ErrorInfo e = ErrorInfo::make(
        ErrorKind::SoapFault,
        absl::StrCat(serviceName(s_), " answered a SOAP Fault: ",
                     res.fault_string.empty() ? res.fault_code : res.fault_string),
        {}, res.client_fault ? s_.client_fault_status : 0);
    e.details.emplace_back("faultcode", std::move(res.fault_code));
    e.details.emplace_back("faultstring", std::move(res.fault_string));
    ctx.fail(std::move(e));
    return;
  }
  case SoapResult::Kind::Rejected:
    kRejectedXml.inc(ctx.worker());
    ctx.fail(ErrorInfo::make(ErrorKind::UpstreamProtocolError,
                             absl::StrCat(serviceName(s_), ": unsafe XML refused: ", res.error),
                             "soap_xml_rejected"));
    return;
  case SoapResult::Kind::Invalid:
    break;
  }
  kInvalidResponses.inc(ctx.worker());
  ctx.fail(ErrorInfo::make(
      ErrorKind::UpstreamProtocolError,
      res.kind == SoapResult::Kind::Ok
          ? absl::StrCat(serviceName(s_), " answered status ", status, " without a Fault")
          : absl::StrCat(serviceName(s_), " (status ", status, "): ", res.error),
      "soap_invalid_response"));
}

absl::Status invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Printable ASCII without the characters a quoted header parameter or an XML attribute would
// need escaped.
bool isPlainText(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '&') {
      return false;
    }
  }
  return true;
}

class SoapFactory : public FilterFactory {
public:
  absl::string_view name() const override { return kName; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::soap::v1::Soap::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::soap::v1::Soap proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto s = std::make_unique<Settings>();
    if (proto.cluster().empty()) {
      return invalid("cluster", "required (the SOAP service's cluster)");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return invalid("cluster", absl::StrCat("unknown cluster '", proto.cluster(), "'"));
    }
    s->cluster = proto.cluster();
    if (proto.path().empty() || proto.path()[0] != '/') {
      return invalid("path", "required, starting with '/'");
    }
    for (unsigned char c : proto.path()) {
      if (c <= ' ' || c >= 0x7f) {
        return invalid("path", "must be printable ASCII without spaces");
      }
    }
    s->path = proto.path();
    if (proto.soap_version().empty() || proto.soap_version() == "1.1") {
      s->version = SoapVersion::V11;
    } else if (proto.soap_version() == "1.2") {
      s->version = SoapVersion::V12;
    } else {
      return invalid("soap_version",
                     absl::StrCat("must be \"1.1\" or \"1.2\", not '", proto.soap_version(), "'"));
    }
    if (!soap::isXmlName(proto.operation())) {
      return invalid("operation", proto.operation().empty()
                                      ? "required (the operation element's name)"
                                      : "must be an XML name ([A-Za-z_][A-Za-z0-9._-]*)");
    }
    if (proto.namespace_().empty() || !isPlainText(proto.namespace_())) {
      return invalid("namespace", "required: a namespace URI (printable ASCII, no quotes, '<', "
                                  "'&' or backslashes)");
    }
    s->request.version = s->version;
    s->request.operation = proto.operation();
    s->request.ns = proto.namespace_();
    if (!proto.action().empty()) {
      if (!isPlainText(proto.action())) {
        return invalid("action", "must be printable ASCII without quotes or backslashes");
      }
      s->action = proto.action();
    } else {
      const bool urn = absl::StartsWith(proto.namespace_(), "urn:");
      s->action = absl::StrCat(proto.namespace_(),
                               urn || absl::EndsWith(proto.namespace_(), "/") ? "" : "/",
                               urn && !absl::EndsWith(proto.namespace_(), ":") ? ":" : "",
                               proto.operation());
    }
    s->content_type = s->version == SoapVersion::V11
                          ? std::string("text/xml; charset=utf-8")
                          : absl::StrCat("application/soap+xml; charset=utf-8; action=\"",
                                         s->action, "\"");
    if (!proto.body_template().empty()) {
      auto t = soap::BodyTemplate::parse(proto.body_template());
      if (!t.ok()) {
        return invalid("body_template", t.status().message());
      }
      s->body_template.emplace(std::move(*t));
    }
    s->response.response_element = proto.response_element().empty()
                                       ? absl::StrCat(proto.operation(), "Response")
                                       : proto.response_element();
    if (!soap::isXmlName(s->response.response_element)) {
      return invalid("response_element", "must be an XML local name (no prefix)");
    }
    s->response.keep_namespaces = proto.keep_namespaces();
    for (int i = 0; i < proto.array_elements_size(); i++) {
      const std::string& n = proto.array_elements(i);
      const size_t colon = n.find(':');
      const bool ok = colon == std::string::npos
                          ? soap::isXmlName(n)
                          : soap::isXmlName(n.substr(0, colon)) &&
                                soap::isXmlName(n.substr(colon + 1));
      if (!ok) {
        return invalid(absl::StrCat("array_elements[", i, "]"), "must be an XML element name");
      }
      s->response.array_elements.insert(n);
    }
    if (proto.client_fault_status() != 0) {
      if (proto.client_fault_status() < 400 || proto.client_fault_status() > 499) {
        return invalid("client_fault_status", "must be 400..499 (0: Client faults get 502 too)");
      }
      s->client_fault_status = static_cast<int>(proto.client_fault_status());
    }
    if (proto.timeout_ms() != 0) {
      if (proto.timeout_ms() > 300000) {
        return invalid("timeout_ms", "must be at most 300000");
      }
      s->timeout = std::chrono::milliseconds(proto.timeout_ms());
    }
    if (proto.max_request_bytes() != 0) {
      if (proto.max_request_bytes() > kMaxBodyLimit) {
        return invalid("max_request_bytes", "must be at most 16777216 (16 MiB)");
      }
      s->max_request_bytes = proto.max_request_bytes();
    }
    if (proto.max_response_bytes() != 0) {
      if (proto.max_response_bytes() > kMaxBodyLimit) {
        return invalid("max_response_bytes", "must be at most 16777216 (16 MiB)");
      }
      s->max_response_bytes = proto.max_response_bytes();
    }
    if (proto.max_depth() != 0) {
      if (proto.max_depth() > 256) {
        return invalid("max_depth", "must be at most 256");
      }
      s->request.max_depth = proto.max_depth();
      s->response.max_depth = proto.max_depth();
    }
    return FilterConfigConstSharedPtr(std::make_shared<SoapConfig>(std::move(s)));
  }
};

const Register<SoapFactory> kRegister;

} // namespace
} // namespace gw::filters
