#include "source/redis/reply.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gw::redis {

namespace {

void appendQuoted(std::string& out, const std::string& bytes) {
  out.push_back('"');
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append(std::string& out, const RedisReply& reply) {
  switch (reply.type) {
  case RedisReply::Type::Nil:
    out += "nil";
    return;
  case RedisReply::Type::Integer:
    absl::StrAppend(&out, "(integer) ", reply.integer);
    return;
  case RedisReply::Type::String:
    appendQuoted(out, reply.str);
    return;
  case RedisReply::Type::Status:
    out += reply.str;
    return;
  case RedisReply::Type::Error:
    absl::StrAppend(&out, "(error) ", reply.str);
    return;
  case RedisReply::Type::Array:
    out.push_back('[');
    for (size_t i = 0; i < reply.elements.size(); i++) {
      if (i > 0) {
        out += ", ";
      }
      append(out, reply.elements[i]);
    }
    out.push_back(']');
    return;
  }
}

} // namespace

std::string describe(const RedisReply& reply) {
  std::string out;
  append(out, reply);
  return out;
}

} // namespace gw::redis
