#include "source/ctl/rpc_error.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace gw::ctl {
namespace {

using grpc::StatusCode;

const Endpoint kControl{"gateway-control", "127.0.0.1:18000", "--server"};

TEST_CASE("rpc_error: exit codes by status") {
  CHECK(exitCodeFor(StatusCode::OK) == 0);
  for (auto c :
       {StatusCode::UNAVAILABLE, StatusCode::DEADLINE_EXCEEDED, StatusCode::UNAUTHENTICATED,
        StatusCode::PERMISSION_DENIED, StatusCode::UNIMPLEMENTED, StatusCode::CANCELLED}) {
    INFO(statusCodeName(c));
    CHECK(exitCodeFor(c) == kExitUsage);
  }
  for (auto c :
       {StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND, StatusCode::FAILED_PRECONDITION,
        StatusCode::ALREADY_EXISTS, StatusCode::ABORTED, StatusCode::INTERNAL, StatusCode::UNKNOWN,
        StatusCode::RESOURCE_EXHAUSTED, StatusCode::OUT_OF_RANGE, StatusCode::DATA_LOSS}) {
    INFO(statusCodeName(c));
    CHECK(exitCodeFor(c) == kExitRefused);
  }
}

TEST_CASE("rpc_error: messages say what to do") {
  using std::chrono::milliseconds;
  auto f = describeRpcError(grpc::Status(StatusCode::UNAVAILABLE, ""), kControl, milliseconds(5000),
                            false);
  CHECK(f.exit_code == 2);
  CHECK(f.message ==
        "cannot reach gateway-control at 127.0.0.1:18000: is it running? (--server to change)");

  f = describeRpcError(grpc::Status(StatusCode::UNAVAILABLE, "connection refused"), kControl,
                       milliseconds(5000), false);
  CHECK(absl::StartsWith(f.message,
                         "cannot reach gateway-control at 127.0.0.1:18000: is it "
                         "running? (--server to change)\n  (connection refused)"));

  f = describeRpcError(grpc::Status(StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
                       {"gatewayd's gRPC admin", "h:9902", "--proxy"}, milliseconds(250), false);
  CHECK(f.exit_code == 2);
  CHECK(f.message ==
        "cannot reach gatewayd's gRPC admin at h:9902: no answer within 250ms: is it "
        "running and reachable? (--timeout to wait longer, --proxy to change)");

  f = describeRpcError(grpc::Status(StatusCode::UNAUTHENTICATED, "x"), kControl, milliseconds(5000),
                       false);
  CHECK(f.exit_code == 2);
  CHECK(f.message == "the server requires a token: pass --token-file or set GATEWAY_ADMIN_TOKEN");
  f = describeRpcError(grpc::Status(StatusCode::UNAUTHENTICATED, "x"), kControl, milliseconds(5000),
                       true);
  CHECK(f.message ==
        "gateway-control at 127.0.0.1:18000 refused the token: check --token-file "
        "or GATEWAY_ADMIN_TOKEN");

  f = describeRpcError(grpc::Status(StatusCode::UNIMPLEMENTED, ""), kControl, milliseconds(1000),
                       false);
  CHECK(f.message ==
        "127.0.0.1:18000 does not serve this call: is it gateway-control? (--server to change)");

  f = describeRpcError(grpc::Status(StatusCode::NOT_FOUND, "version 99 not found"), kControl,
                       milliseconds(1000), false);
  CHECK(f.exit_code == 1);
  CHECK(f.message == "version 99 not found");

  f = describeRpcError(grpc::Status(StatusCode::INVALID_ARGUMENT, "bad target"), kControl,
                       milliseconds(1000), false);
  CHECK(f.exit_code == 1);
  CHECK(f.message == "refused by gateway-control: bad target");

  f = describeRpcError(grpc::Status(StatusCode::INTERNAL, "store: disk full"), kControl,
                       milliseconds(1000), false);
  CHECK(f.exit_code == 1);
  CHECK(f.message == "gateway-control at 127.0.0.1:18000 failed: INTERNAL: store: disk full");
}

} // namespace
} // namespace gw::ctl
