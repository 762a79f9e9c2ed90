// `redirect` (route filter): answers from the gateway with a redirect (301 by default) whose
// Location is the request's resource under another scheme, host, port or path; unset parts come
// from the request. Its main use is the plain-HTTP listener's "go to HTTPS" route. The body is
// empty; the response goes through the response stage like a proxied one.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/redirect/v1/redirect.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

class RedirectConfig;

class RedirectFilter : public Filter {
public:
  explicit RedirectFilter(const RedirectConfig& c) : config_(c) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream&) override;

private:
  const RedirectConfig& config_;
};

class RedirectConfig : public FilterConfig {
public:
  RedirectConfig(const gateway::filters::redirect::v1::Redirect& p, int status)
      : scheme_(p.scheme().empty() ? "https" : absl::AsciiStrToLower(p.scheme())), host_(p.host()),
        port_suffix_(p.port() == 0 ? "" : absl::StrCat(":", p.port())), path_(p.path()),
        strip_query_(p.strip_query()) {
    route_.kind = StaticRoute::Kind::DirectResponse;
    route_.status = status;
  }
  Filter* shared() const override { return &shared_; }
  const StaticRoute* staticRoute() const override { return &route_; }
  std::string explain(ExplainContext& ctx) const override {
    return absl::StrCat("redirect ", route_.status, " to ", location(ctx.head));
  }

  int status() const { return route_.status; }
  // scheme://host[:port]path[?query]: the request's host (the codec checked it: no CR, LF or
  // space), path and query where the config sets none.
  std::string location(const http::RequestHead& req) const {
    const std::string& host = host_.empty() ? req.host : host_;
    const std::string& path = path_.empty() ? req.path : path_;
    std::string out = absl::StrCat(scheme_, "://", host, port_suffix_, path.empty() ? "/" : path);
    if (!strip_query_ && !req.query.empty()) {
      absl::StrAppend(&out, "?", req.query);
    }
    return out;
  }

private:
  const std::string scheme_;
  const std::string host_;
  const std::string port_suffix_;
  const std::string path_;
  const bool strip_query_;
  StaticRoute route_;
  mutable RedirectFilter shared_{*this};  // stateless: one instance for every request
};

FilterStatus RedirectFilter::onRoute(RequestContext& ctx, Upstream&) {
  http::ResponseHead head;
  head.status = config_.status();
  head.headers.add("location", config_.location(ctx.request()));
  ctx.respond(std::move(head), std::string());
  return FilterStatus::StopAndRespond;
}

// A host name or IP literal as a URL's authority may hold it (no userinfo, port or path).
bool validHost(absl::string_view h) {
  if (h.empty() || h.size() > 255) {
    return false;
  }
  if (h.front() == '[') {
    return h.back() == ']' && h.size() > 2 &&
           h.substr(1, h.size() - 2).find_first_not_of("0123456789abcdefABCDEF:.") ==
               absl::string_view::npos;
  }
  return h.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
         absl::string_view::npos;
}

bool validPath(absl::string_view p) {
  if (p.empty() || p.front() != '/' || (p.size() > 1 && p[1] == '/')) {
    return false;  // "//x" would read as a host
  }
  for (const char c : p) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\') {
      return false;
    }
  }
  return true;
}

class RedirectFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "redirect"; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::redirect::v1::Redirect::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::redirect::v1::Redirect proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    const std::string scheme = absl::AsciiStrToLower(proto.scheme());
    if (!scheme.empty() && scheme != "http" && scheme != "https") {
      return absl::InvalidArgumentError("scheme: must be http or https");
    }
    if (!proto.host().empty() && !validHost(proto.host())) {
      return absl::InvalidArgumentError(
          "host: must be a host name or an IP literal ([v6] in brackets), without a port");
    }
    if (proto.port() > 65535) {
      return absl::InvalidArgumentError("port: must be 1..65535");
    }
    if (!proto.path().empty() && !validPath(proto.path())) {
      return absl::InvalidArgumentError(
          "path: must start with a single '/' and hold no spaces, controls, '?', '#' or '\\'");
    }
    const int status = proto.status() == 0 ? 301 : static_cast<int>(proto.status());
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
      return absl::InvalidArgumentError("status: must be 301, 302, 303, 307 or 308");
    }
    return FilterConfigConstSharedPtr(std::make_shared<RedirectConfig>(proto, status));
  }
};

const Register<RedirectFactory> kRegister;

} // namespace
} // namespace gw::filters
