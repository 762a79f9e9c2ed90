// gRPC on the gateway's side, without sockets: grpc-timeout parsing and the request deadline,
// which requests are gRPC calls, and the trailers-only error response with its status mapping.
#include <chrono>

#include <catch2/catch.hpp>

#include "source/filters/error.h"
#include "source/server/error_response.h"
#include "source/server/grpc_request.h"

namespace gw::server {
namespace {

using filters::ErrorInfo;
using filters::ErrorKind;
using std::chrono::milliseconds;

TEST_CASE("grpc-timeout units and rounding") {
  CHECK(parseGrpcTimeout("1H") == milliseconds(3600000));
  CHECK(parseGrpcTimeout("2M") == milliseconds(120000));
  CHECK(parseGrpcTimeout("3S") == milliseconds(3000));
  CHECK(parseGrpcTimeout("250m") == milliseconds(250));
  CHECK(parseGrpcTimeout("1500u") == milliseconds(2));     // rounded up
  CHECK(parseGrpcTimeout("1n") == milliseconds(1));        // never "no deadline"
  CHECK(parseGrpcTimeout("0m") == milliseconds(0));
  CHECK(parseGrpcTimeout("99999999H") == milliseconds(99999999ull * 3600000));  // 8 digits
}

TEST_CASE("malformed grpc-timeout values are refused") {
  for (const char* bad : {"", "m", "10", "10x", "10 m", "-1m", "123456789m", "1.5S", "1h", "S1"}) {
    INFO(bad);
    CHECK_FALSE(parseGrpcTimeout(bad).has_value());
  }
}

TEST_CASE("gRPC calls are recognised by content-type") {
  HeaderMap h;
  CHECK_FALSE(isGrpcRequest(h));
  for (const char* ct : {"application/grpc", "application/grpc+proto", "Application/GRPC;x=1"}) {
    HeaderMap g;
    g.add("content-type", ct);
    INFO(ct);
    CHECK(isGrpcRequest(g));
  }
  for (const char* ct : {"application/grpc-web", "application/grpcx", "application/json"}) {
    HeaderMap g;
    g.add("content-type", ct);
    INFO(ct);
    CHECK_FALSE(isGrpcRequest(g));
  }
}

TEST_CASE("the request deadline is the smaller of the route timeout and grpc-timeout") {
  HeaderMap h;
  h.add("content-type", "application/grpc");
  h.add("grpc-timeout", "300m");
  CHECK(requestDeadline(milliseconds(15000), h) == milliseconds(300));
  CHECK(requestDeadline(milliseconds(100), h) == milliseconds(100));
  CHECK(requestDeadline(milliseconds(0), h) == milliseconds(300));  // route: no timeout
  HeaderMap zero;
  zero.add("content-type", "application/grpc");
  zero.add("grpc-timeout", "0n");
  CHECK(requestDeadline(milliseconds(0), zero) == milliseconds(1));  // already expired
  HeaderMap bad;
  bad.add("content-type", "application/grpc");
  bad.add("grpc-timeout", "soon");
  CHECK(requestDeadline(milliseconds(15000), bad) == milliseconds(15000));
  HeaderMap not_grpc;
  not_grpc.add("grpc-timeout", "1m");
  CHECK(requestDeadline(milliseconds(15000), not_grpc) == milliseconds(15000));
}

TEST_CASE("gateway errors map to gRPC status codes") {
  auto code = [](ErrorKind k, int status = 0) {
    return filters::grpcStatusFor(ErrorInfo::make(k, "m", {}, status));
  };
  CHECK(code(ErrorKind::NoRoute) == 12);
  CHECK(code(ErrorKind::NoHealthyUpstream) == 14);
  CHECK(code(ErrorKind::CircuitOpen) == 14);
  CHECK(code(ErrorKind::UpstreamConnectFailed) == 14);
  CHECK(code(ErrorKind::UpstreamReset) == 14);
  CHECK(code(ErrorKind::UpstreamOverflow) == 14);
  CHECK(code(ErrorKind::NoCluster) == 14);
  CHECK(code(ErrorKind::Unauthenticated) == 16);
  CHECK(code(ErrorKind::Forbidden) == 7);
  CHECK(code(ErrorKind::RateLimited) == 8);
  CHECK(code(ErrorKind::RateLimited, 503) == 8);  // a policy's own status: the kind decides
  CHECK(code(ErrorKind::UpstreamTimeout) == 4);
  CHECK(code(ErrorKind::RequestTimeout) == 4);
  CHECK(code(ErrorKind::PayloadTooLarge) == 8);
  CHECK(code(ErrorKind::BadRequest) == 13);
  CHECK(code(ErrorKind::UpstreamProtocolError) == 13);
  CHECK(code(ErrorKind::Internal) == 13);
  CHECK(code(ErrorKind::InvalidJson) == 3);
  CHECK(code(ErrorKind::MethodNotAllowed) == 12);
  CHECK(code(ErrorKind::FunctionError) == 2);
  // A filter-chosen status (fault injection) maps by the status.
  CHECK(code(ErrorKind::FilterAbort, 401) == 16);
  CHECK(code(ErrorKind::FilterAbort, 403) == 7);
  CHECK(code(ErrorKind::FilterAbort, 429) == 8);
  CHECK(code(ErrorKind::FilterAbort, 503) == 14);
  CHECK(code(ErrorKind::FilterAbort, 504) == 4);
  CHECK(code(ErrorKind::FilterAbort, 418) == 2);
}

TEST_CASE("a gRPC error response is trailers-only") {
  ErrorInfo e = ErrorInfo::make(ErrorKind::RateLimited, "too many: 100% used\n");
  e.headers.emplace_back("retry-after", "3");
  http::ResponseHead head;
  head.status = 429;
  head.headers.add("stale", "x");
  grpcErrorHead(e, head);
  CHECK(head.status == 200);
  CHECK(*head.headers.get("content-type") == "application/grpc");
  CHECK(*head.headers.get("grpc-status") == "8");
  CHECK(*head.headers.get("grpc-message") == "too many: 100%25 used%0A");
  CHECK(*head.headers.get("content-length") == "0");
  CHECK(*head.headers.get("x-gateway-error") == "rate_limited");
  CHECK(*head.headers.get("retry-after") == "3");
  CHECK_FALSE(head.headers.has("stale"));
}

TEST_CASE("grpc-message percent-encoding") {
  CHECK(grpcPercentEncode("plain text ~") == "plain text ~");
  CHECK(grpcPercentEncode("a%b") == "a%25b");
  CHECK(grpcPercentEncode("\xc3\xa9") == "%C3%A9");
  CHECK(grpcPercentEncode(absl::string_view("\0\x7f", 2)) == "%00%7F");
}

} // namespace
} // namespace gw::server
