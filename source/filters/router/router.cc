// `router`: the route filter that proxies to a cluster. The stream does the I/O; this filter only
// names the cluster (checked against the config's clusters at load).
#include "absl/strings/str_cat.h"
#include "gateway/filters/v1/filters.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

class RouterConfig : public FilterConfig {
public:
  explicit RouterConfig(std::string cluster) { action_.cluster = std::move(cluster); }
  const RouteAction* routeAction() const override { return &action_; }
  std::string explain(const http::RequestHead&) const override {
    return absl::StrCat("proxy to cluster '", action_.cluster, "'");
  }

private:
  RouteAction action_;
};

class RouterFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "router"; }
  FilterKind kind() const override { return FilterKind::Route; }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::v1::Router proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    if (proto.cluster().empty()) {
      return absl::InvalidArgumentError("cluster: required");
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster: unknown cluster '", proto.cluster(), "'"));
    }
    return std::make_shared<RouterConfig>(proto.cluster());
  }
};

const Register<RouterFactory> kRegister;

} // namespace
} // namespace gw::filters
