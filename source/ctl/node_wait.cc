#include "source/ctl/node_wait.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gw::ctl {

namespace {

const gateway::v1::NodeStatus* find(const gateway::v1::StatusResponse& st, const std::string& id) {
  const gateway::v1::NodeStatus* ns = nullptr;
  for (const auto& n : st.nodes()) {
    if (n.node().id() == id) {
      ns = &n;
    }
  }
  return ns;
}

} // namespace

NodeOutcome nodeOutcome(const gateway::v1::StatusResponse& st, const std::string& id,
                        uint64_t version) {
  NodeOutcome out;
  out.status = find(st, id);
  const gateway::v1::NodeStatus* ns = out.status;
  const std::string v = absl::StrCat(version);
  uint64_t acked = 0;
  if (ns == nullptr) {
    out.kind = NodeOutcome::Kind::Pending;
  } else if (ns->acked_version() == v) {
    out.kind = NodeOutcome::Kind::Ack;
  } else if (ns->nacked_version() == v) {
    out.kind = NodeOutcome::Kind::Nack;
  } else if (absl::SimpleAtoi(ns->acked_version(), &acked) && acked > version) {
    out.kind = NodeOutcome::Kind::AckNewer;
  }
  return out;
}

std::string pendingState(const gateway::v1::StatusResponse& st, const std::string& id) {
  const gateway::v1::NodeStatus* ns = find(st, id);
  if (ns == nullptr) {
    return "unknown to gateway-control";
  }
  if (!ns->connected()) {
    return "disconnected";
  }
  return absl::StrCat("no answer, runs version ",
                      ns->acked_version().empty() ? "-" : ns->acked_version());
}

std::string nackText(const gateway::v1::ErrorDetail& d) {
  auto line = [](const auto& x) {
    return x.path().empty() ? x.message() : absl::StrCat(x.path(), ": ", x.message());
  };
  std::string out = d.message();
  int first = 0;
  if (out.empty() && d.errors_size() > 0) {
    out = line(d.errors(0));
    first = 1;
  }
  for (int i = first; i < d.errors_size(); i++) {
    absl::StrAppend(&out, "\n    ", line(d.errors(i)));
  }
  return out.empty() ? "refused" : out;
}

} // namespace gw::ctl
