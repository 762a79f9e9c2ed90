// demo_upstream: a small single-threaded HTTP/1.1 origin server on libuv + llhttp, used by the
// demo, the integration tests and the benchmarks.
//
// Flags:
//   --port N              port to listen on (required; 0 picks a free port, printed on startup)
//   --address A           address to bind (default 127.0.0.1; IPv6 literals accepted)
//   --service NAME        service name reported in the JSON body (default "demo")
//   --instance NAME       instance name (default "<service>-<port>")
//   --delay-ms N          answer every request after N ms
//   --fail-status N       answer every request with status N
//   --stream-bytes N      every default body is N bytes of filler (Content-Length) instead of JSON
//   --quiet               no per-request log lines on stderr
//   --jwks-dir DIR        serve GET /.well-known/jwks.json from DIR/jwks.json (jwks_endpoint.h)
//
// Application endpoints (endpoints.cc): POST /oauth2/introspect (introspection.cc), POST
// /2015-03-31/functions/<name>/invocations (function_runtime.cc: a Lambda-style runtime).
//
// Per-request headers (override the flags):
//   x-demo-delay-ms: N                 respond after N ms (timer, not blocking)
//   x-demo-status: N                   respond with status N (body still the JSON)
//   x-demo-reset: 1                    reset the connection (RST) instead of responding
//   x-demo-reset-after-headers: 1      send the response headers, then reset
//   x-demo-stream-bytes: N             N bytes of filler body, chunked
//   x-demo-content-length-stream: N    N bytes of filler body with Content-Length
//   x-demo-slow-body-ms: N             when streaming, wait N ms between 16 KiB chunks
//   x-demo-header: name: value         add a response header (may repeat)
//   x-demo-trailers: 1                 chunked response ending with trailer `x-demo-trailer: yes`
//   x-demo-1xx: 1                      send `103 Early Hints` before the final response
//
// Filler bodies are deterministic: byte i of the body is kFillerPattern[i % 64].
//
// Connection model: one request is answered at a time per connection. The parser pauses at the
// end of each request; pipelined bytes wait (bounded) until the response has been fully queued,
// so responses go out in order. Request bodies stream through SHA-256 and are never buffered,
// except for an application endpoint (endpoints.h), which gets the first 64 KiB.
// Response bodies are written with backpressure on the libuv write queue.
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tools/demo_upstream/connection.h"
#include "tools/demo_upstream/server_state.h"

namespace demo {

Server gServer;
char gFiller[kFastChunkSize];
llhttp_settings_t gSettings;

namespace {

void onConnection(uv_stream_t* listener, int status) {
  if (status < 0 || gServer.stopping) {
    return;
  }
  auto* c = new Connection();
  if (!c->accept(listener)) {
    c->closeNow();
  }
}

void onSignal(uv_signal_t*, int) {
  if (gServer.stopping) {
    return;
  }
  gServer.stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.listener), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&gServer.sigint), nullptr);
  const std::vector<Connection*> all(gServer.connections.begin(), gServer.connections.end());
  for (Connection* c : all) {
    c->closeNow();
  }
}

void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --port N [--address A] [--service NAME] [--instance NAME] [--delay-ms N]\n"
          "          [--fail-status N] [--stream-bytes N] [--quiet] [--jwks-dir DIR]\n",
          argv0);
}

bool parseArgs(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool hasValue = false;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    if (arg == "--quiet") {
      opt.quiet = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      exit(0);
    }
    if (!hasValue) {
      if (i + 1 >= argc) {
        fprintf(stderr, "missing value for %s\n", arg.c_str());
        return false;
      }
      value = argv[++i];
    }
    if (arg == "--port") {
      auto v = parseUint(value, 65535);
      if (!v) {
        fprintf(stderr, "bad --port %s\n", value.c_str());
        return false;
      }
      opt.port = static_cast<int>(*v);
    } else if (arg == "--jwks-dir") {
      opt.jwksDir = value;
    } else if (arg == "--address") {
      opt.address = value;
    } else if (arg == "--service") {
      opt.service = value;
    } else if (arg == "--instance") {
      opt.instance = value;
    } else if (arg == "--delay-ms") {
      auto v = parseUint(value, kMaxDelayMs);
      if (!v) {
        fprintf(stderr, "bad --delay-ms %s\n", value.c_str());
        return false;
      }
      opt.delayMs = *v;
    } else if (arg == "--fail-status") {
      auto v = parseUint(value, 999);
      if (!v || *v < 200) {
        fprintf(stderr, "bad --fail-status %s (want 200..999)\n", value.c_str());
        return false;
      }
      opt.failStatus = static_cast<int>(*v);
    } else if (arg == "--stream-bytes") {
      auto v = parseUint(value, kMaxStreamBytes);
      if (!v) {
        fprintf(stderr, "bad --stream-bytes %s\n", value.c_str());
        return false;
      }
      opt.streamBytes = *v;
    } else {
      fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return false;
    }
  }
  if (opt.port < 0) {
    fprintf(stderr, "--port is required\n");
    return false;
  }
  return true;
}

void initSettings() {
  llhttp_settings_init(&gSettings);
  gSettings.on_message_begin = Connection::onMessageBegin;
  gSettings.on_url = Connection::onUrl;
  gSettings.on_header_field = Connection::onHeaderField;
  gSettings.on_header_value = Connection::onHeaderValue;
  gSettings.on_header_value_complete = Connection::onHeaderValueComplete;
  gSettings.on_headers_complete = Connection::onHeadersComplete;
  gSettings.on_body = Connection::onBody;
  gSettings.on_message_complete = Connection::onMessageComplete;
}

int run(int argc, char** argv) {
  Options& opt = gServer.options;
  if (!parseArgs(argc, argv, opt)) {
    usage(argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < sizeof(gFiller); ++i) {
    gFiller[i] = kFillerPattern[i % 64];
  }
  initSettings();

  gServer.loop = uv_default_loop();
  sockaddr_storage addr{};
  int rc = 0;
  if (opt.address.find(':') != std::string::npos) {
    rc = uv_ip6_addr(opt.address.c_str(), opt.port, reinterpret_cast<sockaddr_in6*>(&addr));
  } else {
    rc = uv_ip4_addr(opt.address.c_str(), opt.port, reinterpret_cast<sockaddr_in*>(&addr));
  }
  if (rc != 0) {
    fprintf(stderr, "bad --address %s: %s\n", opt.address.c_str(), uv_strerror(rc));
    return 2;
  }
  uv_tcp_init(gServer.loop, &gServer.listener);
  rc = uv_tcp_bind(&gServer.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&gServer.listener), 1024, onConnection);
  }
  if (rc != 0) {
    fprintf(stderr, "demo_upstream: cannot listen on %s:%d: %s\n", opt.address.c_str(), opt.port,
            uv_strerror(rc));
    return 1;
  }
  sockaddr_storage bound{};
  int boundLen = sizeof(bound);
  uv_tcp_getsockname(&gServer.listener, reinterpret_cast<sockaddr*>(&bound), &boundLen);
  const int port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (opt.instance.empty()) {
    opt.instance = opt.service + "-" + std::to_string(port);
  }

  uv_signal_init(gServer.loop, &gServer.sigterm);
  uv_signal_init(gServer.loop, &gServer.sigint);
  uv_signal_start(&gServer.sigterm, onSignal, SIGTERM);
  uv_signal_start(&gServer.sigint, onSignal, SIGINT);

  printf("demo_upstream %s/%s listening on %s:%d\n", opt.service.c_str(), opt.instance.c_str(),
         opt.address.c_str(), port);
  fflush(stdout);

  uv_run(gServer.loop, UV_RUN_DEFAULT);
  uv_loop_close(gServer.loop);
  return 0;
}

}  // namespace
}  // namespace demo

int main(int argc, char** argv) {
  return demo::run(argc, argv);
}
