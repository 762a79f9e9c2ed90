// `headers`: add / set / remove request headers (pre stage) and response headers (post and error
// stages). Values are templates with %VARIABLE% references, parsed once at config load.
// Stateless: one shared instance serves every request.
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/filters/headers/v1/headers.pb.h"
#include "source/filters/filter.h"
#include "source/http/http1_codec.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

enum class Var { Literal, RequestId, ClientAddress, RouteName, UpstreamHost, StartTime,
                 ResponseTimeMs, Host, Method, Path };

struct Piece {
  Var var = Var::Literal;
  std::string literal;
};

constexpr std::pair<const char*, Var> kVars[] = {
    {"REQUEST_ID", Var::RequestId},     {"CLIENT_ADDRESS", Var::ClientAddress},
    {"ROUTE_NAME", Var::RouteName},     {"UPSTREAM_HOST", Var::UpstreamHost},
    {"START_TIME", Var::StartTime},     {"RESPONSE_TIME_MS", Var::ResponseTimeMs},
    {"HOST", Var::Host},                {"METHOD", Var::Method},
    {"PATH", Var::Path}};

struct Template {
  std::vector<Piece> pieces;

  std::string render(RequestContext& ctx) const {
    std::string out;
    for (const auto& p : pieces) {
      switch (p.var) {
      case Var::Literal: out += p.literal; break;
      case Var::RequestId: out.append(ctx.requestId().data(), ctx.requestId().size()); break;
      case Var::ClientAddress: out += ctx.clientAddress(); break;
      case Var::RouteName: out += ctx.route() ? ctx.route()->name() : ""; break;
      case Var::UpstreamHost: out += ctx.upstreamHost(); break;
      case Var::StartTime: {
        const std::time_t t = std::chrono::system_clock::to_time_t(ctx.startTime());
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[32];
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        out += buf;
        break;
      }
      case Var::ResponseTimeMs: out += absl::StrCat(ctx.elapsedMs()); break;
      case Var::Host: out += ctx.request().host; break;
      case Var::Method: out += ctx.request().method; break;
      case Var::Path: out += ctx.request().path; break;
      }
    }
    return out;
  }

  // For explain: literals as they are, variables by name ("req-%REQUEST_ID%").
  std::string describe() const {
    std::string out;
    for (const auto& p : pieces) {
      if (p.var == Var::Literal) {
        out += p.literal;
        continue;
      }
      for (const auto& [name, v] : kVars) {
        if (v == p.var) {
          absl::StrAppend(&out, "%", name, "%");
        }
      }
    }
    return out;
  }
};

absl::StatusOr<Template> parseTemplate(absl::string_view s) {
  Template t;
  std::string lit;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '%') {
      lit.push_back(s[i++]);
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '%') {  // "%%" is a literal '%'
      lit.push_back('%');
      i += 2;
      continue;
    }
    const size_t end = s.find('%', i + 1);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unterminated variable in '", s, "'"));
    }
    absl::string_view name = s.substr(i + 1, end - i - 1);
    bool found = false;
    for (const auto& [n, v] : kVars) {
      if (name == n) {
        if (!lit.empty()) {
          t.pieces.push_back({Var::Literal, std::move(lit)});
          lit.clear();
        }
        t.pieces.push_back({v, ""});
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat("unknown variable %", name, "%"));
    }
    i = end + 1;
  }
  if (!lit.empty()) {
    t.pieces.push_back({Var::Literal, std::move(lit)});
  }
  return t;
}

struct Op {
  std::string name;
  Template value;
};

struct Ops {
  std::vector<Op> add, set;
  std::vector<std::string> remove;

  void apply(RequestContext& ctx, HeaderMap& h) const {
    for (const auto& n : remove) {
      h.remove(n);
    }
    for (const auto& o : set) {
      h.set(o.name, o.value.render(ctx));
    }
    for (const auto& o : add) {
      h.add(o.name, o.value.render(ctx));
    }
  }

  // The ops in the order apply() runs them: "remove x-b, set x-a: %REQUEST_ID%, add x-c: 1".
  std::string describe() const {
    std::vector<std::string> parts;
    for (const auto& n : remove) {
      parts.push_back(absl::StrCat("remove ", n));
    }
    for (const auto& o : set) {
      parts.push_back(absl::StrCat("set ", o.name, ": ", o.value.describe()));
    }
    for (const auto& o : add) {
      parts.push_back(absl::StrCat("add ", o.name, ": ", o.value.describe()));
    }
    return parts.empty() ? "no changes" : absl::StrJoin(parts, ", ");
  }
};

class HeadersFilterConfig;

class HeadersFilter : public Filter {
public:
  explicit HeadersFilter(const HeadersFilterConfig& c) : config_(c) {}
  FilterStatus onRequestHeaders(RequestContext& ctx) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;
  FilterStatus onError(RequestContext& ctx) override { return onResponseHeaders(ctx); }

private:
  const HeadersFilterConfig& config_;
};

class HeadersFilterConfig : public FilterConfig {
public:
  Filter* shared() const override { return &shared_; }
  // "request: set x-a: %REQUEST_ID%; response: remove server". The request ops run in the pre
  // stage, the response ops in the post and error stages.
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("request: ", request.describe(), "; response: ", response.describe());
  }
  Ops request, response;

private:
  mutable HeadersFilter shared_{*this};  // stateless: one instance for every request
};

FilterStatus HeadersFilter::onRequestHeaders(RequestContext& ctx) {
  config_.request.apply(ctx, ctx.request().headers);
  return FilterStatus::Continue;
}

FilterStatus HeadersFilter::onResponseHeaders(RequestContext& ctx) {
  config_.response.apply(ctx, ctx.response().headers);
  return FilterStatus::Continue;
}

// `path` is the field path of the name: "request_set[0].name" or "request_remove[0]".
absl::Status checkName(const std::string& path, std::string& name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": required"));
  }
  for (unsigned char c : name) {
    if (!isTokenChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": invalid header name '", name, "'"));
    }
  }
  absl::AsciiStrToLower(&name);
  static const char* kHopByHop[] = {"connection", "keep-alive", "transfer-encoding", "te",
                                    "upgrade", "trailer", "content-length", "host"};
  for (const char* h : kHopByHop) {
    if (name == h) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '", name, "' is managed by the gateway"));
    }
  }
  return absl::OkStatus();
}

absl::Status buildOps(const std::string& prefix,
                      const google::protobuf::RepeatedPtrField<
                          gateway::filters::headers::v1::Headers::HeaderValue>& add,
                      const google::protobuf::RepeatedPtrField<
                          gateway::filters::headers::v1::Headers::HeaderValue>& set,
                      const google::protobuf::RepeatedPtrField<std::string>& remove, Ops& ops) {
  auto convert = [&](const std::string& field, const auto& list,
                     std::vector<Op>& out) -> absl::Status {
    for (int i = 0; i < list.size(); i++) {
      Op op;
      op.name = list[i].name();
      if (auto st = checkName(absl::StrCat(field, "[", i, "].name"), op.name); !st.ok()) {
        return st;
      }
      if (!http::isValidFieldValue(list[i].value())) {
        return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "].value: invalid character"));
      }
      auto t = parseTemplate(list[i].value());
      if (!t.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, "[", i, "].value: ", t.status().message()));
      }
      op.value = std::move(*t);
      out.push_back(std::move(op));
    }
    return absl::OkStatus();
  };
  if (auto st = convert(prefix + "_add", add, ops.add); !st.ok()) {
    return st;
  }
  if (auto st = convert(prefix + "_set", set, ops.set); !st.ok()) {
    return st;
  }
  for (int i = 0; i < remove.size(); i++) {
    std::string name = remove[i];
    if (auto st = checkName(absl::StrCat(prefix, "_remove[", i, "]"), name); !st.ok()) {
      return st;
    }
    ops.remove.push_back(name);
  }
  return absl::OkStatus();
}

class HeadersFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "headers"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::headers::v1::Headers::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::headers::v1::Headers proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<HeadersFilterConfig>();
    if (auto st = buildOps("request", proto.request_add(), proto.request_set(),
                           proto.request_remove(), c->request);
        !st.ok()) {
      return st;
    }
    if (auto st = buildOps("response", proto.response_add(), proto.response_set(),
                           proto.response_remove(), c->response);
        !st.ok()) {
      return st;
    }
    return FilterConfigConstSharedPtr(std::move(c));
  }
};

const Register<HeadersFactory> kRegister;

} // namespace
} // namespace gw::filters
