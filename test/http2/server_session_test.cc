// ServerSession without sockets: client frames in, server frames out (parsed by h2_client.h).
#include "source/http2/server_session.h"

#include <catch2/catch.hpp>

#include "test/http2/h2_client.h"

namespace gw::http2 {
namespace {

using namespace testing;

struct App : ServerSessionCallbacks {
  struct Req {
    http::RequestHead head;
    RequestInfo info;
    std::string body;
    HeaderMap trailers;
    bool ended = false;
    bool closed = false;
    uint32_t close_code = 0;
  };
  std::map<int32_t, Req> reqs;
  std::vector<int32_t> rejected;
  int events[kEventCount] = {};
  std::string out;
  bool consume_data = true;
  ServerSession* session = nullptr;

  void onRequestHead(int32_t id, http::RequestHead&& head, const RequestInfo& info) override {
    reqs[id].head = std::move(head);
    reqs[id].info = info;
  }
  void onRequestData(int32_t id, absl::string_view d) override {
    reqs[id].body.append(d.data(), d.size());
    if (consume_data) session->consume(id, d.size());
  }
  void onRequestTrailers(int32_t id, HeaderMap&& t) override { reqs[id].trailers = std::move(t); }
  void onRequestEnd(int32_t id) override { reqs[id].ended = true; }
  void onRequestRejected(int32_t id, int, absl::string_view, absl::string_view) override {
    rejected.push_back(id);
  }
  void onStreamClose(int32_t id, uint32_t code) override {
    reqs[id].closed = true;
    reqs[id].close_code = code;
  }
  void onStreamWritable(int32_t) override {}
  void onEvent(Event e) override { events[static_cast<int>(e)]++; }
  bool onSessionOutput(absl::string_view b) override {
    out.append(b.data(), b.size());
    return true;
  }
};

struct Fixture {
  explicit Fixture(SessionOptions o = {}) : session(o, app) {
    app.session = &session;
    session.receive(preface());
    session.flush();
    take();  // SETTINGS
  }
  std::vector<ServerFrame> send(const std::string& bytes) {
    session.receive(bytes);
    session.flush();
    return take();
  }
  std::vector<ServerFrame> take() {
    auto f = parser.parse(app.out);
    all.insert(all.end(), f.begin(), f.end());
    return f;
  }
  const ServerFrame* find(uint8_t type, uint32_t sid) const {
    for (const auto& f : all) {
      if (f.type == type && f.sid == sid) return &f;
    }
    return nullptr;
  }
  App app;
  ServerSession session;
  ServerOutput parser;
  std::vector<ServerFrame> all;
};

TEST_CASE("a request head becomes a RequestHead: authority as host, cookies joined") {
  Fixture t;
  t.send(headersFrame(1, get("/a?b=1", {{"cookie", "a=1"}, {"cookie", "b=2"}, {"te", "trailers"}}),
                      true));
  REQUIRE(t.app.reqs.count(1) == 1);
  const auto& r = t.app.reqs[1];
  CHECK(r.head.method == "GET");
  CHECK(r.head.target == "/a?b=1");
  CHECK(r.head.version_minor == 1);
  CHECK(*r.head.headers.get("host") == "example.com");
  CHECK(*r.head.headers.get("cookie") == "a=1; b=2");
  CHECK(r.head.headers.count("cookie") == 1);
  CHECK(r.info.end_stream);
  CHECK(r.ended == false);  // END_STREAM on the HEADERS: info.end_stream says it
}

TEST_CASE("response head, deferred data, trailers") {
  Fixture t;
  t.send(headersFrame(1, get("/"), true));
  http::ResponseHead h;
  h.status = 200;
  h.headers.add("content-type", "text/plain");
  h.headers.add("connection", "close");
  h.headers.add("transfer-encoding", "chunked");
  t.session.submitHead(1, h, "rid-1", false);
  t.session.flush();
  auto frames = t.take();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == NGHTTP2_HEADERS);
  CHECK((frames[0].flags & NGHTTP2_FLAG_END_STREAM) == 0);
  Fields expect = {{":status", "200"}, {"content-type", "text/plain"}, {"x-request-id", "rid-1"}};
  CHECK(frames[0].fields == expect);  // connection-specific fields dropped
  // Nothing to send yet: the data provider is deferred, not ended.
  CHECK(t.take().empty());
  t.session.appendData(1, "hello ");
  t.session.appendData(1, "world");
  HeaderMap tr;
  tr.add("grpc-status", "0");
  t.session.endData(1, &tr);
  t.session.flush();
  frames = t.take();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].type == NGHTTP2_DATA);
  CHECK(frames[0].payload == "hello world");
  CHECK((frames[0].flags & NGHTTP2_FLAG_END_STREAM) == 0);
  CHECK(frames[1].type == NGHTTP2_HEADERS);
  CHECK((frames[1].flags & NGHTTP2_FLAG_END_STREAM) != 0);
  CHECK(frames[1].fields == Fields{{"grpc-status", "0"}});
  CHECK(t.app.reqs[1].closed);
}

TEST_CASE("request body, trailers and end; content-length must match") {
  Fixture t;
  t.send(headersFrame(1, get("/", {{"content-length", "5"}}), false) + dataFrame(1, "12345", true));
  CHECK(t.app.reqs[1].info.has_content_length);
  CHECK(t.app.reqs[1].body == "12345");
  CHECK(t.app.reqs[1].ended);

  t.send(headersFrame(3, get("/"), false) + dataFrame(3, "ab", false) +
         headersFrame(3, {{"x-sum", "1"}}, true));
  CHECK(t.app.reqs[3].body == "ab");
  CHECK(*t.app.reqs[3].trailers.get("x-sum") == "1");
  CHECK(t.app.reqs[3].ended);

  t.send(headersFrame(5, get("/", {{"content-length", "10"}}), false) + dataFrame(5, "123", true));
  CHECK_FALSE(t.app.reqs[5].ended);
  REQUIRE(t.find(NGHTTP2_RST_STREAM, 5) != nullptr);
  CHECK(t.find(NGHTTP2_RST_STREAM, 5)->errorCode() == NGHTTP2_PROTOCOL_ERROR);
  CHECK(t.app.reqs[5].closed);

  t.send(headersFrame(7, get("/", {{"content-length", "2"}}), false) + dataFrame(7, "12345", true));
  CHECK_FALSE(t.app.reqs[7].ended);
  REQUIRE(t.find(NGHTTP2_RST_STREAM, 7) != nullptr);
}

TEST_CASE("malformed requests are reset and never delivered") {
  const std::vector<Fields> bad = {
      get("/", {{"connection", "x"}}),
      get("/", {{"transfer-encoding", "chunked"}}),
      get("/", {{"te", "gzip"}}),
      get("/", {{"x-a", std::string("a\0b", 3)}}),
      get("/", {{"X-Up", "1"}}),
      get("/", {{":path", "/dup"}}),
      {{":method", "GET"}, {":scheme", "http"}, {"x", "1"}, {":path", "/"}},
      {{":method", "GET"}, {":path", "/"}},
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":x", "1"}},
      get("/", {{"host", "other.example"}}),
      // nghttp2's HTTP messaging checks are off: these are the session's own.
      get("/", {{"x-a", "a\x01" "b"}}),
      get("/", {{"x-a", "a\x7f" "b"}}),
      get("/", {{"x-a", "b "}}),
      get("/", {{"content-length", "1x"}}),
      get("/", {{"content-length", "0"}, {"content-length", "1"}}),
      get("http://evil.example/x"),
      get("*"),
      {{":method", "G T"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a.example"}},
      {{":method", "GET"}, {":scheme", "ht tp"}, {":path", "/"}, {":authority", "a.example"}},
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}},  // no :authority, no host
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":protocol", "websocket"},
       {":authority", "a.example"}},
      {{":method", "CONNECT"}, {":authority", "a.example:443"}},
      get("/", {{"content-length", "3"}}),  // with END_STREAM on the HEADERS: no body to match
  };
  Fixture t;
  uint32_t sid = 1;
  for (const auto& fields : bad) {
    t.send(headersFrame(sid, fields, true));
    INFO("stream " << sid);
    CHECK(t.app.reqs.count(static_cast<int32_t>(sid)) == 0);
    REQUIRE(t.find(NGHTTP2_RST_STREAM, sid) != nullptr);
    CHECK(t.find(NGHTTP2_RST_STREAM, sid)->errorCode() == NGHTTP2_PROTOCOL_ERROR);
    sid += 2;
  }
  CHECK(t.app.events[static_cast<int>(Event::MalformedRequest)] == static_cast<int>(bad.size()));
  // Pseudo-header in trailers.
  t.send(headersFrame(sid, get("/"), false) + headersFrame(sid, {{":path", "/x"}}, true));
  CHECK_FALSE(t.app.reqs[sid].ended);
  CHECK(t.find(NGHTTP2_RST_STREAM, sid) != nullptr);
  // A trailer block without END_STREAM does not end the request: it is malformed.
  sid += 2;
  t.send(headersFrame(sid, get("/"), false) + dataFrame(sid, "ab", false) +
         headersFrame(sid, {{"x-sum", "1"}}, false));
  CHECK_FALSE(t.app.reqs[sid].ended);
  CHECK(t.app.reqs[sid].trailers.get("x-sum") == nullptr);
  REQUIRE(t.find(NGHTTP2_RST_STREAM, sid) != nullptr);
  CHECK(t.find(NGHTTP2_RST_STREAM, sid)->errorCode() == NGHTTP2_PROTOCOL_ERROR);
  // A host header and no :authority is enough.
  sid += 2;
  t.send(headersFrame(sid, {{":method", "GET"}, {":scheme", "http"}, {":path", "/"},
                            {"host", "h.example"}},
                      true));
  REQUIRE(t.app.reqs.count(static_cast<int32_t>(sid)) == 1);
  CHECK(*t.app.reqs[sid].head.headers.get("host") == "h.example");
}

TEST_CASE("flow control: windows reopen only as the application consumes") {
  SessionOptions o;
  o.initial_stream_window = 65535;
  o.initial_connection_window = 65535;
  Fixture t(o);
  t.app.consume_data = false;
  t.send(headersFrame(1, get("/"), false));
  // nghttp2 sends a WINDOW_UPDATE once half the window is consumed.
  t.send(dataFrame(1, std::string(16000, 'a'), false) + dataFrame(1, std::string(16000, 'a'), false) +
         dataFrame(1, std::string(8000, 'a'), false));
  CHECK(t.app.reqs[1].body.size() == 40000);
  CHECK(t.find(NGHTTP2_WINDOW_UPDATE, 0) == nullptr);
  CHECK(t.find(NGHTTP2_WINDOW_UPDATE, 1) == nullptr);
  t.session.consume(1, 40000);
  t.session.flush();
  t.take();
  CHECK(t.find(NGHTTP2_WINDOW_UPDATE, 0) != nullptr);
  CHECK(t.find(NGHTTP2_WINDOW_UPDATE, 1) != nullptr);
}

TEST_CASE("response data waits for the client's window; watermark reports blocking") {
  SessionOptions o;
  o.stream_high_watermark = 1000;
  o.stream_low_watermark = 100;
  Fixture t(o);
  // The client's stream window is 10 bytes.
  t.send(frame(NGHTTP2_SETTINGS, 0, 0, std::string("\x00\x04", 2) + u32(10)));
  t.send(headersFrame(1, get("/"), true));
  http::ResponseHead h;
  t.session.submitHead(1, h, "", false);
  t.session.appendData(1, std::string(5000, 'x'));
  t.session.flush();
  t.take();
  CHECK(t.session.isWriteBlocked(1));
  CHECK(t.session.queuedData(1) == 4990);
  t.send(frame(NGHTTP2_WINDOW_UPDATE, 0, 1, u32(10000)));
  CHECK(t.session.queuedData(1) == 0);
  CHECK_FALSE(t.session.isWriteBlocked(1));
}

TEST_CASE("oversized header list is rejected (431) without storing it") {
  SessionOptions o;
  o.max_header_list_size = 4096;
  Fixture t(o);
  t.send(headersFrame(1, get("/", {{"x-big", std::string(5000, 'a')}}), true));
  CHECK(t.app.rejected == std::vector<int32_t>{1});
  CHECK(t.app.reqs.count(1) == 0);
  CHECK(t.app.events[static_cast<int>(Event::HeaderListTooLarge)] == 1);
  Fields many = get("/");
  for (int i = 0; i < 150; i++) many.push_back({"x-" + std::to_string(i), "v"});
  t.send(headersFrame(3, many, true));  // over max_header_count (100)
  CHECK(t.app.rejected.size() == 2);
}

TEST_CASE("rapid reset: GOAWAY ENHANCE_YOUR_CALM after the burst") {
  SessionOptions o;
  o.reset_burst = 10;
  o.reset_rate = 1;
  Fixture t(o);
  std::string in;
  for (uint32_t sid = 1; sid < 60; sid += 2) {
    in += headersFrame(sid, get("/"), true) + frame(NGHTTP2_RST_STREAM, 0, sid, u32(8));
  }
  t.send(in);
  REQUIRE(t.find(NGHTTP2_GOAWAY, 0) != nullptr);
  CHECK(t.find(NGHTTP2_GOAWAY, 0)->errorCode() == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(t.app.events[static_cast<int>(Event::RapidReset)] == 1);
  CHECK_FALSE(t.session.wantsRead());
}

TEST_CASE("control frame floods and empty DATA floods") {
  {
    SessionOptions o;
    o.control_frame_burst = 20;
    Fixture t(o);
    std::string in;
    for (int i = 0; i < 100; i++) in += frame(NGHTTP2_PING, 0, 0, "12345678");
    t.send(in);
    REQUIRE(t.find(NGHTTP2_GOAWAY, 0) != nullptr);
    CHECK(t.app.events[static_cast<int>(Event::ControlFlood)] == 1);
  }
  {
    Fixture t;
    std::string in = headersFrame(1, get("/"), false);
    for (int i = 0; i < 10; i++) in += dataFrame(1, "", false);
    t.send(in);
    REQUIRE(t.find(NGHTTP2_GOAWAY, 0) != nullptr);
    CHECK(t.app.events[static_cast<int>(Event::EmptyDataFlood)] == 1);
  }
}

TEST_CASE("CONTINUATION flood ends the session") {
  SessionOptions o;
  o.max_continuations = 3;
  Fixture t(o);
  std::string in = frame(NGHTTP2_HEADERS, 0, 1, literals(get("/")));
  for (int i = 0; i < 10; i++) {
    in += frame(NGHTTP2_CONTINUATION, 0, 1, literals({{"x-c" + std::to_string(i), "v"}}));
  }
  CHECK_FALSE(t.session.receive(in));
  CHECK(t.app.events[static_cast<int>(Event::ContinuationFlood)] == 1);
}

TEST_CASE("GOAWAY on drain names the last stream; later streams are ignored") {
  Fixture t;
  t.send(headersFrame(1, get("/"), true));
  t.session.goAway(NGHTTP2_NO_ERROR);
  t.session.flush();
  t.take();
  const ServerFrame* g = t.find(NGHTTP2_GOAWAY, 0);
  REQUIRE(g != nullptr);
  CHECK(g->errorCode() == NGHTTP2_NO_ERROR);
  CHECK((static_cast<uint8_t>(g->payload[3])) == 1);
  t.send(headersFrame(3, get("/"), true));
  CHECK(t.app.reqs.count(3) == 0);
  // Stream 1 still completes.
  http::ResponseHead h;
  t.session.submitHead(1, h, "", true);
  t.session.flush();
  t.take();
  CHECK(t.app.reqs[1].closed);
  CHECK_FALSE(t.session.wantsRead());
}

} // namespace
} // namespace gw::http2
