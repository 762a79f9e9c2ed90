#pragma once
// AWS Signature Version 4 (HMAC-SHA256 via OpenSSL), the steps kept apart so that each can be
// checked against the official test suite (test/filters/function/sigv4_test.cc runs every case of
// ../shared/data/sigv4): the canonical request, the string to sign, the signature and the
// Authorization header value. The `function` filter signs Lambda Invoke calls with it.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace gw::filters::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term credentials
};

// What is signed. `path` is the path as sent on the wire (a percent-encoded path is encoded once
// more, as every service but S3 expects); `query` is the raw query without '?'. `headers` are
// (name, value) pairs in any case; repeated names are joined with ',' in their order.
struct Request {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  absl::string_view body;
};

struct Scope {
  std::string date;     // YYYYMMDD
  std::string region;   // "us-east-1"
  std::string service;  // "lambda"
  std::string toString() const;  // date/region/service/aws4_request
};

// Lower-case hex.
std::string hex(absl::string_view bytes);
std::string sha256Hex(absl::string_view data);
std::string hmacSha256(absl::string_view key, absl::string_view data);

// The canonical URI: dot segments removed, empty segments collapsed, each segment URI-encoded.
std::string canonicalUri(absl::string_view path);
// The canonical query: parameters decoded, re-encoded, sorted by name then value; a parameter
// without '=' has an empty value.
std::string canonicalQuery(absl::string_view query);

// The canonical request; `signed_headers` receives "host;x-amz-date" (every header of the request
// is signed: names lower-cased, values trimmed, inner runs of spaces collapsed).
std::string canonicalRequest(const Request& r, std::string* signed_headers);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>".
std::string stringToSign(absl::string_view amz_date, const Scope& scope,
                         absl::string_view canonical_request);
// The hex signature of `string_to_sign` with the key derived from `secret` and the scope.
std::string signature(absl::string_view secret, const Scope& scope,
                      absl::string_view string_to_sign);
// The Authorization header value for `r` (which must already carry host and x-amz-date, and
// x-amz-security-token when the credentials have one).
std::string authorization(const Request& r, const Credentials& creds, const Scope& scope,
                          absl::string_view amz_date);

// "20150830T123600Z" and "20150830" for a Unix time (UTC).
std::string amzDate(int64_t unix_seconds);

} // namespace gw::filters::sigv4
