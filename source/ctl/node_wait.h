#pragma once

#include <cstdint>
#include <string>

#include "gateway/v1/admin.pb.h"

namespace gw::ctl {

// What `apply --wait` / `rollback --wait` learn of one node from a Status poll.
struct NodeOutcome {
  enum class Kind { Pending, Ack, AckNewer, Nack };
  Kind kind = Kind::Pending;
  const gateway::v1::NodeStatus* status = nullptr;  // into the polled response; null: unknown
};

// Node `id`'s answer to `version` in `st`: ACKed, NACKed, already running a newer version (an
// apply came meanwhile: counted as an ACK), or no answer yet.
NodeOutcome nodeOutcome(const gateway::v1::StatusResponse& st, const std::string& id,
                        uint64_t version);

// Why a node has not answered: "unknown to gateway-control", "disconnected" or
// "no answer, runs version 7".
std::string pendingState(const gateway::v1::StatusResponse& st, const std::string& id);

// A NACK's message and field errors, one per line ("refused" when it has neither).
std::string nackText(const gateway::v1::ErrorDetail& d);

} // namespace gw::ctl
