// `aggregate` (route filter): one request fans out to N sub-requests (parts) in parallel through
// Upstream::send (each part's cluster: its balancer, pools and circuit breaker), and the answer is
// one JSON object with each part's JSON body under its name:
//   {"user": {...}, "orders": {...}, "payments": null, "errors": [{"part": "payments", ...}]}
// A part succeeds with a 2xx JSON response. A failed optional part gives null and an `errors`
// entry naming it and why; a failed required part ends the request at once with 502
// aggregate_part_failed naming it (the other parts are cancelled). The whole request has a
// deadline (timeout_ms): parts still running then are cancelled and count as failed ("deadline").
// Part bodies are validated with RapidJSON and spliced into the answer unchanged (numbers keep
// their exact text). Per-part outcomes are counted in
// gateway_filter_aggregate_parts_total{route,part,result}.
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/aggregate/v1/aggregate.pb.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "source/common/header_map.h"
#include "source/filters/aggregate/part_template.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/router/path_template.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

using AggregateProto = gateway::filters::aggregate::v1::Aggregate;
using aggregate::Piece;

const char kName[] = "aggregate";
const FilterCounter kRequests{kName, "requests", "Requests answered by aggregation."};
const FilterCounter kRequiredFailed{
    kName, "required_failed", "Requests answered 502 because a required part failed."};
const FilterCounter kDeadline{kName, "deadline",
                              "Requests whose deadline passed with parts still running."};
const FilterLabeledCounter kParts{kName, "parts",
                                  "Part outcomes: ok, failed, timeout, cancelled, missing_value.",
                                  {"route", "part", "result"}};

constexpr uint32_t kDefaultTimeoutMs = 5000;
constexpr uint32_t kMaxTimeoutMs = 60000;
constexpr uint64_t kDefaultMaxPartBytes = 1 << 20;

struct PartSpec {
  std::string name;
  std::string cluster;
  std::string method;
  std::vector<Piece> path;
  std::chrono::milliseconds timeout;
  bool optional = false;
};

struct Settings {
  std::vector<router::TemplateSegment> segments;  // empty: no captures
  std::vector<PartSpec> parts;
  std::chrono::milliseconds timeout{kDefaultTimeoutMs};
  std::vector<std::string> forward_headers;
  bool forward_authorization = true;
  std::string identity_header;
  uint64_t max_part_bytes = kDefaultMaxPartBytes;
};

// A JSON validator: RapidJSON's reader with a handler that keeps nothing.
bool isJson(absl::string_view body) {
  rapidjson::BaseReaderHandler<> handler;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(body.data(), body.size());
  return !reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(ms, handler).IsError();
}

class AggregateConfig;

// One per request: the parts in flight and their results.
class AggregateFilter : public Filter {
public:
  explicit AggregateFilter(const Settings& s) : s_(s), parts_(s.parts.size()) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream& upstream) override;
  void onDestroy(RequestContext& ctx) override;

private:
  struct PartState {
    uint64_t id = 0;  // in flight when non-zero
    bool done = false;
    bool ok = false;
    std::string body;
    std::string error;   // code
    std::string reason;  // message
  };

  void onPart(RequestContext& ctx, size_t i, HttpResult&& r);
  void failPart(RequestContext& ctx, size_t i, std::string code, std::string reason,
                absl::string_view result);
  void onDeadline(RequestContext& ctx);
  // Answers once every part is done, or at once when a required part failed.
  void maybeFinish(RequestContext& ctx);
  void cancelRunning(RequestContext& ctx, absl::string_view result);
  absl::string_view routeName(RequestContext& ctx) const;

  const Settings& s_;
  std::vector<PartState> parts_;
  Upstream* upstream_ = nullptr;
  size_t pending_ = 0;
  bool finished_ = false;
};

class AggregateConfig : public FilterConfig {
public:
  explicit AggregateConfig(Settings s) : s_(std::move(s)) {}
  FilterPtr create() const override { return std::make_unique<AggregateFilter>(s_); }
  std::string explain(ExplainContext&) const override {
    std::vector<std::string> parts;
    for (const PartSpec& p : s_.parts) {
      parts.push_back(absl::StrCat(p.name, " <- cluster '", p.cluster, "'",
                                   p.optional ? " (optional)" : ""));
    }
    return absl::StrCat("aggregate ", s_.parts.size(), " parts in parallel (deadline ",
                        s_.timeout.count(), " ms): ", absl::StrJoin(parts, ", "));
  }

private:
  const Settings s_;
};

absl::string_view AggregateFilter::routeName(RequestContext& ctx) const {
  return ctx.route() != nullptr ? absl::string_view(ctx.route()->name()) : absl::string_view();
}

FilterStatus AggregateFilter::onRoute(RequestContext& ctx, Upstream& upstream) {
  upstream_ = &upstream;
  kRequests.inc(ctx.worker());
  const http::RequestHead& req = ctx.request();
  std::vector<std::pair<std::string, std::string>> captures;
  if (!s_.segments.empty()) {
    router::matchTemplate(s_.segments, req.path, &captures);
  }
  aggregate::Values values;
  values.captures = &captures;
  values.query = req.query;
  values.headers = &req.headers;
  values.identity = ctx.filterState().get(kIdentity);

  // What every part carries: chosen headers, the auth context and the request id.
  HeaderMap common;
  for (const std::string& name : s_.forward_headers) {
    for (const auto& [n, v] : req.headers.entries()) {
      if (n == name) {
        common.add(n, v);
      }
    }
  }
  if (s_.forward_authorization) {
    if (const std::string* auth = req.headers.get("authorization")) {
      common.add("authorization", *auth);
    }
  }
  common.set("x-request-id", ctx.requestId());
  if (!s_.identity_header.empty()) {
    common.remove(s_.identity_header);
    if (values.identity != nullptr && !values.identity->subject.empty()) {
      common.add(s_.identity_header, values.identity->subject);
    }
  }

  // Every path first: a required part without a value is the client's mistake (400), and then
  // nothing is sent.
  std::vector<std::string> paths(s_.parts.size());
  std::vector<std::string> missing(s_.parts.size());
  for (size_t i = 0; i < s_.parts.size(); i++) {
    if (!aggregate::expand(s_.parts[i].path, values, paths[i], &missing[i]) &&
        !s_.parts[i].optional) {
      kParts.inc(ctx.worker(), {routeName(ctx), s_.parts[i].name, "missing_value"});
      ErrorInfo e = ErrorInfo::make(
          ErrorKind::BadRequest,
          absl::StrCat("required part '", s_.parts[i].name, "' needs ", missing[i]),
          "aggregate_missing_value");
      e.details.emplace_back("part", s_.parts[i].name);
      ctx.fail(std::move(e));
      finished_ = true;
      return FilterStatus::StopAndRespond;
    }
  }

  RequestHandle h = ctx.handle();
  for (size_t i = 0; i < s_.parts.size(); i++) {
    const PartSpec& p = s_.parts[i];
    if (!missing[i].empty()) {
      failPart(ctx, i, "missing_value", absl::StrCat("no value for ", missing[i]),
               "missing_value");
      continue;
    }
    HttpRequest call;
    call.method = p.method;
    call.path = std::move(paths[i]);
    call.headers = common;
    call.headers.add("accept", "application/json");
    // A part's own (shorter) timeout is the client's; a part that may run as long as the
    // request is stopped by the deadline timer (the slack keeps the two from racing).
    call.timeout = p.timeout < s_.timeout ? p.timeout : s_.timeout + std::chrono::milliseconds(100);
    call.max_response_bytes = s_.max_part_bytes;
    pending_++;
    parts_[i].id = upstream.send(p.cluster, std::move(call), [this, h, i](HttpResult&& r) {
      if (RequestContext* c = h.context()) {
        onPart(*c, i, std::move(r));
      }
    });
  }
  if (pending_ == 0) {
    maybeFinish(ctx);
    return FilterStatus::StopAndRespond;
  }
  ctx.runAfter(s_.timeout, [this, h] {
    if (RequestContext* c = h.context()) {
      onDeadline(*c);
    }
  });
  return FilterStatus::Pause;
}

void AggregateFilter::failPart(RequestContext& ctx, size_t i, std::string code,
                               std::string reason, absl::string_view result) {
  PartState& ps = parts_[i];
  ps.done = true;
  ps.ok = false;
  ps.error = std::move(code);
  ps.reason = std::move(reason);
  ps.body.clear();
  kParts.inc(ctx.worker(), {routeName(ctx), s_.parts[i].name, result});
}

void AggregateFilter::onPart(RequestContext& ctx, size_t i, HttpResult&& r) {
  PartState& ps = parts_[i];
  if (finished_ || ps.done) {
    return;
  }
  ps.id = 0;
  pending_--;
  if (!r.ok()) {
    const bool timeout = r.error.kind == ErrorKind::UpstreamTimeout;
    failPart(ctx, i, r.error.code, r.error.message, timeout ? "timeout" : "failed");
  } else if (r.response.head.status < 200 || r.response.head.status > 299) {
    failPart(ctx, i, "upstream_status",
             absl::StrCat("status ", r.response.head.status, " from cluster '",
                          s_.parts[i].cluster, "'"),
             "failed");
  } else if (!isJson(r.response.body)) {
    failPart(ctx, i, "invalid_json", "the response body is not JSON", "failed");
  } else {
    ps.done = true;
    ps.ok = true;
    ps.body = std::move(r.response.body);
    kParts.inc(ctx.worker(), {routeName(ctx), s_.parts[i].name, "ok"});
  }
  maybeFinish(ctx);
}

void AggregateFilter::onDeadline(RequestContext& ctx) {
  if (finished_ || pending_ == 0) {
    return;
  }
  kDeadline.inc(ctx.worker());
  for (size_t i = 0; i < parts_.size(); i++) {
    PartState& ps = parts_[i];
    if (ps.id != 0) {
      upstream_->cancel(ps.id);
      ps.id = 0;
      failPart(ctx, i, "deadline_exceeded",
               absl::StrCat("still running at the request's deadline of ", s_.timeout.count(),
                            " ms (cancelled)"),
               "cancelled");
    }
  }
  pending_ = 0;
  maybeFinish(ctx);
}

void AggregateFilter::cancelRunning(RequestContext& ctx, absl::string_view result) {
  for (size_t i = 0; i < parts_.size(); i++) {
    if (parts_[i].id != 0) {
      upstream_->cancel(parts_[i].id);
      parts_[i].id = 0;
      kParts.inc(ctx.worker(), {routeName(ctx), s_.parts[i].name, result});
    }
  }
  pending_ = 0;
}

void AggregateFilter::maybeFinish(RequestContext& ctx) {
  if (finished_) {
    return;
  }
  for (size_t i = 0; i < parts_.size(); i++) {
    const PartState& ps = parts_[i];
    if (ps.done && !ps.ok && !s_.parts[i].optional) {
      finished_ = true;
      cancelRunning(ctx, "cancelled");
      kRequiredFailed.inc(ctx.worker());
      ErrorInfo e = ErrorInfo::make(
          ErrorKind::AggregatePartFailed,
          absl::StrCat("required part '", s_.parts[i].name, "' failed: ", ps.error, " (",
                       ps.reason, ")"));
      e.details.emplace_back("part", s_.parts[i].name);
      e.details.emplace_back("reason", ps.error);
      ctx.fail(std::move(e));
      return;
    }
  }
  if (pending_ > 0) {
    return;
  }
  finished_ = true;
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  bool errors = false;
  for (size_t i = 0; i < parts_.size(); i++) {
    const PartState& ps = parts_[i];
    w.Key(s_.parts[i].name.c_str(), static_cast<rapidjson::SizeType>(s_.parts[i].name.size()));
    if (ps.ok) {
      w.RawValue(ps.body.data(), ps.body.size(), rapidjson::kObjectType);
    } else {
      w.Null();
      errors = true;
    }
  }
  if (errors) {
    w.Key("errors");
    w.StartArray();
    for (size_t i = 0; i < parts_.size(); i++) {
      const PartState& ps = parts_[i];
      if (ps.ok) {
        continue;
      }
      w.StartObject();
      w.Key("part");
      w.String(s_.parts[i].name.c_str());
      w.Key("error");
      w.String(ps.error.c_str(), static_cast<rapidjson::SizeType>(ps.error.size()));
      w.Key("message");
      w.String(ps.reason.c_str(), static_cast<rapidjson::SizeType>(ps.reason.size()));
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  http::ResponseHead head;
  head.status = 200;
  head.headers.add("content-type", "application/json");
  head.headers.add("cache-control", "no-store");
  ctx.respond(std::move(head), std::string(sb.GetString(), sb.GetSize()));
}

void AggregateFilter::onDestroy(RequestContext& ctx) {
  if (upstream_ != nullptr && pending_ > 0) {
    cancelRunning(ctx, "cancelled");
  }
}

absl::Status invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

bool isPartName(absl::string_view s) {
  if (s.empty() || s.size() > 64) {
    return false;
  }
  for (unsigned char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

class AggregateFactory : public FilterFactory {
public:
  absl::string_view name() const override { return kName; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return AggregateProto::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    AggregateProto proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    Settings s;
    std::vector<std::string> capture_names;
    if (!proto.path_template().empty()) {
      auto segs = router::parseTemplate(proto.path_template(), "path_template");
      if (!segs.ok()) {
        return segs.status();
      }
      s.segments = std::move(*segs);
      for (const auto& seg : s.segments) {
        if (seg.kind == router::TemplateSegment::Kind::Capture) {
          capture_names.push_back(seg.text);
        }
      }
    }
    if (proto.timeout_ms() != 0) {
      if (proto.timeout_ms() > kMaxTimeoutMs) {
        return invalid("timeout_ms", absl::StrCat("must be at most ", kMaxTimeoutMs));
      }
      s.timeout = std::chrono::milliseconds(proto.timeout_ms());
    }
    if (proto.parts_size() == 0) {
      return invalid("parts", "required (at least one part)");
    }
    if (proto.parts_size() > 32) {
      return invalid("parts", "at most 32 parts");
    }
    for (int i = 0; i < proto.parts_size(); i++) {
      const auto& p = proto.parts(i);
      const std::string field = absl::StrCat("parts[", i, "]");
      PartSpec spec;
      if (!isPartName(p.name())) {
        return invalid(absl::StrCat(field, ".name"),
                       "required: 1-64 characters of A-Z a-z 0-9 '_' '-'");
      }
      if (p.name() == "errors") {
        return invalid(absl::StrCat(field, ".name"), "'errors' is the key of the failures list");
      }
      for (const PartSpec& other : s.parts) {
        if (other.name == p.name()) {
          return invalid(absl::StrCat(field, ".name"),
                         absl::StrCat("duplicate part name '", p.name(), "'"));
        }
      }
      spec.name = p.name();
      if (p.cluster().empty()) {
        return invalid(absl::StrCat(field, ".cluster"), "required");
      }
      if (!ctx.cluster_names.contains(p.cluster())) {
        return invalid(absl::StrCat(field, ".cluster"),
                       absl::StrCat("unknown cluster '", p.cluster(), "'"));
      }
      spec.cluster = p.cluster();
      auto pieces = aggregate::parsePartPath(p.path(), capture_names, absl::StrCat(field, ".path"));
      if (!pieces.ok()) {
        return pieces.status();
      }
      spec.path = std::move(*pieces);
      spec.method = p.method().empty() ? "GET" : p.method();
      for (unsigned char c : spec.method) {
        if (!absl::ascii_isupper(c)) {
          return invalid(absl::StrCat(field, ".method"), "must be an upper-case token (GET)");
        }
      }
      spec.timeout = s.timeout;
      if (p.timeout_ms() != 0) {
        if (p.timeout_ms() > s.timeout.count()) {
          return invalid(absl::StrCat(field, ".timeout_ms"),
                         absl::StrCat("must be at most the filter's timeout_ms (",
                                      s.timeout.count(), ")"));
        }
        spec.timeout = std::chrono::milliseconds(p.timeout_ms());
      }
      spec.optional = p.optional();
      s.parts.push_back(std::move(spec));
    }
    for (int i = 0; i < proto.forward_headers_size(); i++) {
      const std::string& h = proto.forward_headers(i);
      if (!isLowerToken(h)) {
        return invalid(absl::StrCat("forward_headers[", i, "]"),
                       "must be a lower-case header name");
      }
      if (h == "host" || h == "content-length" || h == "transfer-encoding" ||
          h == "connection") {
        return invalid(absl::StrCat("forward_headers[", i, "]"),
                       absl::StrCat("'", h, "' cannot be forwarded"));
      }
      s.forward_headers.push_back(h);
    }
    s.forward_authorization = !proto.has_forward_authorization() || proto.forward_authorization();
    if (!proto.identity_header().empty()) {
      if (!isLowerToken(proto.identity_header()) || proto.identity_header() == "host" ||
          proto.identity_header() == "authorization") {
        return invalid("identity_header",
                       "must be a lower-case header name other than host and authorization");
      }
      s.identity_header = proto.identity_header();
    }
    if (proto.max_part_bytes() != 0) {
      s.max_part_bytes = proto.max_part_bytes();
    }
    return FilterConfigConstSharedPtr(std::make_shared<AggregateConfig>(std::move(s)));
  }
};

const Register<AggregateFactory> kRegister;

} // namespace
} // namespace gw::filters
