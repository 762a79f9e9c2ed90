#include "source/config/upstream_protocol_validation.h"

#include "absl/strings/str_cat.h"

namespace gw::config {

void validateUpstreamProtocol(const gateway::v1::Cluster& c, const std::string& base,
                              std::vector<ConfigError>& errors) {
  using gateway::v1::Cluster;
  auto error = [&](const std::string& path, std::string message) {
    errors.push_back({path, std::move(message)});
  };
  const Cluster::UpstreamProtocol p = c.protocol();
  if (!Cluster::UpstreamProtocol_IsValid(p)) {
    error(base + ".protocol", absl::StrCat("unknown protocol ", static_cast<int>(p)));
    return;
  }
  if (p == Cluster::H2 || p == Cluster::AUTO) {
    error(base + ".protocol",
          absl::StrCat(Cluster::UpstreamProtocol_Name(p),
                       " needs TLS (not yet available); use H2C for HTTP/2 without TLS"));
  }
  if (!c.has_http2()) {
    return;
  }
  const std::string h = base + ".http2";
  if (p == Cluster::HTTP1) {
    error(h, "only for HTTP/2 clusters (protocol H2C); this cluster speaks HTTP1");
  }
  const auto& o = c.http2();
  if (o.has_max_concurrent_streams() &&
      (o.max_concurrent_streams() < 1 || o.max_concurrent_streams() > kMaxH2MaxConcurrentStreams)) {
    error(h + ".max_concurrent_streams",
          absl::StrCat("must be 1..", kMaxH2MaxConcurrentStreams));
  }
  auto window = [&](bool has, uint32_t v, const char* name) {
    if (has && (v < kMinH2Window || v > kMaxH2Window)) {
      error(absl::StrCat(h, ".", name), absl::StrCat("must be ", kMinH2Window, "..", kMaxH2Window));
    }
  };
  window(o.has_initial_stream_window_size(), o.initial_stream_window_size(),
         "initial_stream_window_size");
  window(o.has_initial_connection_window_size(), o.initial_connection_window_size(),
         "initial_connection_window_size");
  if (o.has_max_header_list_size() && (o.max_header_list_size() < kMinH2MaxHeaderList ||
                                       o.max_header_list_size() > kMaxH2MaxHeaderList)) {
    error(h + ".max_header_list_size",
          absl::StrCat("must be ", kMinH2MaxHeaderList, "..", kMaxH2MaxHeaderList));
  }
}

} // namespace gw::config
