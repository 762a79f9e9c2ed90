#include "source/server/upgrade_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/http/http1_codec.h"
#include "source/server/header_policy.h"

namespace gw::server {

namespace {

// The first protocol of an Upgrade value ("websocket" of "websocket, foo/2"), lower-cased.
std::string firstProtocol(absl::string_view v) {
  const size_t comma = v.find(',');
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(v.substr(0, comma)));
}

}  // namespace

std::optional<std::string> upgradeProtocol(const http::RequestHead& head) {
  const std::string* up = head.headers.get("upgrade");
  if (up == nullptr || head.version_minor != 1 || head.headers.count("upgrade") != 1 ||
      !connectionHasToken(head.headers, "upgrade")) {
    return std::nullopt;
  }
  std::string p = firstProtocol(*up);
  if (p.empty() || p == "h2c") {
    return std::nullopt;
  }
  return p;
}

std::optional<filters::ErrorInfo> checkUpgrade(const http::RequestHead& head,
                                               absl::string_view protocol,
                                               const router::UpgradePolicy* policy,
                                               bool has_body) {
  using filters::ErrorInfo;
  using filters::ErrorKind;
  if (policy == nullptr || !policy->allows(protocol)) {
    return ErrorInfo::make(ErrorKind::Forbidden,
                           absl::StrCat("upgrade to '", protocol, "' is not allowed on this route"),
                           "upgrade_not_allowed");
  }
  if (has_body) {
    return ErrorInfo::make(ErrorKind::BadRequest, "an upgrade request must not have a body");
  }
  if (protocol == "websocket" && head.method != "GET") {
    return ErrorInfo::make(ErrorKind::BadRequest,
                           absl::StrCat("a WebSocket upgrade must be a GET, not ", head.method));
  }
  return std::nullopt;
}

void appendUpgradeHeaders(absl::string_view upgrade_value, std::string& head) {
  if (head.size() >= 2) {
    head.resize(head.size() - 2);  // before the blank line that ends the head
  }
  http::appendHeaderLine("connection", "upgrade", head);
  http::appendHeaderLine("upgrade", upgrade_value, head);
  head.append("\r\n");
}

bool upgradeResponseMatches(const http::ResponseHead& head, absl::string_view protocol) {
  const std::string* up = head.headers.get("upgrade");
  return up != nullptr && firstProtocol(*up) == protocol;
}

} // namespace gw::server
