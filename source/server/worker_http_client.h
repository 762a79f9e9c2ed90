#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "source/filters/http_client.h"

namespace gw::server {

class Worker;

// The worker's filters::HttpClient: each call is an UpstreamRequest (the same balancer, pools and
// reused-connection retry as proxied requests) whose response is collected up to the call's
// max_response_bytes. A timer bounds the whole call. Loop thread only.
class WorkerHttpClient : public filters::HttpClient {
public:
  explicit WorkerHttpClient(Worker& worker);
  ~WorkerHttpClient() override;
  uint64_t send(absl::string_view cluster, filters::HttpRequest request,
                filters::HttpCallback cb) override;
  void cancel(uint64_t id) override;
  size_t inFlight() const override { return calls_.size(); }

private:
  class Call;
  // The call is over: removes it, then runs its callback (unless cancelled).
  void complete(uint64_t id, filters::HttpResult&& result);

  Worker& worker_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Call>> calls_;
  uint64_t next_id_ = 1;
};

} // namespace gw::server
