#pragma once

// What an HTTP/1.1 Upgrade request (RFC 9110 7.8) is, decided without I/O: whether a request asks
// for a protocol switch the gateway tunnels, whether the route lets it, and the upgrade headers
// sent upstream. Unit-tested in test/server/upgrade_request_test.cc.

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "source/filters/error.h"
#include "source/http/message.h"
#include "source/router/upgrade_policy.h"

namespace gw::server {

// The protocol an upgrade request asks for: the first protocol of its Upgrade header, when the
// request is HTTP/1.1, has exactly one Upgrade header and its Connection header lists "upgrade"
// (as Envoy decides it). nullopt: not an upgrade request, and its Upgrade header (if any) is an
// ordinary hop-by-hop field, dropped on the way upstream. "h2c" is never an upgrade here: an h2c
// upgrade request is served as the HTTP/1.1 request it also is (RFC 9113 3.1 removed the h2c
// upgrade; Envoy does the same).
std::optional<std::string> upgradeProtocol(const http::RequestHead& head);

// Checks an upgrade request for `protocol` against the route's policy (nullptr: the route allows
// no upgrade). Refusals: 403 upgrade_not_allowed (protocol not allowed on the route), 400
// bad_request (a body on an upgrade request, or a WebSocket upgrade whose method is not GET,
// RFC 6455 4.1). `has_body`: the request has a Content-Length above 0 or is chunked.
std::optional<filters::ErrorInfo> checkUpgrade(const http::RequestHead& head,
                                               absl::string_view protocol,
                                               const router::UpgradePolicy* policy,
                                               bool has_body);

// Adds "connection: upgrade" and "upgrade: <value>" to a serialized request head (`head` ends with
// the blank line; the fields go before it). buildUpstreamHead drops both as hop-by-hop fields.
void appendUpgradeHeaders(absl::string_view upgrade_value, std::string& head);

// Whether a 101 response's Upgrade header names `protocol` (its first protocol, any case).
bool upgradeResponseMatches(const http::ResponseHead& head, absl::string_view protocol);

} // namespace gw::server
