#include "source/server/access_log.h"

#include <ctime>

#include "absl/strings/str_cat.h"
#include "source/common/json.h"

namespace gw::server {

void appendUtcTime(std::chrono::system_clock::time_point when, std::string& out) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  out += buf;
}

void appendAccessLogLine(const AccessLogRecord& r, std::string& line) {
  line += "{\"time\":\"";
  appendUtcTime(r.start, line);
  line += "\",\"request_id\":\"";
  appendJsonEscaped(r.request_id, line);
  line += "\",\"client\":\"";
  appendJsonEscaped(r.client, line);
  line += "\",\"method\":\"";
  appendJsonEscaped(r.method, line);
  line += "\",\"path\":\"";
  appendJsonEscaped(r.path, line);
  line += "\",\"status\":";
  line += absl::StrCat(r.status);
  line += ",\"route\":\"";
  appendJsonEscaped(r.route, line);
  line += "\",\"cluster\":\"";
  appendJsonEscaped(r.cluster, line);
  line += "\",\"upstream_host\":\"";
  appendJsonEscaped(r.upstream_host, line);
  line += "\",\"bytes_received\":";
  line += absl::StrCat(r.bytes_received);
  line += ",\"bytes_sent\":";
  line += absl::StrCat(r.bytes_sent);
  line += ",\"duration_ms\":";
  line += absl::StrCat(static_cast<int64_t>(r.duration_ms * 1000) / 1000.0);
  if (r.upstream_attempts > 1) {
    line += ",\"upstream_attempts\":";
    line += absl::StrCat(r.upstream_attempts);
  }
  if (!r.upstream_hosts.empty()) {
    line += ",\"upstream_hosts\":\"";
    appendJsonEscaped(r.upstream_hosts, line);
    line += '"';
  }
  if (r.error != nullptr) {
    line += ",\"error\":\"";
    appendJsonEscaped(r.error->code, line);
    line += "\",\"error_source\":\"";
    line += filters::errorSourceName(r.error->source);
    line += "\"";
  }
  if (r.filter_state != nullptr && !r.filter_state->empty()) {
    bool first = true;
    for (const auto& [name, object] : r.filter_state->entries()) {
      std::string d = object->describe();
      if (d.empty()) {
        continue;
      }
      line += first ? ",\"filter_state\":{\"" : ",\"";
      first = false;
      appendJsonEscaped(name, line);
      line += "\":\"";
      appendJsonEscaped(d, line);
      line += "\"";
    }
    if (!first) {
      line += "}";
    }
  }
  line += "}\n";
}

void appendRejectionLogLine(absl::string_view request_id, absl::string_view client, int status,
                            absl::string_view code, std::string& out) {
  out += "{\"request_id\":\"";
  appendJsonEscaped(request_id, out);
  out += "\",\"client\":\"";
  appendJsonEscaped(client, out);
  out += absl::StrCat("\",\"status\":", status, ",\"error\":\"");
  appendJsonEscaped(code, out);
  out += "\",\"error_source\":\"downstream\"}\n";
}

} // namespace gw::server
