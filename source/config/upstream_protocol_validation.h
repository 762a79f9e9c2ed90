#pragma once

#include <string>
#include <vector>

#include "gateway/v1/config.pb.h"
#include "source/config/config_error.h"

namespace gw::config {

// The limits of Cluster.http2 (UpstreamHttp2), shared by validation and the HTTP/2 client.
inline constexpr uint32_t kDefaultH2MaxConcurrentStreams = 100;
inline constexpr uint32_t kMaxH2MaxConcurrentStreams = 10000;
inline constexpr uint32_t kDefaultH2StreamWindow = 1u << 20;
inline constexpr uint32_t kDefaultH2ConnectionWindow = 16u << 20;
inline constexpr uint32_t kMinH2Window = 65535;
inline constexpr uint32_t kMaxH2Window = 0x7fffffff;
inline constexpr uint32_t kDefaultH2MaxHeaderList = 256u << 10;
inline constexpr uint32_t kMinH2MaxHeaderList = 1u << 10;
inline constexpr uint32_t kMaxH2MaxHeaderList = 16u << 20;

// Cluster.protocol and Cluster.http2; `base` is the cluster's path ("clusters[0]"). H2 and AUTO
// need `tls` and H2C refuses it; the offered ALPN names must fit the protocol; active health
// checks (HTTP/1.1, over the cluster's TLS when it has one) only on HTTP1 clusters; http2 on an
// HTTP1 cluster is refused as having no effect.
void validateUpstreamProtocol(const gateway::v1::Cluster& c, const std::string& base,
                              std::vector<ConfigError>& errors);

} // namespace gw::config
