#include "source/http2/server_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/container/inlined_vector.h"
#include "source/http2/header_validation.h"

namespace gw::http2 {

const char* eventName(Event e) {
  switch (e) {
  case Event::RapidReset:
    return "rapid_reset";
  case Event::ControlFlood:
    return "control_frame_flood";
  case Event::EmptyDataFlood:
    return "empty_data_flood";
  case Event::ContinuationFlood:
    return "continuation_flood";
  case Event::OutboundFlood:
    return "outbound_flood";
  case Event::HeaderListTooLarge:
    return "header_list_too_large";
  case Event::StreamRefused:
    return "stream_refused";
  case Event::MalformedRequest:
    return "malformed_request";
  case Event::ProtocolError:
    return "protocol_error";
  }
  return "unknown";
}

struct ServerSession::StreamState {
  // The request head while its header block arrives.
  http::RequestHead head;
  PseudoSeen seen;
  std::string authority;
  std::string cookie;
  HeaderMap trailers;
  uint32_t header_bytes = 0;
  uint32_t header_count = 0;
  bool in_trailers = false;
  bool too_large = false;
  bool delivered = false;  // onRequestHead was called
  bool has_cl = false;
  bool expect_continue = false;
  uint64_t cl = 0;
  uint64_t received = 0;
  // The response body waiting for the data provider.
  std::string out;
  size_t out_off = 0;
  bool provider = false;  // the head went with a data provider
  bool out_end = false;
  bool out_done = false;  // END_STREAM submitted
  bool blocked = false;   // isWriteBlocked() was true: onStreamWritable at the low watermark
  bool reset_after = false;
  HeaderMap out_trailers;
  size_t queued() const { return out.size() - out_off; }
};

namespace {

uint64_t nowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Takes one token; false when none is left (the bucket refills `rate` per second up to `burst`).
bool takeToken(double& tokens, uint64_t& last_ms, uint32_t rate, uint32_t burst) {
  const uint64_t now = nowMs();
  if (last_ms == 0) {
    tokens = burst;
  } else {
    tokens = std::min<double>(burst, tokens + static_cast<double>(now - last_ms) * rate / 1000.0);
  }
  last_ms = now;
  if (tokens < 1) {
    return false;
  }
  tokens -= 1;
  return true;
}

absl::string_view sv(const uint8_t* p, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

nghttp2_nv makeNv(absl::string_view name, absl::string_view value,
                  uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = flags;
  return nv;
}

bool connectionSpecific(absl::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "upgrade";
}

} // namespace

// nghttp2's callbacks, as static functions of a friend.
struct Callbacks {
  static ServerSession& self(void* user) { return *static_cast<ServerSession*>(user); }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    ServerSession& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    s.empty_data_run_ = 0;
    const int32_t id = frame->hd.stream_id;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto st = std::make_unique<ServerSession::StreamState>();
      st->head.version_minor = 1;
      st->head.headers.entries().reserve(8);  // a typical request's regular fields, grown once
      if (s.found_id_ == id) {
        s.found_ = nullptr;
      }
      s.streams_[id] = std::move(st);
    } else if (auto* st = s.find(id)) {
      st->in_trailers = true;
      st->seen.regular = true;
    }
    return 0;
  }

  [[gnu::cold]] static int rejectMalformed(ServerSession& s, int32_t id) {
    nghttp2_submit_rst_stream(s.session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* n,
                      size_t nlen, const uint8_t* v, size_t vlen, uint8_t, void* user) {
    ServerSession& s = self(user);
    const int32_t id = frame->hd.stream_id;
    ServerSession::StreamState* st = s.find(id);
    if (st == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
      return 0;
    }
    const absl::string_view name = sv(n, nlen);
    const absl::string_view value = sv(v, vlen);
    // Sizes first, before anything is stored: a header list over the limit (an HPACK bomb
    // included) is decoded to the end of its block (HPACK state must stay in step) but kept no
    // further.
    st->header_bytes += static_cast<uint32_t>(std::min<size_t>(nlen + vlen + 32, 1u << 30));
    st->header_count++;
    if (st->header_bytes > s.options_.max_header_list_size ||
        st->header_count > s.options_.max_header_count) {
      if (!st->too_large) {
        st->too_large = true;
        st->head.headers.clear();
        st->trailers.clear();
        st->cookie.clear();
      }
      return 0;
    }
    if (st->too_large) {
      return 0;
    }
    const Block block = st->in_trailers ? Block::Trailers : Block::Headers;
    if (checkRequestField(name, value, block, st->seen) != nullptr) {
      return rejectMalformed(s, id);
    }
    if (st->in_trailers) {
      st->trailers.add(name, value);
      return 0;
    }
    if (name.front() == ':') {
      if (name == ":method") {
        st->head.method.assign(value.data(), value.size());
      } else if (name == ":path") {
        st->head.target.assign(value.data(), value.size());
      } else if (name == ":authority") {
        st->authority.assign(value.data(), value.size());
      }
      return 0;  // :scheme: the upstream learns the scheme from the listener (X-Forwarded-Proto)
    }
    if (name == "cookie") {
      // RFC 9113 8.2.3: cookie crumbs are joined with "; " for an HTTP/1.1 hop.
      if (!st->cookie.empty()) {
        st->cookie.append("; ");
      }
      st->cookie.append(value.data(), value.size());
      return 0;
    }
    if (name == "content-length") {
      uint64_t cl = 0;
      if (!parseContentLength(value, cl) || (st->has_cl && cl != st->cl)) {
        return rejectMalformed(s, id);
      }
      st->has_cl = true;
      st->cl = cl;
    } else if (name == "expect") {
      st->expect_continue = value.size() == 12 && equalsLowerAscii(value, "100-continue");
    } else if (name == "host" && !st->authority.empty() && value != st->authority) {
      // RFC 9113 8.3.1: Host and :authority naming different origins.
      return rejectMalformed(s, id);
    }
    st->head.headers.add(name, value);
    return 0;
  }

  static void endOfRequestHead(ServerSession& s, int32_t id, ServerSession::StreamState& st,
                               bool end_stream) {
    if (st.too_large) {
      s.cb_.onEvent(Event::HeaderListTooLarge);
      s.cb_.onRequestRejected(id, 431, "request_header_fields_too_large",
                              "request header list exceeds the listener's limit");
      return;
    }
    if (checkRequestPseudo(st.seen, st.head.method, st.head.target) != nullptr) {
      rejectMalformed(s, id);
      return;
    }
    const std::string* host = st.head.headers.get("host");
    if (st.authority.empty()) {
      if (host == nullptr) {
        rejectMalformed(s, id);  // neither :authority nor Host: no origin to route on or forward
        return;
      }
    } else if (host == nullptr) {
      st.head.headers.add("host", st.authority);
    } else if (*host != st.authority) {
      rejectMalformed(s, id);
      return;
    }
    if (!st.cookie.empty()) {
      st.head.headers.add("cookie", st.cookie);
      std::string().swap(st.cookie);
    }
    if (end_stream && st.has_cl && st.cl != 0) {
      rejectMalformed(s, id);
      return;
    }
    RequestInfo info;
    info.end_stream = end_stream;
    info.has_content_length = st.has_cl;
    info.content_length = st.cl;
    info.expect_continue = st.expect_continue;
    st.delivered = true;
    s.cb_.onRequestHead(id, std::move(st.head), info);
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    ServerSession& s = self(user);
    if (s.terminated_) {
      return 0;  // the rest of the input after a GOAWAY for abuse is not acted on
    }
    const int32_t id = frame->hd.stream_id;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      ServerSession::StreamState* st = s.find(id);
      if (st == nullptr) {
        return 0;
      }
      if (!st->in_trailers) {
        endOfRequestHead(s, id, *st, end_stream);
        return 0;
      }
      if (!st->delivered || st->too_large) {
        return 0;
      }
      // Trailers end the request (RFC 9113 8.1): a trailer block without END_STREAM is malformed.
      if (!end_stream || (st->has_cl && st->received != st->cl)) {
        rejectMalformed(s, id);
        return 0;
      }
      s.cb_.onRequestTrailers(id, std::move(st->trailers));
      if (s.find(id) != nullptr) {
        s.cb_.onRequestEnd(id);
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      if (frame->hd.length == 0 && !end_stream) {
        if (++s.empty_data_run_ > s.options_.max_consecutive_empty_data) {
          s.cb_.onEvent(Event::EmptyDataFlood);
          s.terminate(NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return 0;
      }
      s.empty_data_run_ = 0;
      ServerSession::StreamState* st = s.find(id);
      if (!end_stream || st == nullptr || !st->delivered) {
        return 0;
      }
      if (st->has_cl && st->received != st->cl) {
        rejectMalformed(s, id);
        return 0;
      }
      s.cb_.onRequestEnd(id);
      return 0;
    }
    case NGHTTP2_RST_STREAM:
      if (!takeToken(s.reset_tokens_, s.reset_ms_, s.options_.reset_rate,
                     s.options_.reset_burst)) {
        s.cb_.onEvent(Event::RapidReset);
        s.terminate(NGHTTP2_ENHANCE_YOUR_CALM);
      }
      return 0;
    default:
      return 0;
    }
  }

  // Every frame's header, before its payload: the control-frame budget counts here (with
  // SETTINGS_NO_RFC7540_PRIORITIES nghttp2 drops PRIORITY frames without reporting them).
  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    ServerSession& s = self(user);
    if (s.terminated_) {
      return 0;
    }
    const bool ack = (hd->flags & NGHTTP2_FLAG_ACK) != 0;
    if (hd->type == NGHTTP2_PRIORITY ||
        ((hd->type == NGHTTP2_SETTINGS || hd->type == NGHTTP2_PING) && !ack)) {
      if (!takeToken(s.control_tokens_, s.control_ms_, s.options_.control_frame_rate,
                     s.options_.control_frame_burst)) {
        s.cb_.onEvent(Event::ControlFlood);
        s.terminate(NGHTTP2_ENHANCE_YOUR_CALM);
      }
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    ServerSession& s = self(user);
    ServerSession::StreamState* st = s.find(id);
    if (st == nullptr || !st->delivered) {
      nghttp2_session_consume(s.session_, id, len);  // not a request any more: dropped
      return 0;
    }
    st->received += len;
    if (st->has_cl && st->received > st->cl) {
      nghttp2_session_consume(s.session_, id, len);
      rejectMalformed(s, id);
      return 0;
    }
    s.cb_.onRequestData(id, sv(data, len));
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    ServerSession& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) {
      return 0;
    }
    const bool delivered = it->second->delivered;
    s.total_queued_ -= it->second->queued();
    if (s.found_id_ == id) {
      s.found_ = nullptr;
    }
    s.streams_.erase(it);
    if (delivered) {
      s.cb_.onStreamClose(id, error_code);
    }
    return 0;
  }

  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    ServerSession& s = self(user);
    if (frame->hd.type == NGHTTP2_RST_STREAM &&
        frame->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR) {
      s.cb_.onEvent(Event::MalformedRequest);
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      // A HEADERS beyond the acknowledged SETTINGS_MAX_CONCURRENT_STREAMS is a connection error
      // nghttp2 names in the GOAWAY's debug data (before the client acknowledged our SETTINGS
      // such a stream gets REFUSED_STREAM instead: onInvalidFrame).
      static constexpr absl::string_view kTooMany =
          "request HEADERS: max concurrent streams exceeded";
      if (sv(frame->goaway.opaque_data, frame->goaway.opaque_data_len) == kTooMany) {
        s.cb_.onEvent(Event::StreamRefused);
      }
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS)) {
      ServerSession::StreamState* st = s.find(frame->hd.stream_id);
      if (st != nullptr && st->reset_after) {
        nghttp2_submit_rst_stream(s.session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
      }
    }
    return 0;
  }

  static int onInvalidFrame(nghttp2_session*, const nghttp2_frame*, int lib_error, void* user) {
    if (lib_error == NGHTTP2_ERR_REFUSED_STREAM) {
      self(user).cb_.onEvent(Event::StreamRefused);
    }
    return 0;
  }

  static ssize_t readData(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* user) {
    ServerSession& s = self(user);
    ServerSession::StreamState* st = s.find(id);
    if (st == nullptr) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    const size_t n = std::min(length, st->queued());
    if (n > 0) {
      std::memcpy(buf, st->out.data() + st->out_off, n);
      st->out_off += n;
      s.total_queued_ -= n;
      if (st->out_off == st->out.size()) {
        st->out.clear();
        st->out_off = 0;
      } else if (st->out_off >= 64 * 1024 && st->out_off * 2 >= st->out.size()) {
        st->out.erase(0, st->out_off);
        st->out_off = 0;
      }
      if (st->blocked && st->queued() <= s.options_.stream_low_watermark) {
        st->blocked = false;
        s.writable_.push_back(id);
      }
    }
    if (st->queued() > 0) {
      return static_cast<ssize_t>(n);
    }
    if (!st->out_end) {
      return n > 0 ? static_cast<ssize_t>(n) : NGHTTP2_ERR_DEFERRED;
    }
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    st->out_done = true;
    if (!st->out_trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva;
      nva.reserve(st->out_trailers.size());
      for (const auto& [name, value] : st->out_trailers.entries()) {
        if (!connectionSpecific(name) && !name.empty() && name.front() != ':') {
          nva.push_back(makeNv(name, value));
        }
      }
      nghttp2_submit_trailer(s.session_, id, nva.data(), nva.size());
    }
    return static_cast<ssize_t>(n);
  }
};

ServerSession::ServerSession(const SessionOptions& options, ServerSessionCallbacks& callbacks)
    : options_(options), cb_(callbacks) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, &Callbacks::onInvalidFrame);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::onBeginFrame);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // The application reopens windows as it takes request bytes (consume()).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_continuations(opt, options_.max_continuations);
  // The library's own limiter is a backstop at twice ours (ours counts and answers first).
  nghttp2_option_set_stream_reset_rate_limit(opt, uint64_t{options_.reset_burst} * 2,
                                             uint64_t{options_.reset_rate} * 2);
  nghttp2_option_set_max_settings(opt, 32);
  // SETTINGS and PING ACKs queued towards a client that does not read (flush() stops while the
  // socket is full): over this the session ends (NGHTTP2_ERR_FLOODED).
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  // The request checks are the session's own (header_validation.h, onHeader, endOfRequestHead,
  // the content-length and trailer checks of onFrameRecv and onDataChunk); nghttp2's HTTP
  // messaging checks repeated them on every field.
  nghttp2_option_set_no_http_messaging(opt, 1);
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, options_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                          sizeof(settings) / sizeof(settings[0]));
  if (options_.initial_connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<int32_t>(options_.initial_connection_window));
  }
}

ServerSession::~ServerSession() { nghttp2_session_del(session_); }

ServerSession::StreamState* ServerSession::find(int32_t id) const {
  if (id == found_id_ && found_ != nullptr) {
    return found_;
  }
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return nullptr;
  }
  found_id_ = id;
  found_ = it->second.get();
  return found_;
}

bool ServerSession::receive(absl::string_view data) {
  if (terminated_) {
    return false;
  }
  busy_++;
  const ssize_t rv = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  busy_--;
  if (rv < 0) {
    terminated_ = true;
    if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
      cb_.onEvent(Event::ContinuationFlood);
    } else if (rv == NGHTTP2_ERR_FLOODED) {
      cb_.onEvent(Event::OutboundFlood);
    } else {
      cb_.onEvent(Event::ProtocolError);
    }
    return false;
  }
  return !terminated_;
}

void ServerSession::flush() {
  if (busy_ > 0) {
    return;
  }
  busy_++;
  for (;;) {
    const uint8_t* p = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n <= 0) {
      break;
    }
    if (!cb_.onSessionOutput(sv(p, static_cast<size_t>(n)))) {
      break;
    }
  }
  busy_--;
  notifyWritable();
}

void ServerSession::notifyWritable() {
  while (!writable_.empty()) {
    std::vector<int32_t> ids;
    ids.swap(writable_);
    for (int32_t id : ids) {
      if (find(id) != nullptr) {
        cb_.onStreamWritable(id);
      }
    }
  }
}

bool ServerSession::wantsRead() const {
  return !terminated_ && nghttp2_session_want_read(session_) != 0;
}

bool ServerSession::wantsWrite() const { return nghttp2_session_want_write(session_) != 0; }

void ServerSession::submitHead(int32_t id, const http::ResponseHead& head,
                               absl::string_view request_id, bool end_stream) {
  StreamState* st = find(id);
  if (st == nullptr) {
    return;
  }
  char status[4];
  const int code = head.status >= 100 && head.status <= 999 ? head.status : 500;
  status[0] = static_cast<char>('0' + code / 100);
  status[1] = static_cast<char>('0' + code / 10 % 10);
  status[2] = static_cast<char>('0' + code % 10);
  absl::InlinedVector<nghttp2_nv, 16> nva;  // on the stack for a typical response head
  nva.reserve(head.headers.size() + 2);
  nva.push_back(makeNv(":status", absl::string_view(status, 3)));
  for (const auto& [name, value] : head.headers.entries()) {
    if (!connectionSpecific(name) && !name.empty() && name.front() != ':') {
      nva.push_back(makeNv(name, value));
    }
  }
  if (!request_id.empty()) {
    // Unique per response: kept out of the HPACK dynamic table, where each one would evict
    // the fields that repeat (server, content-type, date) and cost an insert and a lookup.
    nva.push_back(makeNv("x-request-id", request_id, NGHTTP2_NV_FLAG_NO_INDEX));
  }
  if (end_stream) {
    st->out_done = true;
    nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr);
    return;
  }
  nghttp2_data_provider prd;
  prd.source.ptr = nullptr;
  prd.read_callback = &Callbacks::readData;
  st->provider = true;
  nghttp2_submit_response(session_, id, nva.data(), nva.size(), &prd);
}

void ServerSession::submitInformational(int32_t id, const http::ResponseHead& head) {
  if (find(id) == nullptr || head.status < 100 || head.status > 199 || head.status == 101) {
    return;
  }
  char status[4];
  status[0] = '1';
  status[1] = static_cast<char>('0' + head.status / 10 % 10);
  status[2] = static_cast<char>('0' + head.status % 10);
  std::vector<nghttp2_nv> nva;
  nva.push_back(makeNv(":status", absl::string_view(status, 3)));
  for (const auto& [name, value] : head.headers.entries()) {
    if (!connectionSpecific(name) && !name.empty() && name.front() != ':') {
      nva.push_back(makeNv(name, value));
    }
  }
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nva.data(), nva.size(),
                         nullptr);
}

void ServerSession::appendData(int32_t id, absl::string_view data) {
  StreamState* st = find(id);
  if (st == nullptr || !st->provider || st->out_end || data.empty()) {
    return;
  }
  st->out.append(data.data(), data.size());
  total_queued_ += data.size();
  nghttp2_session_resume_data(session_, id);
}

void ServerSession::endData(int32_t id, const HeaderMap* trailers) {
  StreamState* st = find(id);
  if (st == nullptr || !st->provider || st->out_end) {
    return;
  }
  st->out_end = true;
  if (trailers != nullptr) {
    st->out_trailers = *trailers;
  }
  nghttp2_session_resume_data(session_, id);
}

size_t ServerSession::queuedData(int32_t id) const {
  StreamState* st = find(id);
  return st == nullptr ? 0 : st->queued();
}

bool ServerSession::isWriteBlocked(int32_t id) const {
  StreamState* st = find(id);
  if (st == nullptr) {
    return false;
  }
  if (st->queued() > options_.stream_high_watermark) {
    st->blocked = true;
    return true;
  }
  return false;
}

void ServerSession::resetStream(int32_t id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void ServerSession::resetAfterResponse(int32_t id) {
  StreamState* st = find(id);
  if (st == nullptr) {
    return;
  }
  if (nghttp2_session_get_stream_local_close(session_, id) == 1) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    return;
  }
  st->reset_after = true;  // onFrameSend resets once END_STREAM is out
}

void ServerSession::consume(int32_t id, size_t n) {
  if (n > 0) {
    nghttp2_session_consume(session_, id, n);
  }
}

void ServerSession::goAway(uint32_t error_code) {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        error_code, nullptr, 0);
}

void ServerSession::terminate(uint32_t error_code) {
  if (terminated_) {
    return;
  }
  terminated_ = true;
  nghttp2_session_terminate_session(session_, error_code);
}

int32_t ServerSession::lastStreamId() const {
  return nghttp2_session_get_last_proc_stream_id(session_);
}

} // namespace gw::http2
