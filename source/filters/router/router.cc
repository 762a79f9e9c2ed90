// `router` (route filter): proxies the request to a cluster (checked against the config's
// clusters at load). The stream does the I/O; this filter only names the cluster.
#include "absl/strings/str_cat.h"
#include "gateway/filters/router/v1/router.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

class RouterFilter : public Filter {
public:
  explicit RouterFilter(const std::string& cluster) : cluster_(cluster) {}
  FilterStatus onRoute(RequestContext&, Upstream& upstream) override {
    upstream.proxyTo(cluster_);
    return FilterStatus::Continue;
  }

private:
  const std::string& cluster_;
};

class RouterConfig : public FilterConfig {
public:
  explicit RouterConfig(std::string cluster) {
    route_.kind = StaticRoute::Kind::Proxy;
    route_.cluster = std::move(cluster);
  }
  Filter* shared() const override { return &shared_; }
  const StaticRoute* staticRoute() const override { return &route_; }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("proxy to cluster '", route_.cluster, "'");
  }

private:
  StaticRoute route_;
  mutable RouterFilter shared_{route_.cluster};  // stateless: one instance for every request
};

class RouterFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "router"; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::router::v1::Router::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::filters::router::v1::Router proto;
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
    return FilterConfigConstSharedPtr(std::make_shared<RouterConfig>(proto.cluster()));
  }
};

const Register<RouterFactory> kRegister;

} // namespace
} // namespace gw::filters
