// `test_probe` (test-only pre filter): for every request, one Redis command (INCR key) and one
// call to a cluster, in parallel, both on the request's worker loop; the request goes on once both
// answered, carrying x-probe-count (the counter) and x-probe-status (the call's status) to the
// upstream. A Redis failure answers 503 `unavailable`, a failed call the call's own error. When
// the request ends first (client gone, timeout), onDestroy cancels whatever is still in flight.
// docs/writing-a-filter.md walks through this file.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "source/filters/filter.h"
#include "source/redis/redis_client.h"
#include "test/filters/probe/probe.pb.h"

namespace gw::filters {
namespace {

const FilterCounter kRedisOk{"test_probe", "redis_ok", "Redis commands answered."};
const FilterCounter kRedisFailed{"test_probe", "redis_failed",
                                 "Redis commands failed (down, timeout, queue full)."};
const FilterCounter kCancelled{"test_probe", "cancelled",
                               "Requests that ended with a Redis command or a call in flight."};
const FilterHistogram kCallMs{"test_probe", "call_ms", "Time to the cluster call's answer.",
                              {1, 5, 25, 100, 500, 2000}};

struct ProbeSettings {
  std::string redis, key, cluster, path;
  uint32_t call_delay_ms = 0;
  uint32_t timeout_ms = 2000;
};

// One per request: it holds what the request has in flight.
class ProbeFilter : public Filter {
public:
  explicit ProbeFilter(const ProbeSettings& s) : s_(s) {}

  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    redis_ = ctx.worker().redis(s_.redis);  // held while the command is in flight
    if (redis_ == nullptr) {
      // The request's config names a server the worker's newer config has dropped.
      ctx.fail(ErrorInfo::make(ErrorKind::Unavailable,
                               absl::StrCat("redis '", s_.redis, "' is not configured")));
      return FilterStatus::StopAndRespond;
    }
    http_ = &ctx.worker().httpClient();
    started_ms_ = ctx.elapsedMs();
    // Every completion goes through the handle: a no-op once the request has ended.
    RequestHandle h = ctx.handle();
    redis_id_ = redis_->command({"INCR", s_.key}, [this, h](absl::StatusOr<redis::RedisReply> r) {
      RequestContext* c = h.context();
      if (c == nullptr) {
        return;
      }
      redis_id_ = 0;
      if (!r.ok()) {
        kRedisFailed.inc(c->worker());
        c->fail(ErrorInfo::make(ErrorKind::Unavailable,
                                absl::StrCat("redis '", s_.redis, "': ", r.status().message())));
        return;
      }
      kRedisOk.inc(c->worker());
      count_ = r->type == redis::RedisReply::Type::Integer ? absl::StrCat(r->integer) : r->str;
      maybeContinue(*c);
    });
    HttpRequest call;
    call.path = s_.path;
    call.timeout = std::chrono::milliseconds(s_.timeout_ms);
    if (s_.call_delay_ms > 0) {
      call.headers.add("x-demo-delay-ms", absl::StrCat(s_.call_delay_ms));
    }
    call_id_ = http_->send(s_.cluster, std::move(call), [this, h](HttpResult&& r) {
      RequestContext* c = h.context();
      if (c == nullptr) {
        return;
      }
      call_id_ = 0;
      kCallMs.record(c->worker(), static_cast<uint64_t>(c->elapsedMs() - started_ms_));
      if (!r.ok()) {
        c->fail(std::move(r.error));
        return;
      }
      status_ = absl::StrCat(r.response.head.status);
      maybeContinue(*c);
    });
    return FilterStatus::Pause;
  }

  // The request ended (for any reason): nothing of ours may run after this.
  void onDestroy(RequestContext& ctx) override {
    if (redis_id_ != 0 || call_id_ != 0) {
      kCancelled.inc(ctx.worker());
    }
    if (redis_id_ != 0) {
      redis_->cancel(redis_id_);
    }
    if (call_id_ != 0) {
      http_->cancel(call_id_);
    }
  }

private:
  void maybeContinue(RequestContext& ctx) {
    if (redis_id_ != 0 || call_id_ != 0) {
      return;  // the other one is still out
    }
    ctx.request().headers.set("x-probe-count", count_);
    ctx.request().headers.set("x-probe-status", status_);
    ctx.resume();
  }

  const ProbeSettings& s_;
  std::shared_ptr<redis::RedisClient> redis_;
  HttpClient* http_ = nullptr;
  uint64_t redis_id_ = 0;
  uint64_t call_id_ = 0;
  int64_t started_ms_ = 0;
  std::string count_, status_;
};

class ProbeConfig : public FilterConfig {
public:
  explicit ProbeConfig(ProbeSettings s) : s_(std::move(s)) {}
  FilterPtr create() const override { return std::make_unique<ProbeFilter>(s_); }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("INCR ", s_.key, " on redis '", s_.redis, "' and GET ", s_.path,
                        " from cluster '", s_.cluster, "'");
  }

private:
  ProbeSettings s_;
};

class ProbeFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "test_probe"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::test::probe::v1::Probe::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    gateway::test::probe::v1::Probe proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    if (!ctx.redis_server_names.contains(proto.redis())) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis: unknown redis server '", proto.redis(), "'"));
    }
    if (!ctx.cluster_names.contains(proto.cluster())) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster: unknown cluster '", proto.cluster(), "'"));
    }
    ProbeSettings s;
    s.redis = proto.redis();
    s.key = proto.key().empty() ? "probe" : proto.key();
    s.cluster = proto.cluster();
    s.path = proto.path().empty() ? "/probe" : proto.path();
    s.call_delay_ms = proto.call_delay_ms();
    s.timeout_ms = proto.timeout_ms() == 0 ? 2000 : proto.timeout_ms();
    return FilterConfigConstSharedPtr(std::make_shared<ProbeConfig>(std::move(s)));
  }
};

const Register<ProbeFactory> kRegister;

} // namespace
} // namespace gw::filters
