#pragma once
// The HTTP/1 parser fuzz driver shared by http1_request_fuzz and http1_response_fuzz.
//
// Input: byte 0 picks options (limits; for responses: HEAD request, EOF at the end), bytes 1-4
// seed the split points, the rest is one connection's byte stream. The stream is parsed the way
// gatewayd reads a connection (feed, reset after Complete, the next pipelined message from the
// unconsumed rest) twice: all at once and in pieces of random size. Every invariant below that
// fails abort()s with a message, which libFuzzer reports as a crash:
//   - feed() takes at most what it is offered, nothing once Complete or Error, and some bytes or
//     a state change whenever it is offered any in Head or Body (no stall);
//   - a head's method, target, field names and values hold only the characters the grammar
//     allows (no CR, LF or NUL anywhere; names lower-case tokens; values trimmed);
//   - Content-Length and chunked never both; a Content-Length body is exactly that long;
//   - both feeding styles see the same messages (heads, bodies, trailers), end them at the same
//     offsets and fail with the same error;
//   - each complete message parses alone, from its own bytes only, into the same events (the
//     parser never needed a byte past the message's end);
//   - a head serialized again (serializeRequestHead / serializeResponseHead) parses back into
//     the same method, target, status and fields.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "source/common/header_map.h"
#include "source/http/http1_codec.h"

namespace gw::fuzz {

using Kind = http::Http1Parser::Kind;
using State = http::Http1Parser::State;

[[noreturn]] inline void fail(const char* what, absl::string_view detail = {}) {
  fprintf(stderr, "http1 fuzz invariant violated: %s", what);
  if (!detail.empty()) {
    fprintf(stderr, ": [%.*s]", static_cast<int>(detail.size()), detail.data());
  }
  fprintf(stderr, "\n");
  abort();
}

inline void require(bool ok, const char* what, absl::string_view detail = {}) {
  if (!ok) {
    fail(what, detail);
  }
}

inline bool hasCrLfNul(absl::string_view s) {
  return s.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos;
}

inline void checkFields(const HeaderMap& h) {
  for (const auto& [name, value] : h.entries()) {
    require(isToken(name), "field name is not a token", name);
    for (const char c : name) {
      require(!(c >= 'A' && c <= 'Z'), "field name not lower-cased", name);
    }
    require(http::isValidFieldValue(value), "field value with a control character", value);
    require(!hasCrLfNul(value), "field value with CR, LF or NUL", value);
    if (!value.empty()) {
      const char f = value.front(), b = value.back();
      require(f != ' ' && f != '\t' && b != ' ' && b != '\t', "field value not trimmed", value);
    }
  }
}

inline std::string describeFields(const HeaderMap& h) {
  std::string out;
  for (const auto& [name, value] : h.entries()) {
    out += " [" + name + "]=[" + value + "]";
  }
  return out;
}

// Records every event as text (adjacent body pieces coalesced) and checks each head as it comes.
class Recorder : public http::Http1ParserCallbacks {
public:
  void onRequestHead(http::RequestHead&& head) override {
    require(!head.method.empty() && isToken(head.method), "method is not a token", head.method);
    require(!head.target.empty(), "empty request target");
    for (const unsigned char c : head.target) {
      require(c > 0x20 && c < 0x7f, "request target byte outside VCHAR", head.target);
    }
    require(head.version_minor == 0 || head.version_minor == 1, "HTTP version not 1.0 or 1.1");
    checkFields(head.headers);
    log += "REQ " + head.method + " [" + head.target + "] 1." +
           std::to_string(head.version_minor) + describeFields(head.headers) + "\n";
    last_request = std::move(head);
    heads++;
    body_bytes = 0;
  }
  void onResponseHead(http::ResponseHead&& head) override {
    require(head.status >= 0 && head.status <= 999, "status outside 000-999");
    require(!hasCrLfNul(head.reason), "reason phrase with CR, LF or NUL", head.reason);
    require(head.version_minor == 0 || head.version_minor == 1, "HTTP version not 1.0 or 1.1");
    checkFields(head.headers);
    log += "RESP " + std::to_string(head.status) + " [" + head.reason + "] 1." +
           std::to_string(head.version_minor) + describeFields(head.headers) + "\n";
    last_response = std::move(head);
    heads++;
    body_bytes = 0;
  }
  void onBody(absl::string_view data) override {
    require(!data.empty(), "empty onBody");
    if (!in_body) {
      log += "BODY ";
      in_body = true;
    }
    log.append(data.data(), data.size());
    body_bytes += data.size();
  }
  void onTrailers(HeaderMap&& trailers) override {
    require(trailers.size() > 0, "empty onTrailers");
    checkFields(trailers);
    log += "\nTRAILERS" + describeFields(trailers) + "\n";
    in_body = false;
  }
  void onMessageComplete() override {
    log += in_body ? "\nCOMPLETE\n" : "COMPLETE\n";
    in_body = false;
    completes++;
  }

  std::string log;
  http::RequestHead last_request;
  http::ResponseHead last_response;
  uint64_t body_bytes = 0;  // of the current message
  int heads = 0;
  int completes = 0;

private:
  bool in_body = false;
};

struct Options {
  Kind kind = Kind::Request;
  http::CodecLimits limits;
  bool request_head = false;  // response: the request was HEAD
  bool eof = false;           // response: the upstream closes after the stream
};

// A tiny deterministic generator for the piece sizes (splitmix64).
class Splitter {
public:
  explicit Splitter(uint64_t seed) : s_(seed) {}
  size_t next(size_t left) {
    s_ += 0x9e3779b97f4a7c15ull;
    uint64_t z = s_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    // Mostly small pieces (a head split everywhere), sometimes anything up to the rest.
    const size_t n = (z & 3) != 0 ? 1 + (z >> 8) % 8 : 1 + (z >> 8) % left;
    return n < left ? n : left;
  }

private:
  uint64_t s_;
};

struct Outcome {
  std::string log;
  std::vector<size_t> ends;  // offset just past each complete message
  State state = State::Head;
  http::CodecError error;
  size_t consumed = 0;
};

// Parses `in` as one connection: pieces of random size when `split` is set, else everything
// offered at once. Checks the per-call invariants.
inline Outcome parseStream(absl::string_view in, const Options& o, Splitter* split) {
  Recorder rec;
  http::Http1Parser p(o.kind, rec, o.limits);
  p.setRequestMethodHead(o.request_head);
  Outcome out;
  size_t pos = 0;
  while (true) {
    const State st = p.state();
    if (st == State::Complete) {
      require(p.feed(in.data() + pos, in.size() - pos) == 0, "feed took bytes when Complete");
      require(rec.completes == static_cast<int>(out.ends.size()) + 1, "Complete without event");
      if (p.hasContentLength() && !p.chunked()) {
        require(rec.body_bytes == p.contentLength(), "body length differs from Content-Length");
      }
      out.ends.push_back(pos);
      p.reset();
      p.setRequestMethodHead(o.request_head);
      continue;
    }
    if (st == State::Error) {
      require(p.feed(in.data() + pos, in.size() - pos) == 0, "feed took bytes after Error");
      break;
    }
    if (pos == in.size()) {
      break;
    }
    const size_t offer = split != nullptr ? split->next(in.size() - pos) : in.size() - pos;
    const int completes_before = rec.completes;
    const size_t used = p.feed(in.data() + pos, offer);
    require(used <= offer, "feed consumed more than offered");
    require(rec.completes - completes_before <= 1, "two messages completed by one feed");
    require(used > 0 || p.state() != st, "feed made no progress");
    pos += used;
    if (p.state() == State::Body || p.state() == State::Complete) {
      require(!(p.chunked() && p.hasContentLength()), "both chunked and Content-Length");
      if (p.hasContentLength()) {
        require(rec.body_bytes <= p.contentLength(), "body longer than Content-Length");
      }
    }
  }
  if (o.eof && p.state() != State::Error) {
    const bool was_complete = p.state() == State::Complete;
    const bool until_close = p.state() == State::Body && p.readUntilClose();
    const bool ok = p.finishOnEof();
    require(ok == (was_complete || until_close), "finishOnEof verdict");
    if (until_close) {
      out.ends.push_back(pos);
    }
  }
  out.log = std::move(rec.log);
  out.state = p.state();
  out.error = p.error();
  out.consumed = pos;
  return out;
}

// A head serialized again must parse back into the same head.
inline void checkRoundTrip(const Options& o, const Recorder& rec) {
  Options big = o;
  big.limits.max_header_bytes = 1 << 20;
  big.eof = false;
  std::string wire;
  if (o.kind == Kind::Request) {
    http::serializeRequestHead(rec.last_request, rec.last_request.target, wire);
  } else {
    if (rec.last_response.status < 100) {
      return;  // the serializer writes 500 for what is not a status code
    }
    http::serializeResponseHead(rec.last_response, wire);
  }
  Recorder again;
  http::Http1Parser p(o.kind, again, big.limits);
  p.setRequestMethodHead(o.request_head);
  const size_t used = p.feed(wire.data(), wire.size());
  require(again.heads == 1 && used == wire.size() && p.state() != State::Error,
          "serialized head does not parse back", wire);
  if (o.kind == Kind::Request) {
    const auto& a = rec.last_request;
    const auto& b = again.last_request;
    require(a.method == b.method && a.target == b.target &&
                a.headers.entries() == b.headers.entries(),
            "request head changed in a round trip", wire);
  } else {
    const auto& a = rec.last_response;
    const auto& b = again.last_response;
    require(a.status == b.status && a.headers.entries() == b.headers.entries(),
            "response head changed in a round trip", wire);
  }
}

inline void checkMessagesAlone(absl::string_view in, const Options& o, const Outcome& whole) {
  std::string alone_log;
  size_t start = 0;
  for (const size_t end : whole.ends) {
    const absl::string_view msg = in.substr(start, end - start);
    Recorder rec;
    http::Http1Parser p(o.kind, rec, o.limits);
    p.setRequestMethodHead(o.request_head);
    size_t pos = 0;
    while (pos < msg.size() && (p.state() == State::Head || p.state() == State::Body)) {
      pos += p.feed(msg.data() + pos, msg.size() - pos);
    }
    if (p.state() == State::Body && p.readUntilClose()) {
      p.finishOnEof();
    }
    require(p.state() == State::Complete && pos == msg.size() && rec.completes == 1,
            "a complete message does not parse alone from its own bytes", msg);
    checkRoundTrip(o, rec);
    alone_log += rec.log;
    start = end;
  }
  require(whole.log.compare(0, alone_log.size(), alone_log) == 0,
          "a message parsed alone gives other events", alone_log);
}

inline int runHttp1Fuzz(Kind kind, const uint8_t* data, size_t size) {
  if (size < 5) {
    return 0;
  }
  Options o;
  o.kind = kind;
  const uint8_t flags = data[0];
  switch (flags & 3) {
  case 1:  // tiny limits: the limit paths at every position
    o.limits.max_header_bytes = 16 + data[1] % 200;
    o.limits.max_headers = flags >> 4;
    break;
  case 2:
    o.limits.max_headers = 1 + (flags >> 4);
    break;
  default:
    break;
  }
  if (kind == Kind::Response) {
    o.request_head = (flags & 4) != 0;
    o.eof = (flags & 8) != 0;
  }
  uint64_t seed = 0;
  for (int i = 1; i <= 4; i++) {
    seed = seed << 8 | data[i];
  }
  const absl::string_view in(reinterpret_cast<const char*>(data) + 5, size - 5);

  const Outcome whole = parseStream(in, o, nullptr);
  Splitter splitter(seed);
  const Outcome pieces = parseStream(in, o, &splitter);
  require(whole.log == pieces.log, "events differ between whole and split feeding",
          whole.log + "\n----\n" + pieces.log);
  require(whole.ends == pieces.ends, "messages end at different offsets");
  require(whole.state == pieces.state, "final state differs between whole and split feeding");
  require(whole.error.status == pieces.error.status && whole.error.code == pieces.error.code &&
              whole.error.message == pieces.error.message,
          "error differs between whole and split feeding",
          whole.error.message + " / " + pieces.error.message);
  if (whole.state != State::Error) {
    require(whole.consumed == pieces.consumed, "consumed differs between feeding styles");
  }
  checkMessagesAlone(in, o, whole);
  return 0;
}

} // namespace gw::fuzz
