#pragma once

// global_ratelimit's descriptors: what a limit counts by (an ordered list of parts), the values a
// request gives them, and the Redis key they hash to. Parts:
//   client_ip         the peer address (RequestContext::clientAddress)
//   user              Identity.subject from the filter state (any authentication filter); never
//                     a client header
//   api_key_consumer  Identity.subject when Identity.method is "api_key"
//   route             the matched route's name
//   method            the request method
//   header:<name>     the header's first value
// A part without a value (no identity, an unnamed route, no such header) is "missing".
//
// Keys are <prefix><limit name>:<32 hex digits>: the first 128 bits of the SHA-256 of the parts'
// names and values (length-prefixed, so no two different descriptors give the same input). No
// client bytes reach a key and its length is fixed; the hash is the same in every gateway process
// (unlike absl::Hash), so they all share one counter per descriptor.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/filters/identity.h"

namespace gw::filters::global_ratelimit {

struct DescriptorPart {
  enum class Kind : uint8_t { ClientIp, User, ApiKeyConsumer, Route, Method, Header };
  Kind kind = Kind::ClientIp;
  std::string header;  // Header: lower-case name
};

// "client_ip", ..., "header:x-tenant" -> a part; the error says why (without a field path).
absl::StatusOr<DescriptorPart> parsePart(absl::string_view text);
// The part as it is written in the config ("header:x-tenant").
std::string partName(const DescriptorPart& part);

// What a request offers the parts.
struct RequestFacts {
  absl::string_view client_ip;
  const Identity* identity = nullptr;  // nullptr: no authentication filter set one
  absl::string_view route;             // "" for an unnamed route
  absl::string_view method;
  const HeaderMap* headers = nullptr;
};

// The part's value for the request; false when it is missing.
bool partValue(const DescriptorPart& part, const RequestFacts& facts, absl::string_view* value);

// The first 16 bytes of a SHA-256: what identifies a descriptor's values (no allocation).
struct Digest {
  std::array<char, 16> bytes{};
  absl::string_view view() const { return absl::string_view(bytes.data(), bytes.size()); }
  bool operator==(const Digest& o) const { return bytes == o.bytes; }
  bool operator!=(const Digest& o) const { return bytes != o.bytes; }
};

// The descriptor's digest for the request (of its parts' names and values), or false when a part
// is missing and `missing_shared` is false. With `missing_shared`, a missing part counts as one
// "absent" value (distinct from every real value).
bool descriptorDigest(const std::vector<DescriptorPart>& parts, const RequestFacts& facts,
                      bool missing_shared, Digest* digest);

// <prefix><limit>:<hex of digest>.
std::string redisKey(absl::string_view prefix, absl::string_view limit, const Digest& digest);
// The first 8 bytes of a digest as a number (the local pre-check's tag).
uint64_t digestTag(const Digest& digest);

} // namespace gw::filters::global_ratelimit
