#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "source/http/message.h"

namespace gw::http {

struct CodecLimits {
  uint32_t max_header_bytes = 60 * 1024;  // request line + all header lines
  uint32_t max_headers = 100;
};

// A framing error. `status` is what a server answers (400, 431, 501); `code` is machine-readable.
struct CodecError {
  int status = 400;
  std::string code;
  std::string message;
};

// Receives one message at a time. The parser never reads past the end of the current message, so
// pipelined requests wait in the caller's buffer until the caller resets the parser.
class Http1ParserCallbacks {
public:
  virtual ~Http1ParserCallbacks() = default;
  // Request parser only.
  virtual void onRequestHead(RequestHead&& /*head*/) {}
  // Response parser only. 1xx heads arrive here too (informational()); the final one follows.
  virtual void onResponseHead(ResponseHead&& /*head*/) {}
  virtual void onBody(absl::string_view data) = 0;
  // Trailer fields of a chunked message (names lower-cased); called before onMessageComplete.
  virtual void onTrailers(HeaderMap&& /*trailers*/) {}
  virtual void onMessageComplete() = 0;
};

// HTTP/1.1 parser (its head parsing checked against llhttp's in a differential test), strict:
// strict CRLF line endings, no obs-fold, no whitespace before ':', no NUL or bare CR/LF,
// single well-formed Content-Length, Transfer-Encoding only "chunked" (and never with
// Content-Length or on HTTP/1.0), well-formed chunk sizes/extensions, CRLF after chunk data.
// Limits are checked before anything is stored.
class Http1Parser {
public:
  enum class Kind { Request, Response };
  enum class State {
    Head,      // before/inside the header block
    Body,      // head delivered, body bytes follow (caller feeds when it wants them)
    Complete,  // message delivered; call reset() for the next one
    Error,
  };

  Http1Parser(Kind kind, Http1ParserCallbacks& callbacks, CodecLimits limits = {});
  ~Http1Parser();
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Parses from `data`; returns the bytes consumed. Stops at the end of the head (state Body, so
  // the caller can decide when to take the body), at message end (Complete) and on Error.
  size_t feed(const char* data, size_t len);
  // Response parser: the request was HEAD (no body whatever the headers say). Set before feed.
  void setRequestMethodHead(bool head) { request_head_ = head; }
  // Response parser: the upstream closed; completes a read-until-close body. False if that
  // truncates a message (an error).
  bool finishOnEof();
  // Prepares for the next message on the same connection.
  void reset();

  State state() const { return state_; }
  const CodecError& error() const { return error_; }
  // Valid from the head on.
  bool chunked() const { return chunked_; }
  bool hasContentLength() const { return has_content_length_; }
  uint64_t contentLength() const { return content_length_; }
  bool keepAlive() const { return keep_alive_; }
  bool expectContinue() const { return expect_continue_; }
  // Response parser: the current head is 1xx (another head follows).
  bool informational() const { return informational_; }
  // Response parser: body runs until the connection closes.
  bool readUntilClose() const { return read_until_close_; }

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
  Kind kind_;
  State state_ = State::Head;
  CodecError error_;
  bool request_head_ = false;
  bool chunked_ = false;
  bool has_content_length_ = false;
  uint64_t content_length_ = 0;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool informational_ = false;
  bool read_until_close_ = false;
  friend struct Impl;
};

// Serialization. Appends to `out`.
const char* reasonPhrase(int status);
void serializeRequestHead(const RequestHead& head, absl::string_view path_and_query,
                          std::string& out);
void serializeResponseHead(const ResponseHead& head, std::string& out);
// Appends "name: value\r\n".
void appendHeaderLine(absl::string_view name, absl::string_view value, std::string& out);
// Chunked framing helpers.
void appendChunk(absl::string_view data, std::string& out);
void appendLastChunk(const HeaderMap* trailers, std::string& out);

// Field-value characters (RFC 9110; tokens: gw::isTokenChar in source/common/header_map.h).
bool isValidFieldValue(absl::string_view v);

} // namespace gw::http
