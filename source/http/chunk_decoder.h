#pragma once
// The HTTP/1.1 parser's chunked-body decoder (http1_codec.cc's Http1Parser uses it; header-only
// so that the per-byte loop inlines into the parser as before the split).

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

#include "source/common/header_map.h"
#include "source/http/http1_codec.h"

namespace gw::http {

// The trailer section of a chunked body, at most (over it: 431 headers_too_large).
inline constexpr uint32_t kMaxTrailerBytes = 16 * 1024;

// Chunked body framing (RFC 9112 7.1), strict: hex size (at most 15 digits), optional extensions
// made of token / quoted-string characters, CRLF after the size line and after the data, trailer
// fields with the same rules as header lines.
class ChunkDecoder {
public:
  enum class Result { NeedMore, Done, Error };

  template <class OnData>
  Result decode(const char* data, size_t len, size_t* used, OnData&& on_data, std::string* trailers,
                CodecError* err) {
    size_t i = 0;
    while (i < len) {
      const unsigned char c = static_cast<unsigned char>(data[i]);
      switch (state_) {
      case S::Size:
        if (std::isxdigit(c)) {
          if (++digits_ > 15) {
            return fail(used, i, err, "chunk size too large");
          }
          size_ = size_ * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
          i++;
        } else if (digits_ == 0) {
          return fail(used, i, err, "malformed chunk size");
        } else if (c == ';') {
          state_ = S::Ext;
          i++;
        } else if (c == '\r') {
          state_ = S::SizeLf;
          i++;
        } else {
          return fail(used, i, err, "malformed chunk size");
        }
        break;
      case S::Ext:
        if (c == '\r') {
          state_ = S::SizeLf;
        } else if (c == '"') {
          state_ = S::ExtQuoted;
        } else if (!(isTokenChar(c) || c == ';' || c == '=' || c == ' ' || c == '\t')) {
          return fail(used, i, err, "malformed chunk extension");
        }
        if (++ext_len_ > 1024) {
          return fail(used, i, err, "chunk extension too long");
        }
        i++;
        break;
      case S::ExtQuoted:
        if (c == '"') {
          state_ = S::Ext;
        } else if (c == '\r' || c == '\n' || c == 0 || c == 0x7f) {
          return fail(used, i, err, "malformed chunk extension");
        }
        if (++ext_len_ > 1024) {
          return fail(used, i, err, "chunk extension too long");
        }
        i++;
        break;
      case S::SizeLf:
        if (c != '\n') {
          return fail(used, i, err, "chunk size line not ended by CRLF");
        }
        i++;
        digits_ = 0;
        ext_len_ = 0;
        if (size_ == 0) {
          state_ = S::TrailerLineStart;
        } else {
          state_ = S::Data;
        }
        break;
      case S::Data: {
        const size_t n = std::min<uint64_t>(size_, len - i);
        on_data(absl::string_view(data + i, n));
        size_ -= n;
        i += n;
        if (size_ == 0) {
          state_ = S::DataCr;
        }
        break;
      }
      case S::DataCr:
        if (c != '\r') {
          return fail(used, i, err, "chunk data not followed by CRLF");
        }
        state_ = S::DataLf;
        i++;
        break;
      case S::DataLf:
        if (c != '\n') {
          return fail(used, i, err, "chunk data not followed by CRLF");
        }
        state_ = S::Size;
        i++;
        break;
      case S::TrailerLineStart:
        if (c == '\r') {
          state_ = S::FinalLf;
          i++;
          break;
        }
        if (c == ' ' || c == '\t') {
          return fail(used, i, err, "obsolete line folding in trailers");
        }
        state_ = S::TrailerLine;
        break;
      case S::TrailerLine:
        if (c == '\r') {
          state_ = S::TrailerLf;
        } else if (c == '\n' || c == 0) {
          return fail(used, i, err, "malformed trailer line");
        } else {
          trailers->push_back(static_cast<char>(c));
        }
        if (++trailer_bytes_ > kMaxTrailerBytes) {
          *used = i;
          *err = {431, "headers_too_large", "trailers exceed the limit"};
          return Result::Error;
        }
        i++;
        break;
      case S::TrailerLf:
        if (c != '\n') {
          return fail(used, i, err, "bare CR in trailers");
        }
        trailers->push_back('\n');
        state_ = S::TrailerLineStart;
        i++;
        break;
      case S::FinalLf:
        if (c != '\n') {
          return fail(used, i, err, "last chunk not ended by CRLF");
        }
        *used = i + 1;
        return Result::Done;
      }
    }
    *used = i;
    return Result::NeedMore;
  }

  void reset() { *this = ChunkDecoder(); }

private:
  Result fail(size_t* used, size_t i, CodecError* err, const char* msg) {
    *used = i;
    *err = {400, "bad_request", msg};
    return Result::Error;
  }

  enum class S { Size, Ext, ExtQuoted, SizeLf, Data, DataCr, DataLf, TrailerLineStart,
                 TrailerLine, TrailerLf, FinalLf };
  S state_ = S::Size;
  uint64_t size_ = 0;
  uint32_t digits_ = 0;
  uint32_t ext_len_ = 0;
  uint32_t trailer_bytes_ = 0;
};

} // namespace gw::http
