#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gw::redis {

// One Redis reply (RESP2), copied out of hiredis's reply tree so that it outlives the hiredis
// callback. An error reply from Redis (`-WRONGTYPE ...`, `-ERR unknown command`) is a reply like
// any other (Type::Error, the text in `str`): the command reached Redis and Redis answered.
// Failures of the client itself (Redis down, timeout, queue full) are statuses instead, see
// RedisCallback in redis_client.h.
struct RedisReply {
  enum class Type { Nil, Integer, String, Status, Error, Array };

  Type type = Type::Nil;
  int64_t integer = 0;               // Type::Integer
  std::string str;                   // String (binary-safe), Status and Error
  std::vector<RedisReply> elements;  // Array; elements may be arrays themselves

  bool isNil() const { return type == Type::Nil; }
  bool isError() const { return type == Type::Error; }
};

// "nil", "(integer) 42", "\"bytes\"" (non-printable bytes as \xNN), "OK", "(error) ERR ...",
// "[a, b]" for arrays: for logs and test messages.
std::string describe(const RedisReply& reply);

} // namespace gw::redis
