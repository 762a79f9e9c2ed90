// `direct_response` (route filter): answers from the gateway itself with a configured status,
// body and content type. The response goes through the response stage like a proxied one.
#include "absl/strings/str_cat.h"
#include "gateway/filters/direct_response/v1/direct_response.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

class DirectResponseConfig;

class DirectResponseFilter : public Filter {
public:
  explicit DirectResponseFilter(const DirectResponseConfig& c) : config_(c) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream&) override;

private:
  const DirectResponseConfig& config_;
};

class DirectResponseConfig : public FilterConfig {
public:
  DirectResponseConfig(int status, std::string body, std::string content_type)
      : body(std::move(body)), content_type(std::move(content_type)) {
    route_.kind = StaticRoute::Kind::DirectResponse;
    route_.status = status;
  }
  Filter* shared() const override { return &shared_; }
  const StaticRoute* staticRoute() const override { return &route_; }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("respond ", route_.status, " (", body.size(), " bytes, ", content_type,
                        ")");
  }
  int status() const { return route_.status; }

  const std::string body;
  const std::string content_type;

private:
  StaticRoute route_;
  mutable DirectResponseFilter shared_{*this};  // stateless: one instance for every request
};

FilterStatus DirectResponseFilter::onRoute(RequestContext& ctx, Upstream&) {
  ctx.respond(config_.status(), config_.body, config_.content_type);
  return FilterStatus::StopAndRespond;
}

class DirectResponseFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "direct_response"; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::direct_response::v1::DirectResponse::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::direct_response::v1::DirectResponse proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    const int status = proto.status() == 0 ? 200 : static_cast<int>(proto.status());
    if (status < 200 || status > 599) {
      return absl::InvalidArgumentError("status: must be 200..599");
    }
    return FilterConfigConstSharedPtr(std::make_shared<DirectResponseConfig>(
        status, proto.body(),
        proto.content_type().empty() ? "text/plain" : proto.content_type()));
  }
};

const Register<DirectResponseFactory> kRegister;

} // namespace
} // namespace gw::filters
