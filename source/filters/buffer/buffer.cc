// `buffer` (pre stage): asks the stream to read the whole request body, up to max_request_bytes,
// before the request is routed and sent upstream (BodyPolicy::buffer). It needs no hook: the
// stream collects the body, refuses a larger one with 413 payload_too_large, and sends the
// upstream the whole body with Content-Length. Stateless: one shared instance.
#include "absl/strings/str_cat.h"
#include "gateway/filters/buffer/v1/buffer.pb.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {

constexpr uint64_t kMaxBufferBytes = 64ull << 20;

class BufferFilter : public Filter {};

class BufferConfig : public FilterConfig {
public:
  explicit BufferConfig(uint64_t max) : max_(max) {}
  Filter* shared() const override { return &shared_; }
  BodyPolicy requestBody() const override { return BodyPolicy::buffer(max_); }
  std::string explain(ExplainContext&) const override {
    return absl::StrCat("read the whole request body (at most ", max_,
                        " bytes, else 413) before routing");
  }

private:
  uint64_t max_;
  mutable BufferFilter shared_;
};

class BufferFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "buffer"; }
  FilterKind kind() const override { return FilterKind::Stage; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return gateway::filters::buffer::v1::Buffer::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext&) const override {
    gateway::filters::buffer::v1::Buffer proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    if (proto.max_request_bytes() == 0) {
      return absl::InvalidArgumentError("max_request_bytes: required (1 .. 67108864)");
    }
    if (proto.max_request_bytes() > kMaxBufferBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_request_bytes: at most ", kMaxBufferBytes, " (64 MiB)"));
    }
    return FilterConfigConstSharedPtr(std::make_shared<BufferConfig>(proto.max_request_bytes()));
  }
};

const Register<BufferFactory> kRegister;

} // namespace
} // namespace gw::filters
