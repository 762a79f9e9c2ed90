// Fuzzes gw::http2::ServerSession as gatewayd's HTTP/2 frame path: the client preface, then the
// input as frames, fed whole and in pieces; requests are answered (head, body, trailers) and
// consumed as an application would, so that the response and flow-control paths run too. The
// invariants: no crash, no sanitizer report, and the session's accounting stays consistent.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "source/http2/server_session.h"

namespace {

using gw::http2::ServerSession;

struct App : gw::http2::ServerSessionCallbacks {
  ServerSession* s = nullptr;
  std::vector<int32_t> heads;
  size_t out = 0;
  void onRequestHead(int32_t id, gw::http::RequestHead&& head,
                     const gw::http2::RequestInfo&) override {
    if (head.method.empty() || head.target.empty()) abort();  // validated before delivery
    heads.push_back(id);
  }
  void onRequestData(int32_t id, absl::string_view d) override { s->consume(id, d.size()); }
  void onRequestTrailers(int32_t, gw::HeaderMap&&) override {}
  void onRequestEnd(int32_t) override {}
  void onRequestRejected(int32_t id, int status, absl::string_view, absl::string_view) override {
    gw::http::ResponseHead h;
    h.status = status;
    s->submitHead(id, h, "", true);
  }
  void onStreamClose(int32_t, uint32_t) override {}
  void onStreamWritable(int32_t) override {}
  void onEvent(gw::http2::Event) override {}
  bool onSessionOutput(absl::string_view b) override {
    out += b.size();
    return out < (8u << 20);
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gw::http2::SessionOptions o;
  o.max_header_list_size = 8192;
  o.reset_burst = 20;
  o.control_frame_burst = 50;
  App app;
  ServerSession session(o, app);
  app.s = &session;
  std::string in("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  in.append("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // empty SETTINGS
  if (!session.receive(in)) abort();
  // The first byte picks the piece size (0: whole).
  const size_t piece = size > 0 ? data[0] : 0;
  const char* p = reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0);
  size_t left = size > 0 ? size - 1 : 0;
  while (left > 0) {
    const size_t n = piece == 0 ? left : std::min(left, piece);
    const bool ok = session.receive(absl::string_view(p, n));
    // Answer every request delivered so far: head, body, trailers.
    for (int32_t id : app.heads) {
      gw::http::ResponseHead h;
      h.headers.add("content-type", "text/plain");
      session.submitHead(id, h, "rid", false);
      session.appendData(id, "hello");
      gw::HeaderMap t;
      t.add("x-t", "1");
      session.endData(id, &t);
    }
    app.heads.clear();
    session.flush();
    if (!ok) break;
    p += n;
    left -= n;
  }
  session.flush();
  if (session.totalQueuedData() > (1u << 20)) abort();
  return 0;
}
