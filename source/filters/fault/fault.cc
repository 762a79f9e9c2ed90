// `fault`: delays and/or aborts a share of requests. The delay is asynchronous: the filter returns
// Pause, a timer of the request (RequestContext::runAfter, cancelled if the request ends first)
// fires on the worker loop, and the chain resumes or aborts through the request's handle.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/fault/v1/fault.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

const FilterCounter kDelayed{"fault", "delayed", "Requests delayed by fault injection."};
const FilterCounter kAborted{"fault", "aborted", "Requests aborted by fault injection."};

uint32_t percentRoll() {
  thread_local uint64_t state = 0x2545F4914F6CDD1DULL ^ reinterpret_cast<uintptr_t>(&state);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<uint32_t>(state % 100);
}

struct FaultSettings {
  uint32_t delay_ms = 0;
  uint32_t delay_percent = 0;
  uint32_t abort_status = 0;
  uint32_t abort_percent = 0;
  std::string header;
};

class FaultFilter : public Filter {
public:
  explicit FaultFilter(const FaultSettings& s) : s_(s) {}

  FilterStatus onRequestHeaders(RequestContext& ctx) override {
    if (!s_.header.empty() && !ctx.request().headers.has(s_.header)) {
      return FilterStatus::Continue;
    }
    const bool abort = s_.abort_status != 0 && percentRoll() < s_.abort_percent;
    const bool delay = s_.delay_ms != 0 && percentRoll() < s_.delay_percent;
    if (!delay) {
      return abort ? doAbort(ctx) : FilterStatus::Continue;
    }
    kDelayed.inc(ctx.worker());
    const uint32_t status = abort ? s_.abort_status : 0;
    ctx.runAfter(std::chrono::milliseconds(s_.delay_ms), [h = ctx.handle(), status] {
      RequestContext* c = h.context();
      if (c == nullptr) {
        return;  // the request ended during the delay
      }
      if (status != 0) {
        kAborted.inc(c->worker());  // counted when the abort happens
        c->fail(abortError(status));
      } else {
        c->resume();
      }
    });
    return FilterStatus::Pause;
  }

private:
  static ErrorInfo abortError(uint32_t status) {
    return ErrorInfo::make(ErrorKind::FilterAbort, "fault injected by the gateway", {},
                           static_cast<int>(status));
  }
  FilterStatus doAbort(RequestContext& ctx) {
    kAborted.inc(ctx.worker());
    ctx.fail(abortError(s_.abort_status));
    return FilterStatus::StopAndRespond;
  }

  const FaultSettings& s_;
};

class FaultConfig : public FilterConfig {
public:
  explicit FaultConfig(FaultSettings s) : s_(std::move(s)) {}
  Filter* shared() const override { return &shared_; }
  // "delay 200 ms for 10% of requests carrying x-chaos; abort 503 for 1%".
  std::string explain(ExplainContext& ctx) const override {
    if (!s_.header.empty() && !ctx.head.headers.has(s_.header)) {
      return absl::StrCat("continue (no ", s_.header, " header; faults apply only to requests "
                          "carrying it)");
    }
    const std::string who =
        s_.header.empty() ? "of requests" : absl::StrCat("of requests carrying ", s_.header);
    std::string out;
    if (s_.delay_ms != 0) {
      out = absl::StrCat("delay ", s_.delay_ms, " ms for ", s_.delay_percent, "% ", who);
    }
    if (s_.abort_status != 0) {
      absl::StrAppend(&out, out.empty() ? "" : "; ", "abort ", s_.abort_status, " for ",
                      s_.abort_percent, "%", out.empty() ? " " + who : "");
    }
    return out;
  }

private:
  FaultSettings s_;
  mutable FaultFilter shared_{s_};  // stateless (thread-local dice): one instance for all requests
};

class FaultFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "fault"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::fault::v1::Fault::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::fault::v1::Fault proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    FaultSettings s;
    s.delay_ms = proto.delay_ms();
    s.delay_percent = proto.delay_percent() == 0 ? 100 : proto.delay_percent();
    s.abort_status = proto.abort_status();
    s.abort_percent = proto.abort_percent() == 0 ? 100 : proto.abort_percent();
    s.header = absl::AsciiStrToLower(proto.header());
    if (proto.delay_percent() > 100) {
      return absl::InvalidArgumentError("delay_percent: must be 0..100");
    }
    if (proto.abort_percent() > 100) {
      return absl::InvalidArgumentError("abort_percent: must be 0..100");
    }
    if (s.abort_status != 0 && (s.abort_status < 200 || s.abort_status > 599)) {
      return absl::InvalidArgumentError("abort_status: must be 200..599");
    }
    if (s.delay_ms > 3600 * 1000) {
      return absl::InvalidArgumentError("delay_ms: must be at most one hour");
    }
    if (s.delay_ms == 0 && s.abort_status == 0) {
      return absl::InvalidArgumentError("delay_ms: set delay_ms and/or abort_status");
    }
    return FilterConfigConstSharedPtr(std::make_shared<FaultConfig>(std::move(s)));
  }
};

const Register<FaultFactory> kRegister;

} // namespace
} // namespace gw::filters
