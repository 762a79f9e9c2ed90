#include "source/config/upstream_protocol_validation.h"

#include <algorithm>

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
  if ((p == Cluster::H2 || p == Cluster::AUTO) && !c.has_tls()) {
    error(base + ".protocol",
          absl::StrCat(Cluster::UpstreamProtocol_Name(p),
                       " is HTTP/2 over TLS and needs `tls`; use H2C for HTTP/2 without TLS"));
  }
  if (c.has_tls()) {
    // What the cluster offers by ALPN must be what it can speak (tls_config.cc fills the default).
    const auto& alpn = c.tls().alpn();
    auto offers = [&](absl::string_view name) {
      return std::find(alpn.begin(), alpn.end(), name) != alpn.end();
    };
    if (p == Cluster::HTTP1) {
      for (int i = 0; i < alpn.size(); i++) {
        if (alpn[i] == "h2") {
          error(absl::StrCat(base, ".tls.alpn[", i, "]"),
                "this cluster speaks HTTP1: offering h2 would let the upstream pick a protocol "
                "it is not sent; use protocol H2 or AUTO");
        }
      }
    } else if (p == Cluster::H2C) {
      error(base + ".protocol",
            "H2C is HTTP/2 without TLS; with `tls` use H2 (or AUTO to let ALPN choose)");
    } else if (!alpn.empty() && !offers("h2")) {
      error(base + ".tls.alpn",
            absl::StrCat("protocol ", Cluster::UpstreamProtocol_Name(p), " must offer h2"));
    } else if (p == Cluster::AUTO && !alpn.empty() && !offers("http/1.1")) {
      error(base + ".tls.alpn", "protocol AUTO must offer http/1.1 as well as h2");
    }
  }
  // Checks speak HTTP/1.1, over the cluster's TLS when it has one.
  if (c.has_health_check() && p != Cluster::HTTP1) {
    error(base + ".health_check",
          absl::StrCat("active health checks speak HTTP/1.1; this cluster speaks ",
                       Cluster::UpstreamProtocol_Name(p),
                       " (use outlier_detection to eject failing endpoints)"));
  }
  if (!c.has_http2()) {
    return;
  }
  const std::string h = base + ".http2";
  if (p == Cluster::HTTP1) {
    error(h, "only for HTTP/2 clusters (protocol H2C, H2 or AUTO); this cluster speaks HTTP1");
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
