#include "source/ctl/rpc_error.h"

#include "absl/strings/str_cat.h"

namespace gw::ctl {
namespace {

std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) {
    return absl::StrCat(d.count() / 1000, "s");
  }
  return absl::StrCat(d.count(), "ms");
}

} // namespace

const char* statusCodeName(grpc::StatusCode code) {
  switch (code) {
  case grpc::StatusCode::OK:
    return "OK";
  case grpc::StatusCode::CANCELLED:
    return "CANCELLED";
  case grpc::StatusCode::UNKNOWN:
    return "UNKNOWN";
  case grpc::StatusCode::INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case grpc::StatusCode::DEADLINE_EXCEEDED:
    return "DEADLINE_EXCEEDED";
  case grpc::StatusCode::NOT_FOUND:
    return "NOT_FOUND";
  case grpc::StatusCode::ALREADY_EXISTS:
    return "ALREADY_EXISTS";
  case grpc::StatusCode::PERMISSION_DENIED:
    return "PERMISSION_DENIED";
  case grpc::StatusCode::RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case grpc::StatusCode::FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case grpc::StatusCode::ABORTED:
    return "ABORTED";
  case grpc::StatusCode::OUT_OF_RANGE:
    return "OUT_OF_RANGE";
  case grpc::StatusCode::UNIMPLEMENTED:
    return "UNIMPLEMENTED";
  case grpc::StatusCode::INTERNAL:
    return "INTERNAL";
  case grpc::StatusCode::UNAVAILABLE:
    return "UNAVAILABLE";
  case grpc::StatusCode::DATA_LOSS:
    return "DATA_LOSS";
  case grpc::StatusCode::UNAUTHENTICATED:
    return "UNAUTHENTICATED";
  default:
    return "UNKNOWN_CODE";
  }
}

int exitCodeFor(grpc::StatusCode code) {
  switch (code) {
  case grpc::StatusCode::OK:
    return kExitOk;
  case grpc::StatusCode::UNAVAILABLE:
  case grpc::StatusCode::DEADLINE_EXCEEDED:
  case grpc::StatusCode::UNAUTHENTICATED:
  case grpc::StatusCode::PERMISSION_DENIED:
  case grpc::StatusCode::UNIMPLEMENTED:
  case grpc::StatusCode::CANCELLED:
    return kExitUsage;
  default:
    return kExitRefused;
  }
}

RpcFailure describeRpcError(const grpc::Status& status, const Endpoint& endpoint,
                            std::chrono::milliseconds timeout, bool token_sent) {
  const std::string at = absl::StrCat(endpoint.what, " at ", endpoint.address);
  const std::string detail = status.error_message();
  RpcFailure f{exitCodeFor(status.error_code()), ""};
  switch (status.error_code()) {
  case grpc::StatusCode::OK:
    return f;
  case grpc::StatusCode::UNAVAILABLE:
    f.message =
        absl::StrCat("cannot reach ", at, ": is it running? (", endpoint.flag, " to change)");
    if (!detail.empty()) {
      absl::StrAppend(&f.message, "\n  (", detail, ")");
    }
    return f;
  case grpc::StatusCode::DEADLINE_EXCEEDED:
    f.message = absl::StrCat("cannot reach ", at, ": no answer within ", formatDuration(timeout),
                             ": is it running and reachable? (--timeout to wait longer, ",
                             endpoint.flag, " to change)");
    return f;
  case grpc::StatusCode::UNAUTHENTICATED:
    f.message = token_sent
                    ? absl::StrCat(at,
                                   " refused the token: check --token-file or "
                                   "GATEWAY_ADMIN_TOKEN")
                    : "the server requires a token: pass --token-file or set GATEWAY_ADMIN_TOKEN";
    return f;
  case grpc::StatusCode::PERMISSION_DENIED:
    f.message =
        absl::StrCat(at, " denied the request", detail.empty() ? "" : absl::StrCat(": ", detail));
    return f;
  case grpc::StatusCode::UNIMPLEMENTED:
    f.message = absl::StrCat(endpoint.address, " does not serve this call: is it ", endpoint.what,
                             "? (", endpoint.flag, " to change)");
    return f;
  case grpc::StatusCode::CANCELLED:
    f.message = absl::StrCat("the call to ", at, " was cancelled",
                             detail.empty() ? "" : absl::StrCat(": ", detail));
    return f;
  case grpc::StatusCode::NOT_FOUND:
    f.message = detail.empty() ? "not found" : detail;
    return f;
  case grpc::StatusCode::INVALID_ARGUMENT:
  case grpc::StatusCode::FAILED_PRECONDITION:
    f.message = absl::StrCat("refused by ", endpoint.what, ": ", detail);
    return f;
  default:
    f.message = absl::StrCat(at, " failed: ", statusCodeName(status.error_code()),
                             detail.empty() ? "" : absl::StrCat(": ", detail));
    return f;
  }
}

} // namespace gw::ctl
