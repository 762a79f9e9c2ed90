// `direct_response`: the route filter that answers from the gateway itself.
#include "absl/strings/str_cat.h"
#include "gateway/filters/v1/filters.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

class DirectResponseConfig : public FilterConfig {
public:
  explicit DirectResponseConfig(RouteAction a) : action_(std::move(a)) {}
  const RouteAction* routeAction() const override { return &action_; }
  std::string explain(const http::RequestHead&) const override {
    return absl::StrCat("respond ", action_.status, " (", action_.body.size(), " bytes, ",
                        action_.content_type, ")");
  }

private:
  RouteAction action_;
};

class DirectResponseFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "direct_response"; }
  FilterKind kind() const override { return FilterKind::Route; }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::v1::DirectResponse proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    RouteAction a;
    a.kind = RouteAction::Kind::DirectResponse;
    a.status = proto.status() == 0 ? 200 : static_cast<int>(proto.status());
    if (a.status < 200 || a.status > 599) {
      return absl::InvalidArgumentError("status: must be 200..599");
    }
    a.body = proto.body();
    a.content_type = proto.content_type().empty() ? "text/plain" : proto.content_type();
    return std::make_shared<DirectResponseConfig>(std::move(a));
  }
};

const Register<DirectResponseFactory> kRegister;

} // namespace
} // namespace gw::filters
