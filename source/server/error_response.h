#pragma once

#include <string>

#include "source/filters/filter.h"
#include "source/http/message.h"

namespace gw::server {

// The one place an error becomes a response body:
// {"error": "<code>", "message": "...", "status": 404, "request_id": "..."}
std::string errorBody(const filters::ErrorInfo& error, absl::string_view request_id);

// The same error for a gRPC call (isGrpcRequest): a trailers-only response, i.e. HTTP 200,
// content-type application/grpc, grpc-status (filters::grpcStatusFor), grpc-message (the message,
// percent-encoded as gRPC requires), x-gateway-error (the error's code), content-length 0 and no body. The error's
// extra headers (retry-after, www-authenticate) are added too.
void grpcErrorHead(const filters::ErrorInfo& error, http::ResponseHead& out);
// gRPC's percent-encoding of grpc-message: bytes outside 0x20..0x7e and '%' become %XX.
std::string grpcPercentEncode(absl::string_view message);

} // namespace gw::server
