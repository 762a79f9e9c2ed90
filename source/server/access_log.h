#pragma once

// The JSON access log line, one per request, formatted in one place (unit-tested without
// sockets in test/server/access_log_test.cc). Workers append lines to a per-worker buffer that
// is written once per loop iteration (Worker::accessLogBuffer).

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "source/filters/error.h"
#include "source/filters/filter_state.h"

namespace gw::server {

struct AccessLogRecord {
  std::chrono::system_clock::time_point start;
  absl::string_view request_id;
  absl::string_view client;
  absl::string_view method;
  absl::string_view path;
  int status = 0;
  absl::string_view route;
  absl::string_view cluster;
  absl::string_view upstream_host;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  double duration_ms = 0;
  uint32_t upstream_attempts = 0;       // shown when more than 1 (a retry happened)
  absl::string_view upstream_hosts;     // every host tried, in order ("a:1,b:2"), when retried
  const filters::ErrorInfo* error = nullptr;        // shown as error and error_source
  const filters::FilterState* filter_state = nullptr;  // objects with a description
};

// Appends `{"time":...,"request_id":...,...}\n` to `out`.
// Appends `when` as 2026-12-06T08:11:01Z (UTC, seconds), the log lines' time field.
void appendUtcTime(std::chrono::system_clock::time_point when, std::string& out);

void appendAccessLogLine(const AccessLogRecord& r, std::string& out);

// The line of a request the codec refused before it became a request (no route, no stream).
void appendRejectionLogLine(absl::string_view request_id, absl::string_view client, int status,
                            absl::string_view code, std::string& out);

} // namespace gw::server
