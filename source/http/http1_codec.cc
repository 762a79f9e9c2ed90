#include "source/http/http1_codec.h"

#include <algorithm>
#include <vector>
#include <cctype>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "llhttp.h"
#include "source/http/chunk_decoder.h"

namespace gw::http {

namespace {

// Byte classes for the head scanner: one table lookup per byte, with tight loops over the runs of
// ordinary bytes (token characters in a field name: gw::isTokenChar; anything but CR/LF/NUL
// elsewhere).
struct HeadTables {
  bool plain[256] = {};  // may appear in the start line without a closer look
  bool value[256] = {};  // field-value bytes (RFC 9110 5.5): VCHAR, obs-text, SP, HTAB
  constexpr HeadTables() {
    for (int c = 1; c < 256; c++) plain[c] = c != '\r' && c != '\n';  // and not NUL
    for (int c = 0; c < 256; c++) value[c] = (c >= 0x20 && c != 0x7f) || c == '\t';
  }
};
constexpr HeadTables kHeadTables;

// The scanner's inner loops: the index of the first byte in [i, n) that may not appear in a
// field value (`value`: a control character other than HTAB, or DEL) or in the start line
// (`!value`: CR, LF or NUL), or n. 16 bytes per step with SSE2 (the x86-64 baseline); the bytes
// near the end of the buffer, and other CPUs, take the table loop. Header lines end in CR, which
// stops both, so most lines never reach the table loop.
size_t skipPlainBytes(const unsigned char* p, size_t i, size_t n, bool value) {
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i nul = _mm_setzero_si128();
  while (i + 16 <= n) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i bad;
    if (value) {
      const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, k1f), x);  // x <= 0x1f
      bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), ctl), _mm_cmpeq_epi8(x, del));
    } else {
      bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)),
                         _mm_cmpeq_epi8(x, nul));
    }
    const int mask = _mm_movemask_epi8(bad);
    if (mask != 0) {
      return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
    i += 16;
  }
#endif
  const bool* ok = value ? kHeadTables.value : kHeadTables.plain;
  while (i < n && ok[p[i]]) {
    i++;
  }
  return i;
}


absl::string_view trimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

} // namespace

bool isValidFieldValue(absl::string_view v) {
  return skipPlainBytes(reinterpret_cast<const unsigned char*>(v.data()), 0, v.size(), true) ==
         v.size();
}

// Validates the raw header block before it is parsed (the checks llhttp 8.1 lacked when it
// parsed heads here, kept as they were): every line ends in CRLF, no bare CR or LF, no NUL, no
// obs-fold continuation lines, no whitespace between a field name and its colon, field names made
// of token characters. Finds the end of the head (the empty line). Resumable: a head may arrive in
// any number of pieces.
class HeadScanner {
public:
  enum class Result { NeedMore, Done, Error };

  // Field by field (fields_ keeps its capacity for the next head): the scanner is reset for
  // every message.
  void reset() {
    state_ = S::StartLine;
    total_ = 0;
    lines_ = 0;
    line_len_ = 0;
    cr_ = 0;
    start_begin_ = 0;
    start_end_ = 0;
    fields_.clear();
  }

  // Where the lines are, as offsets from the head's first byte (of all the pieces scanned since
  // reset()): the start line, and per field line its ':' and its CR. The parser reads the head
  // from these instead of searching it again.
  struct Field {
    uint32_t colon;
    uint32_t cr;
  };
  uint32_t startLineBegin() const { return start_begin_; }
  uint32_t startLineEnd() const { return start_end_; }
  const std::vector<Field>& fields() const { return fields_; }

  // Scans up to `len` bytes; `*used` gets the bytes belonging to the head.
  Result scan(const char* data, size_t len, size_t* used, uint32_t max_bytes, CodecError* err) {
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    const uint32_t base = total_;  // offset of data[0] in the head
    // Never look past the size limit: the byte after it is an error wherever it falls.
    const size_t budget = max_bytes > total_ ? max_bytes - total_ : 0;
    const size_t n = len < budget ? len : budget;
    size_t i = 0;
    while (i < n) {
      switch (state_) {
      case S::StartLine:
      case S::Value: {
        const size_t from = i;
        i = skipPlainBytes(p, i, n, state_ == S::Value);
        line_len_ += static_cast<uint32_t>(i - from);
        if (i == n) {
          break;
        }
        if (p[i] == 0) {
          return fail(used, i, err, "NUL byte in header block");
        }
        if (p[i] == '\n') {
          return fail(used, i, err, "bare LF in header block");
        }
        if (p[i] != '\r') {
          return fail(used, i, err, "invalid character in header value");
        }
        cr_ = base + static_cast<uint32_t>(i);
        i++;  // CR
        state_ = S::Cr;
        break;
      }
      case S::Cr:
        if (p[i] != '\n') {
          return fail(used, i, err, "bare CR in header block");
        }
        i++;
        if (line_len_ == 0) {
          if (lines_ == 0) {
            state_ = S::StartLine;  // tolerated empty line before the start line (RFC 9112 2.2)
            start_begin_ = base + static_cast<uint32_t>(i);
            break;
          }
          total_ += static_cast<uint32_t>(i);
          *used = i;
          return Result::Done;
        }
        if (lines_ == 0) {
          start_end_ = cr_;
        } else {
          fields_.back().cr = cr_;
        }
        lines_++;
        line_len_ = 0;
        state_ = S::LineStart;
        break;
      case S::LineStart:
        if (p[i] == '\r') {
          i++;
          state_ = S::Cr;  // the empty line ending the head
          break;
        }
        if (p[i] == ' ' || p[i] == '\t') {
          return fail(used, i, err, "obsolete line folding in header block");
        }
        state_ = S::Name;
        break;
      case S::Name: {
        const size_t from = i;
        while (i < n && isTokenChar(p[i])) {
          i++;
        }
        line_len_ += static_cast<uint32_t>(i - from);
        if (i == n) {
          break;
        }
        if (p[i] == ':') {
          if (line_len_ == 0) {
            return fail(used, i, err, "whitespace or empty name before ':'");
          }
          fields_.push_back({base + static_cast<uint32_t>(i), 0});
          i++;
          line_len_++;
          state_ = S::Value;
          break;
        }
        if (p[i] == ' ' || p[i] == '\t') {
          return fail(used, i, err, "whitespace or empty name before ':'");
        }
        if (p[i] == 0) {
          return fail(used, i, err, "NUL byte in header block");
        }
        if (p[i] == '\n') {
          return fail(used, i, err, "bare LF in header block");
        }
        if (p[i] == '\r') {
          return fail(used, i, err, "header line without ':'");
        }
        // Any other byte (llhttp in loose mode accepted a space inside a field name).
        return fail(used, i, err, "invalid character in header field name");
      }
      }
    }
    total_ += static_cast<uint32_t>(n);
    if (n < len) {
      *used = n;
      *err = {431, "headers_too_large", "request header block exceeds the limit"};
      return Result::Error;
    }
    *used = i;
    return Result::NeedMore;
  }

private:
  Result fail(size_t* used, size_t i, CodecError* err, const char* msg) {
    *used = i;
    *err = {400, "bad_request", msg};
    return Result::Error;
  }

  enum class S : uint8_t { StartLine, LineStart, Name, Value, Cr };
  S state_ = S::StartLine;
  uint32_t total_ = 0;
  uint32_t lines_ = 0;
  uint32_t line_len_ = 0;
  uint32_t cr_ = 0;  // offset of the CR that ended the last line
  uint32_t start_begin_ = 0;
  uint32_t start_end_ = 0;
  std::vector<Field> fields_;
};

namespace {

// The request methods llhttp knows (its HTTP_METHOD_MAP, without the RTSP ones): the same set
// as when llhttp parsed the start line. An unknown method is a 400, not proxied.
bool knownMethod(absl::string_view m) {
  static const absl::string_view kMethods[] = {
#define GW_METHOD(num, name, string) #string,
      HTTP_METHOD_MAP(GW_METHOD)
#undef GW_METHOD
  };
  for (absl::string_view k : kMethods) {
    if (k == m) {
      return true;
    }
  }
  return false;
}

// How many list members of a Transfer-Encoding value are "chunked".
int countChunked(absl::string_view v) {
  int n = 0;
  for (absl::string_view tok : absl::StrSplit(v, ',')) {
    n += absl::EqualsIgnoreCase(trimOws(tok), "chunked") ? 1 : 0;
  }
  return n;
}

// "HTTP/" DIGIT "." DIGIT; sets major and minor.
bool parseVersion(absl::string_view v, int* major, int* minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !absl::ascii_isdigit(v[5]) ||
      v[6] != '.' || !absl::ascii_isdigit(v[7])) {
    return false;
  }
  *major = v[5] - '0';
  *minor = v[7] - '0';
  return true;
}

// Request-target bytes: visible ASCII (RFC 9112 3.2; no SP, controls, DEL or non-ASCII).
bool isTargetChar(unsigned char c) { return c > 0x20 && c < 0x7f; }

// The request-target forms (RFC 9112 3.2): origin ("/p"), absolute ("scheme://..."), authority
// (CONNECT only) and asterisk ("*").
bool targetShapeOk(absl::string_view method, absl::string_view t) {
  if (t[0] == '/') {
    return true;
  }
  if (t == "*") {
    return true;
  }
  if (method == "CONNECT") {
    return t.find('/') == absl::string_view::npos;
  }
  size_t i = 0;
  while (i < t.size() && absl::ascii_isalpha(t[i])) {
    i++;  // the scheme: letters only (as llhttp reads it; "h2c" style schemes are not proxied)
  }
  if (i == 0 || t.substr(i, 3) != "://" || t.size() == i + 3) {
    return false;
  }
  // The authority, up to the path or query: RFC 3986 3.2 characters only.
  for (i += 3; i < t.size() && t[i] != '/' && t[i] != '?'; i++) {
    const char c = t[i];
    if (!(absl::ascii_isalnum(c) || strchr("-._~!$&'()*+,;=:@[]%", c) != nullptr)) {
      return false;
    }
  }
  return true;
}

// The Connection tokens that decide persistence (comma-separated, case-insensitive).
void connectionTokens(absl::string_view v, bool* close, bool* keep_alive) {
  forEachListToken(v, [&](absl::string_view tok) {
    if (equalsLowerAscii(tok, "close")) {
      *close = true;
    } else if (equalsLowerAscii(tok, "keep-alive")) {
      *keep_alive = true;
    }
  });
}

} // namespace

struct Http1Parser::Impl {
  Http1Parser& self;
  Http1ParserCallbacks& cb;
  CodecLimits limits;
  HeadScanner scanner;
  ChunkDecoder chunks;
  RequestHead req;
  ResponseHead resp;
  // Head bytes of earlier feeds while a head arrives in pieces (rare: most heads come in one
  // read). Bounded by limits.max_header_bytes (the scanner stops there).
  std::string partial;
  int major = 0;
  int minor = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  // What parseHead found for onHead's framing decision, so onHead need not look at every field
  // again: the framing fields' counts, the first problem in field order, the Expect value.
  struct Framing {
    uint32_t te_count = 0;
    uint32_t cl_count = 0;
    bool chunked = false;
    uint64_t cl = 0;
    int error_status = 0;  // 0: none
    const char* error_code = nullptr;
    const char* error_message = nullptr;
    int expect = -1;  // index of the first Expect field in req.headers, -1: none
  } framing;
  uint64_t remaining = 0;
  std::string trailer_block;

  Impl(Http1Parser& s, Http1ParserCallbacks& c, CodecLimits l) : self(s), cb(c), limits(l) {}

  void restart() {
    scanner.reset();
    chunks.reset();
    // Only the head this parser produces was used (and moved out to the callbacks): what is
    // left of it is cleared member by member, not replaced by a new head (two constructions and
    // a move for every message).
    if (self.kind_ == Kind::Request) {
      req.method.clear();
      req.target.clear();
      req.path.clear();
      req.query.clear();
      req.host.clear();
      req.version_minor = 1;
      req.headers.clear();
      req.parsed = false;
      req.host_count = 0;
      req.underscore_name = false;
    } else {
      resp.status = 200;
      resp.reason.clear();
      resp.version_minor = 1;
      resp.headers.clear();
    }
    partial.clear();
    conn_close = false;
    conn_keep_alive = false;
    remaining = 0;
    trailer_block.clear();
  }

  // Parses a complete head that the HeadScanner accepted: every line ends in CRLF, field names
  // are tokens followed by ':', values hold no control characters, no obs-fold. What is left to
  // check is the start line.
  bool parseHead(absl::string_view block) {
    const char* const head = block.data();
    const absl::string_view start_line(head + scanner.startLineBegin(),
                                       scanner.startLineEnd() - scanner.startLineBegin());
    if (!(self.kind_ == Kind::Request ? parseRequestLine(start_line)
                                      : parseStatusLine(start_line))) {
      return false;
    }
    const auto& fields = scanner.fields();
    if (fields.size() > limits.max_headers) {
      return fail(431, "too_many_headers", "too many request headers");
    }
    HeaderMap& headers = self.kind_ == Kind::Request ? req.headers : resp.headers;
    auto& entries = headers.entries();
    entries.reserve(std::max<size_t>(16, fields.size()));  // one allocation for a typical head
    framing = Framing();
    // Names are checked for '_' only when the block has one at all (one vectorized memchr; a
    // '_' in a value, a cookie's say, costs a check per name).
    bool any_underscore = false;
    if (self.kind_ == Kind::Request) {
      req.parsed = true;
      req.host_count = 0;
      req.underscore_name = false;
      any_underscore = memchr(block.data(), '_', block.size()) != nullptr;
    }
    uint32_t line = scanner.startLineEnd() + 2;
    for (const auto& f : fields) {
      // The name lower-cased while it is copied (the scanner let only token characters through).
      const size_t name_len = f.colon - line;
      std::string name(name_len, '\0');
      for (size_t i = 0; i < name_len; i++) {
        const unsigned char c = static_cast<unsigned char>(head[line + i]);
        name[i] = static_cast<char>(static_cast<unsigned>(c - 'A') < 26u ? c | 0x20 : c);
      }
      if (any_underscore && memchr(name.data(), '_', name_len) != nullptr) {
        req.underscore_name = true;
      }
      const char* eol = head + f.cr;
      const absl::string_view value =
          trimOws(absl::string_view(head + f.colon + 1, f.cr - f.colon - 1));
      entries.emplace_back(std::move(name), std::string(value));
      const std::string& n = entries.back().first;
      // The fields the codec itself reads, found by length first.
      switch (name_len) {
      case 4:
        if (n == "host" && self.kind_ == Kind::Request && req.host_count < 255) {
          req.host_count++;
        }
        break;
      case 6:
        if (n == "expect" && framing.expect < 0) {
          framing.expect = static_cast<int>(entries.size() - 1);
        }
        break;
      case 10:
        if (n == "connection") {
          connectionTokens(value, &conn_close, &conn_keep_alive);
        }
        break;
      case 14:
        if (n == "content-length") {
          if (value.data() + value.size() < eol &&
              memchr(value.data() + value.size(), '\t',
                     static_cast<size_t>(eol - value.data() - value.size())) != nullptr) {
            // llhttp refused a tab after the digits; so do we (never lenient on framing).
            return fail(400, "bad_request", "malformed Content-Length");
          }
          framing.cl_count++;
          if (value.empty() || value.size() > 18 ||
              !std::all_of(value.begin(), value.end(),
                           [](char c) { return c >= '0' && c <= '9'; })) {
            framingError(400, "bad_request", "malformed Content-Length");
          } else {
            uint64_t v = 0;
            absl::SimpleAtoi(value, &v);
            framing.cl = v;
          }
        }
        break;
      case 17:
        if (n == "transfer-encoding") {
          framing.te_count++;
          framing.chunked = absl::EqualsIgnoreCase(value, "chunked");
          if (!framing.chunked && countChunked(value) > 1) {
            framingError(400, "bad_request", "repeated 'chunked' transfer coding");
          } else if (!framing.chunked) {
            framingError(self.kind_ == Kind::Request ? 501 : 502, "unsupported_transfer_encoding",
                         "Transfer-Encoding other than 'chunked' is not supported");
          }
        }
        break;
      default:
        break;
      }
      line = f.cr + 2;
    }
    return true;
  }

  // The first framing problem in field order; reported by onHead after the version check.
  [[gnu::cold]] void framingError(int status, const char* code, const char* message) {
    if (framing.error_status == 0) {
      framing.error_status = status;
      framing.error_code = code;
      framing.error_message = message;
    }
  }

  // method SP request-target SP HTTP-version
  bool parseRequestLine(absl::string_view line) {
    const size_t sp1 = line.find(' ');
    if (sp1 == absl::string_view::npos || sp1 == 0) {
      return fail(400, "bad_request", "malformed request line");
    }
    const absl::string_view method = line.substr(0, sp1);
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == absl::string_view::npos && sp1 + 1 < line.size()) {
      // "GET /": an HTTP/0.9 request line.
      return fail(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported");
    }
    if (sp2 == absl::string_view::npos || sp2 == sp1 + 1) {
      return fail(400, "bad_request", "malformed request line");
    }
    const absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (!parseVersion(line.substr(sp2 + 1), &major, &minor)) {
      return fail(400, "bad_request", "malformed HTTP version");
    }
    if (!knownMethod(method)) {
      return fail(400, "bad_request", "unknown method");
    }
    for (unsigned char c : target) {
      if (!isTargetChar(c)) {
        return fail(400, "bad_request", "invalid character in request target");
      }
    }
    if (!targetShapeOk(method, target)) {
      return fail(400, "bad_request", "malformed request target");
    }
    req.method.assign(method.data(), method.size());
    req.target.assign(target.data(), target.size());
    return true;
  }

  // HTTP-version SP 3DIGIT [SP reason-phrase]
  bool parseStatusLine(absl::string_view line) {
    if (line.size() < 12 || !parseVersion(line.substr(0, 8), &major, &minor) ||
        line[8] != ' ' || !absl::ascii_isdigit(line[9]) || !absl::ascii_isdigit(line[10]) ||
        !absl::ascii_isdigit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
      return fail(400, "bad_request", "malformed status line");
    }
    resp.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (line.size() > 13) {
      const absl::string_view reason = line.substr(13);
      resp.reason.assign(reason.data(), reason.size());
    }
    return true;
  }

  [[gnu::cold]] bool fail(int status, const char* code, std::string msg) {
    self.error_ = {status, code, std::move(msg)};
    self.state_ = State::Error;
    return false;
  }

  // Decides the framing from what parseHead found (RFC 9112 6), rejecting anything ambiguous.
  bool onHead() {
    const bool is_request = self.kind_ == Kind::Request;
    if (major != 1 || minor > 1) {
      return fail(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported");
    }
    // Field values were checked byte by byte by the HeadScanner (no control characters); the
    // framing fields were read by parseHead.
    if (framing.error_status != 0) {
      return fail(framing.error_status, framing.error_code, framing.error_message);
    }
    const size_t te_count = framing.te_count;
    const size_t cl_count = framing.cl_count;
    const bool chunked = framing.chunked;
    const uint64_t cl = framing.cl;
    if (te_count > 1) {
      return fail(400, "bad_request", "more than one Transfer-Encoding header");
    }
    if (cl_count > 1) {
      return fail(400, "bad_request", "more than one Content-Length header");
    }
    if (te_count == 1 && cl_count == 1) {
      return fail(400, "bad_request", "both Content-Length and Transfer-Encoding present");
    }
    if (te_count == 1 && minor == 0) {
      return fail(400, "bad_request", "Transfer-Encoding in an HTTP/1.0 message");
    }
    self.chunked_ = chunked;
    self.has_content_length_ = cl_count == 1;
    self.content_length_ = cl;
    // As llhttp decided it: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive";
    // a response delimited by the connection's end never does.
    self.keep_alive_ = minor >= 1 ? !conn_close : conn_keep_alive;
    if (!is_request && !chunked && cl_count == 0) {
      const int s = resp.status;
      if (!(s / 100 == 1 || s == 204 || s == 304)) {
        self.keep_alive_ = false;
      }
    }
    self.read_until_close_ = false;
    self.informational_ = false;
    if (is_request) {
      req.version_minor = minor;
      if (framing.expect >= 0) {
        self.expect_continue_ =
            absl::EqualsIgnoreCase(req.headers.entries()[framing.expect].second, "100-continue");
      } else {
        self.expect_continue_ = false;
      }
      remaining = self.chunked_ ? 0 : cl;
      cb.onRequestHead(std::move(req));
    } else {
      resp.version_minor = minor;
      const int s = resp.status;
      bool no_body = self.request_head_ || (s >= 100 && s < 200) || s == 204 || s == 304;
      self.informational_ = s >= 100 && s < 200;
      if (no_body) {
        self.chunked_ = false;
        remaining = 0;
      } else if (self.chunked_) {
        remaining = 0;
      } else if (self.has_content_length_) {
        remaining = cl;
      } else {
        self.read_until_close_ = true;
        self.keep_alive_ = false;
      }
      if (no_body) {
        self.has_content_length_ = false;
        self.read_until_close_ = false;
      }
      cb.onResponseHead(std::move(resp));
    }
    return true;
  }

  bool parseTrailers() {
    HeaderMap trailers;
    for (absl::string_view line : absl::StrSplit(trailer_block, '\n', absl::SkipEmpty())) {
      const size_t colon = line.find(':');
      if (colon == 0 || colon == absl::string_view::npos) {
        return fail(400, "bad_request", "malformed trailer field");
      }
      std::string name(line.substr(0, colon));
      for (unsigned char c : name) {
        if (!isTokenChar(c)) {
          return fail(400, "bad_request", "malformed trailer field name");
        }
      }
      toLowerAscii(name);
      absl::string_view v = trimOws(line.substr(colon + 1));
      if (!isValidFieldValue(v)) {
        return fail(400, "bad_request", "invalid character in trailer");
      }
      trailers.add(name, v);
    }
    if (trailers.size() > 0) {
      cb.onTrailers(std::move(trailers));
    }
    return true;
  }
};

Http1Parser::Http1Parser(Kind kind, Http1ParserCallbacks& callbacks, CodecLimits limits)
    : kind_(kind) {
  impl_ = std::make_unique<Impl>(*this, callbacks, limits);
}

Http1Parser::~Http1Parser() = default;

void Http1Parser::reset() {
  impl_->restart();
  state_ = State::Head;
  error_ = {};
  chunked_ = false;
  has_content_length_ = false;
  content_length_ = 0;
  keep_alive_ = true;
  expect_continue_ = false;
  informational_ = false;
  read_until_close_ = false;
}

size_t Http1Parser::feed(const char* data, size_t len) {
  Impl& im = *impl_;
  size_t pos = 0;
  if (state_ == State::Head) {
    size_t used = 0;
    const auto r = im.scanner.scan(data, len, &used, im.limits.max_header_bytes, &error_);
    if (r == HeadScanner::Result::Error) {
      state_ = State::Error;
      return used;
    }
    if (r == HeadScanner::Result::NeedMore) {
      im.partial.append(data, used);
      return used;
    }
    pos = used;
    absl::string_view block(data, used);
    if (!im.partial.empty()) {
      im.partial.append(data, used);
      block = im.partial;
    }
    if (!im.parseHead(block)) {
      return pos;
    }
    if (!im.onHead()) {
      return pos;
    }
    if (state_ == State::Error) {
      return pos;
    }
    const bool has_body = chunked_ || im.remaining > 0 || read_until_close_;
    if (!has_body) {
      state_ = State::Complete;
      im.cb.onMessageComplete();
      return pos;
    }
    state_ = State::Body;
    return pos;  // the caller decides when to take the body
  }
  if (state_ != State::Body) {
    return 0;
  }
  if (read_until_close_) {
    if (len > 0) {
      im.cb.onBody(absl::string_view(data, len));
    }
    return len;
  }
  if (!chunked_) {
    const size_t n = std::min<uint64_t>(im.remaining, len);
    if (n > 0) {
      im.cb.onBody(absl::string_view(data, n));
    }
    im.remaining -= n;
    if (im.remaining == 0) {
      state_ = State::Complete;
      im.cb.onMessageComplete();
    }
    return n;
  }
  size_t used = 0;
  const auto r = im.chunks.decode(
      data, len, &used, [&](absl::string_view d) { im.cb.onBody(d); }, &im.trailer_block, &error_);
  if (r == ChunkDecoder::Result::Error) {
    state_ = State::Error;
    return used;
  }
  if (r == ChunkDecoder::Result::Done) {
    if (!im.parseTrailers()) {
      return used;
    }
    state_ = State::Complete;
    im.cb.onMessageComplete();
  }
  return used;
}

bool Http1Parser::finishOnEof() {
  if (state_ == State::Body && read_until_close_) {
    state_ = State::Complete;
    impl_->cb.onMessageComplete();
    return true;
  }
  return state_ == State::Complete;
}

} // namespace gw::http
