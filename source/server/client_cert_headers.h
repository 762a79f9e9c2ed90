#pragma once

#include "source/common/header_map.h"
#include "source/server/runtime_config.h"
#include "source/tls/peer_cert.h"

namespace gw::server {

// On a TLS listener: removes client-sent copies of the configured client-certificate headers,
// then sets them from `cert` (the verified client certificate; nullptr: none). Runs before the
// filters, so they see what the upstream will. Does nothing on a plaintext listener.
void applyClientCertHeaders(const ListenerConfig& listener, const tls::PeerCertInfo* cert,
                            HeaderMap& headers);

} // namespace gw::server
