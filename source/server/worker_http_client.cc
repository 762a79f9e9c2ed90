#include "source/server/worker_http_client.h"

#include "absl/strings/str_cat.h"
#include "source/event/timer.h"
#include "source/http/http1_codec.h"
#include "source/server/header_policy.h"
#include "source/server/upstream_request.h"
#include "source/server/worker.h"

namespace gw::server {

using filters::ErrorInfo;
using filters::ErrorKind;

class WorkerHttpClient::Call : public UpstreamRequestCallbacks, public DeferredDeletable {
public:
  Call(WorkerHttpClient& client, uint64_t id, filters::HttpRequest request,
       filters::HttpCallback cb)
      : client_(client), id_(id), request_(std::move(request)), cb_(std::move(cb)),
        upstream_(client.worker_, nullptr, *this),
        timer_(client.worker_.loop(), [this] { onTimer(); }) {}

  void start(absl::string_view cluster) {
    timer_.enable(request_.timeout);
    http::RequestHead head;  // for hash balancers: the call's own headers
    head.method = request_.method;
    head.headers = request_.headers;
    upstream_.start(cluster, head, "");
  }

  filters::HttpCallback takeCallback() { return std::move(cb_); }
  // Stops everything: no callback will run, the connection closes.
  void abort() {
    done_ = true;
    upstream_.release(false);
    timer_.disable();
  }

  // UpstreamRequestCallbacks
  void onUpstreamReady() override {
    std::string out;
    out.reserve(256 + request_.body.size());
    out.append(request_.method);
    out.push_back(' ');
    out.append(request_.path.empty() ? "/" : request_.path);
    out.append(" HTTP/1.1\r\n");
    http::appendHeaderLine(
        "host", request_.authority.empty() ? upstream_.hostAddress() : request_.authority, out);
    for (const auto& [name, value] : request_.headers.entries()) {
      if (isHopByHop(name) || name == "host" || name == "content-length") {
        continue;
      }
      http::appendHeaderLine(name, value, out);
    }
    const bool body_method =
        request_.method == "POST" || request_.method == "PUT" || request_.method == "PATCH";
    if (!request_.body.empty() || body_method) {
      http::appendHeaderLine("content-length", absl::StrCat(request_.body.size()), out);
    }
    out.append("\r\n");
    out.append(request_.body);
    upstream_.write(std::move(out));
  }
  void onUpstreamHead(http::ResponseHead&& head, bool informational) override {
    if (!informational && !done_) {
      result_.response.head = std::move(head);
      result_.response.head.reason.clear();
    }
  }
  void onUpstreamBody(absl::string_view data) override {
    if (done_) {
      return;
    }
    if (result_.response.body.size() + data.size() > request_.max_response_bytes) {
      finish(ErrorInfo::make(ErrorKind::ResponseTooLarge,
                             absl::StrCat("response body exceeds ", request_.max_response_bytes,
                                          " bytes")));
      return;
    }
    result_.response.body.append(data.data(), data.size());
  }
  void onUpstreamTrailers(HeaderMap&&) override {}
  void onUpstreamComplete() override {
    if (done_) {
      return;
    }
    done_ = true;
    timer_.disable();
    upstream_.release(true);
    result_.response.upstream_host = upstream_.hostAddress();
    client_.complete(id_, std::move(result_));
  }
  void onUpstreamError(ErrorInfo error, bool) override { finish(std::move(error)); }
  bool replayable() const override { return true; }  // the whole request is held here

private:
  void onTimer() {
    if (done_) {
      // An error found inside send() (no cluster, no host): delivered now, a loop turn later.
      client_.complete(id_, std::move(result_));
      return;
    }
    finish(ErrorInfo::make(ErrorKind::UpstreamTimeout,
                           absl::StrCat("no response within ", request_.timeout.count(), " ms")));
  }
  void finish(ErrorInfo error) {
    if (done_) {
      return;
    }
    done_ = true;
    upstream_.release(false);
    result_.failed = true;
    result_.error = std::move(error);
    if (!started_) {
      timer_.enable(std::chrono::milliseconds(0));  // never inside send()
      return;
    }
    timer_.disable();
    client_.complete(id_, std::move(result_));
  }

public:
  bool started_ = false;

private:
  WorkerHttpClient& client_;
  uint64_t id_;
  filters::HttpRequest request_;
  filters::HttpCallback cb_;
  filters::HttpResult result_;
  UpstreamRequest upstream_;
  event::Timer timer_;
  bool done_ = false;
};

WorkerHttpClient::WorkerHttpClient(Worker& worker) : worker_(worker) {}

WorkerHttpClient::~WorkerHttpClient() {
  for (auto& [id, call] : calls_) {
    call->abort();
  }
}

uint64_t WorkerHttpClient::send(absl::string_view cluster, filters::HttpRequest request,
                                filters::HttpCallback cb) {
  const uint64_t id = next_id_++;
  auto call = std::make_unique<Call>(*this, id, std::move(request), std::move(cb));
  Call* c = call.get();
  calls_.emplace(id, std::move(call));
  c->start(cluster);
  c->started_ = true;
  return id;
}

void WorkerHttpClient::cancel(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) {
    return;
  }
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  call->abort();
  worker_.deferDelete(std::move(call));  // we may be inside one of its connection's callbacks
}

void WorkerHttpClient::complete(uint64_t id, filters::HttpResult&& result) {
  auto it = calls_.find(id);
  if (it == calls_.end()) {
    return;
  }
  std::unique_ptr<Call> call = std::move(it->second);
  calls_.erase(it);
  filters::HttpCallback cb = call->takeCallback();
  worker_.deferDelete(std::move(call));
  if (cb) {
    cb(std::move(result));
  }
}

} // namespace gw::server
