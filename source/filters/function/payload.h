#pragma once
// The AWS API Gateway HTTP API payload format 2.0: the event the `function` filter sends to a
// function (buildEvent) and the mapping of what the function returns to a response (mapResult).
// Pure functions over plain inputs, so that every rule is unit-tested
// (test/filters/function/payload_test.cc).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/header_map.h"

namespace gw::filters::function {

struct EventInput {
  absl::string_view route_key;   // "$default" or "GET /api/functions/{name}"
  absl::string_view method;
  absl::string_view path;        // the normalized path
  absl::string_view query;       // raw, without '?'
  absl::string_view protocol;    // "HTTP/1.1"
  absl::string_view source_ip;
  absl::string_view request_id;
  absl::string_view domain_name; // the Host (routing form)
  const HeaderMap* headers = nullptr;
  // Path template captures -> pathParameters (omitted when empty).
  const std::vector<std::pair<std::string, std::string>>* path_parameters = nullptr;
  // The caller's identity claims -> requestContext.authorizer.jwt.claims (omitted when null).
  const std::vector<std::pair<std::string, std::string>>* claims = nullptr;
  std::vector<std::string> scopes;  // requestContext.authorizer.jwt.scopes
  int64_t time_ms = 0;              // the request's start, Unix milliseconds
  absl::string_view body;
  bool has_body = false;
};

// The event JSON:
//   version "2.0", routeKey, rawPath, rawQueryString;
//   cookies: the Cookie header split at ';' (omitted when none);
//   headers: lower-case names, repeated fields joined with ',' (Cookie left out);
//   queryStringParameters: percent-decoded, repeated names joined with ',' (omitted when none);
//   pathParameters (omitted when none);
//   requestContext: accountId "anonymous", apiId "gateway", domainName, domainPrefix, http
//     {method, path, protocol, sourceIp, userAgent}, requestId, routeKey, stage "$default", time
//     ("06/Dec/2026:03:07:50 +0000"), timeEpoch, authorizer.jwt {claims, scopes} when there is an
//     identity;
//   body and isBase64Encoded (when the request has a body): text (a text/*, JSON, XML, JavaScript
//     or form content type, valid UTF-8) as it is, anything else base64.
// Strings that are not valid UTF-8 (headers, decoded query values) get U+FFFD for bad bytes.
std::string buildEvent(const EventInput& in);

// Whether a body of `content_type` goes into the event as text (else base64).
bool isTextBody(absl::string_view content_type, absl::string_view body);

struct FunctionResponse {
  int status = 200;
  HeaderMap headers;  // lower-case names
  std::string body;
};

// What the function returned (the invocation's response body):
// - a JSON object with `statusCode` (integer 100..599): `headers` (object of string, number or
//   boolean values), `multiValueHeaders` (object of arrays of those), `cookies` (array of
//   strings, each a Set-Cookie), `body` (string), `isBase64Encoded` (boolean: the body is base64
//   and is decoded). Hop-by-hop and framing headers (content-length, transfer-encoding,
//   connection, ...) are dropped; names must be tokens and values valid field values.
// - any other JSON value (an object without statusCode, an array, a string, a number, ...):
//   status 200, content-type application/json, the value's text as the body, unchanged.
// Not JSON, or a structured result with a field of the wrong type: InvalidArgument naming it.
absl::StatusOr<FunctionResponse> mapResult(absl::string_view result);

// "%d/%b/%Y:%H:%M:%S +0000" of Unix milliseconds (the event's requestContext.time).
std::string eventTime(int64_t unix_ms);

} // namespace gw::filters::function
