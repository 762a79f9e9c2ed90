// The demo upstream's responses: the echo JSON (or filler, statuses, delays, resets, trailers
// as the x-demo-* controls ask), /__stats and the application endpoints (endpoints.h).
#include "tools/demo_upstream/connection.h"
#include "tools/demo_upstream/jwks_endpoint.h"

namespace demo {

void Connection::startResponse() {
  responding_ = true;
  keepAlive_ = req_.keepAlive;
  if (req_.webSocket) {
    startWebSocket();  // connection.cc
    return;
  }
  if (req_.isStats) {
    sendStats();
    return;
  }
  if (req_.earlyHints && !req_.reset && !req_.isHttp10()) {
    if (!write("HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n")) {
      return;
    }
  }
  const uint64_t delay = req_.delayMs.value_or(gServer.options.delayMs);
  if (delay > 0) {
    startTimer(TimerUse::Delay, delay);
    return;
  }
  sendFinal();
}

void Connection::startTimer(TimerUse use, uint64_t ms) {
  timerUse_ = use;
  // libuv measures timeouts from the loop's cached time, taken when this iteration began; a
  // request parsed late in a busy iteration would otherwise be answered up to that much early
  // (a 150 ms delay measured at 149 ms by the proxy).
  uv_update_time(uv_handle_get_loop(reinterpret_cast<uv_handle_t*>(&timer_)));
  uv_timer_start(&timer_, onTimerCb, ms, 0);
}

void Connection::onTimer() {
  const TimerUse use = timerUse_;
  timerUse_ = TimerUse::None;
  if (closed_) {
    return;
  }
  switch (use) {
    case TimerUse::Delay: sendFinal(); break;
    case TimerUse::SlowBody: pump(); break;
    case TimerUse::Linger: closeNow(); break;
    case TimerUse::None: break;
  }
}

std::string Connection::buildJson() const {
  std::string out;
  out.reserve(512 + req_.headerBytes * 2);
  out += "{\"service\":";
  appendJsonString(out, gServer.options.service);
  out += ",\"instance\":";
  appendJsonString(out, gServer.options.instance);
  out += ",\"method\":";
  appendJsonString(out, req_.method);
  out += ",\"path\":";
  appendJsonString(out, req_.path());
  out += ",\"query\":";
  appendJsonString(out, req_.query());
  out += ",\"headers\":";
  appendJsonObject(out, req_.headers);
  out += ",\"body_bytes\":";
  out += std::to_string(req_.bodyBytes);
  out += ",\"body_sha256\":";
  appendJsonString(out, req_.bodySha256);
  out += ",\"http_version\":";
  appendJsonString(out,
                   std::to_string(req_.versionMajor) + "." + std::to_string(req_.versionMinor));
  out += ",\"trailers\":";
  appendJsonObject(out, req_.trailers);
  out += "}";
  return out;
}


// An application endpoint's answer (endpoints.h), after any x-demo-delay-ms.
void Connection::sendEndpoint() {
  const EndpointRequest er{req_.method, req_.path(), req_.query(), req_.headers, req_.endpointBody,
                           gServer.options.service, gServer.options.instance};
  EndpointResponse r = req_.endpoint(er);
  if (r.hang) {
    return;  // never answered: the connection stays open until the client gives up
  }
  if (req_.status != 0) {
    r.status = req_.status;  // x-demo-status
  }
  std::string out = statusLine(r.status);
  out += "content-type: " + r.content_type + "\r\ncontent-length: " + std::to_string(r.body.size());
  for (const auto& [name, value] : r.headers) {
    out += "\r\n" + name + ": " + value;
  }
  out += keepAlive_ ? "\r\n\r\n" : "\r\nconnection: close\r\n\r\n";
  if (!req_.isHead) {
    out += r.body;
  }
  if (!gServer.options.quiet) {
    fprintf(stderr, "demo_upstream %s: %s %s -> %d\n", gServer.options.instance.c_str(),
            req_.method.c_str(), req_.url.c_str(), r.status);
  }
  if (write(std::move(out))) {
    finishResponse();
  }
}

void Connection::sendStats() {
  const Stats& s = gServer.stats;
  std::string body = "{\"requests\":" + std::to_string(s.requests) +
                     ",\"connections_accepted\":" + std::to_string(s.connectionsAccepted) +
                     ",\"active_connections\":" + std::to_string(s.activeConnections) + "}";
  std::string out = statusLine(200);
  out += "content-type: application/json\r\ncontent-length: ";
  out += std::to_string(body.size());
  out += "\r\nx-demo-instance: ";
  out += gServer.options.instance;
  if (!keepAlive_) {
    out += "\r\nconnection: close";
  } else if (req_.isHttp10()) {
    out += "\r\nconnection: keep-alive";
  }
  out += "\r\n\r\n";
  if (!req_.isHead) {
    out += body;
  }
  if (write(std::move(out))) {
    finishResponse();
  }
}

void Connection::sendFinal() {
  if (req_.endpoint != nullptr && !req_.reset) {
    sendEndpoint();
    return;
  }
  if (req_.reset) {
    if (!gServer.options.quiet) {
      fprintf(stderr, "demo_upstream %s: %s %s -> reset\n", gServer.options.instance.c_str(),
              req_.method.c_str(), req_.url.c_str());
    }
    resetNow();
    return;
  }
  const Options& opt = gServer.options;
  const bool healthz = req_.path() == "/healthz";
  int jwksStatus = 0;
  std::string jwksBody;
  const bool jwks = demo::serveJwks(opt.jwksDir, req_.path(), jwksStatus, jwksBody);
  const int status = jwks ? jwksStatus
                          : req_.status != 0 ? req_.status
                                             : (opt.failStatus != 0 ? opt.failStatus : 200);
  const bool bodyAllowed = status != 204 && status != 304;

  enum class Kind { Fixed, Stream };
  Kind kind = Kind::Fixed;
  uint64_t streamBytes = 0;
  bool chunked = false;
  std::string body;
  const char* contentType = "application/json";
  if (req_.chunkedStreamBytes) {
    kind = Kind::Stream;
    streamBytes = *req_.chunkedStreamBytes;
    chunked = true;
  } else if (req_.lengthStreamBytes) {
    kind = Kind::Stream;
    streamBytes = *req_.lengthStreamBytes;
  } else if (jwks) {
    body = std::move(jwksBody);
  } else if (healthz) {
    body = status == 200 ? "ok" : "unhealthy";
    contentType = "text/plain";
  } else if (opt.streamBytes) {
    kind = Kind::Stream;
    streamBytes = *opt.streamBytes;
  } else {
    body = buildJson();
  }
  if (kind == Kind::Stream) {
    contentType = "application/octet-stream";
  }
  if (req_.trailersWanted) {
    chunked = true;
  }
  if (req_.isHttp10()) {
    chunked = false;  // HTTP/1.0 clients do not understand chunked framing.
  }
  if (!bodyAllowed) {
    kind = Kind::Fixed;
    body.clear();
    chunked = false;
  }
  const bool trailers = chunked && req_.trailersWanted;

  std::string out = statusLine(status);
  if (bodyAllowed) {
    out += "content-type: ";
    out += contentType;
    if (chunked) {
      out += "\r\ntransfer-encoding: chunked";
    } else {
      out += "\r\ncontent-length: ";
      out += std::to_string(kind == Kind::Stream ? streamBytes : body.size());
    }
    out += "\r\n";
  }
  if (trailers) {
    out += "trailer: x-demo-trailer\r\n";
  }
  out += "x-demo-instance: ";
  out += opt.instance;
  out += "\r\n";
  for (const auto& [name, value] : req_.extraHeaders) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!keepAlive_) {
    out += "connection: close\r\n";
  } else if (req_.isHttp10()) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";

  if (!opt.quiet) {
    fprintf(stderr, "demo_upstream %s: %s %s -> %d\n", opt.instance.c_str(), req_.method.c_str(),
            req_.url.c_str(), status);
  }
  if (req_.resetAfterHeaders) {
    write(std::move(out), /*resetAfter=*/true);
    return;
  }
  const bool sendBody = bodyAllowed && !req_.isHead;
  if (kind == Kind::Fixed) {
    if (sendBody) {
      if (chunked) {
        if (!body.empty()) {
          out += toHex(body.size());
          out += "\r\n";
          out += body;
          out += "\r\n";
        }
        out += trailers ? "0\r\nx-demo-trailer: yes\r\n\r\n" : "0\r\n\r\n";
      } else {
        out += body;
      }
    }
    if (write(std::move(out))) {
      finishResponse();
    }
    return;
  }
  if (!write(std::move(out))) {
    return;
  }
  if (!sendBody) {
    finishResponse();
    return;
  }
  streamRemaining_ = streamBytes;
  streamChunked_ = chunked;
  streamTrailers_ = trailers;
  slowMs_ = req_.slowBodyMs;
  chunkSize_ = slowMs_ > 0 ? kSlowChunkSize : kFastChunkSize;
  pump();
}

// Writes filler while the write queue is short; resumed by write completions and the slow-body
// timer.
} // namespace demo
