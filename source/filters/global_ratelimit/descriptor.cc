#include "source/filters/global_ratelimit/descriptor.h"

#include <cstring>


#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "source/policy/api_keys.h"

namespace gw::filters::global_ratelimit {
namespace {

constexpr absl::string_view kHeaderPrefix = "header:";

const char* kindName(DescriptorPart::Kind k) {
  switch (k) {
  case DescriptorPart::Kind::ClientIp:
    return "client_ip";
  case DescriptorPart::Kind::User:
    return "user";
  case DescriptorPart::Kind::ApiKeyConsumer:
    return "api_key_consumer";
  case DescriptorPart::Kind::Route:
    return "route";
  case DescriptorPart::Kind::Method:
    return "method";
  case DescriptorPart::Kind::Header:
    return "header";
  }
  return "?";
}

void appendLengthPrefixed(std::string& out, absl::string_view s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(len, sizeof(len));
  out.append(s.data(), s.size());
}

} // namespace

absl::StatusOr<DescriptorPart> parsePart(absl::string_view text) {
  DescriptorPart p;
  if (text == "client_ip") {
    p.kind = DescriptorPart::Kind::ClientIp;
  } else if (text == "user") {
    p.kind = DescriptorPart::Kind::User;
  } else if (text == "api_key_consumer") {
    p.kind = DescriptorPart::Kind::ApiKeyConsumer;
  } else if (text == "route") {
    p.kind = DescriptorPart::Kind::Route;
  } else if (text == "method") {
    p.kind = DescriptorPart::Kind::Method;
  } else if (absl::StartsWith(text, kHeaderPrefix)) {
    p.kind = DescriptorPart::Kind::Header;
    p.header = absl::AsciiStrToLower(text.substr(kHeaderPrefix.size()));
    if (p.header.empty()) {
      return absl::InvalidArgumentError("'header:' needs a header name ('header:x-tenant')");
    }
    for (char c : p.header) {
      if (!isTokenChar(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", text, "': '", text.substr(kHeaderPrefix.size()),
                         "' is not a header name"));
      }
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown part '", text,
        "' (client_ip, user, api_key_consumer, route, method or header:<name>)"));
  }
  return p;
}

std::string partName(const DescriptorPart& part) {
  if (part.kind == DescriptorPart::Kind::Header) {
    return absl::StrCat(kHeaderPrefix, part.header);
  }
  return kindName(part.kind);
}

bool partValue(const DescriptorPart& part, const RequestFacts& f, absl::string_view* value) {
  switch (part.kind) {
  case DescriptorPart::Kind::ClientIp:
    *value = f.client_ip;
    return !value->empty();
  case DescriptorPart::Kind::User:
    if (f.identity == nullptr || f.identity->subject.empty()) {
      return false;
    }
    *value = f.identity->subject;
    return true;
  case DescriptorPart::Kind::ApiKeyConsumer:
    if (f.identity == nullptr || f.identity->method != "api_key" ||
        f.identity->subject.empty()) {
      return false;
    }
    *value = f.identity->subject;
    return true;
  case DescriptorPart::Kind::Route:
    *value = f.route;
    return !value->empty();
  case DescriptorPart::Kind::Method:
    *value = f.method;
    return !value->empty();
  case DescriptorPart::Kind::Header: {
    const std::string* v = f.headers == nullptr ? nullptr : f.headers->get(part.header);
    if (v == nullptr) {
      return false;
    }
    *value = *v;
    return true;
  }
  }
  return false;
}

bool descriptorDigest(const std::vector<DescriptorPart>& parts, const RequestFacts& facts,
                      bool missing_shared, Digest* digest) {
  // The hash input, reused by the thread: no allocation once it has grown.
  thread_local std::string in;
  in.clear();
  for (const DescriptorPart& p : parts) {
    in.append(kindName(p.kind));
    if (p.kind == DescriptorPart::Kind::Header) {
      appendLengthPrefixed(in, p.header);
    }
    absl::string_view v;
    if (partValue(p, facts, &v)) {
      in.push_back('=');
      appendLengthPrefixed(in, v);
    } else if (missing_shared) {
      in.push_back('-');  // absent: no value, and no length
    } else {
      return false;
    }
  }
  unsigned char md[32];
  policy::ApiKeyStore::sha256Into(in, md);
  std::memcpy(digest->bytes.data(), md, digest->bytes.size());
  return true;
}

std::string redisKey(absl::string_view prefix, absl::string_view limit, const Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  char hex[32];
  for (size_t i = 0; i < digest.bytes.size(); i++) {
    const auto c = static_cast<unsigned char>(digest.bytes[i]);
    hex[2 * i] = kHex[c >> 4];
    hex[2 * i + 1] = kHex[c & 15];
  }
  return absl::StrCat(prefix, limit, ":", absl::string_view(hex, sizeof(hex)));
}

uint64_t digestTag(const Digest& digest) {
  uint64_t t = 0;
  for (size_t i = 0; i < 8; i++) {
    t = (t << 8) | static_cast<unsigned char>(digest.bytes[i]);
  }
  return t;
}

} // namespace gw::filters::global_ratelimit
