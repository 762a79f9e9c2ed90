#include <map>

#include "google/protobuf/util/json_util.h"
#include "source/filters/filter.h"

namespace gw::filters {
namespace {
std::map<std::string, std::unique_ptr<FilterFactory>, std::less<>>& registry() {
  static auto* r = new std::map<std::string, std::unique_ptr<FilterFactory>, std::less<>>();
  return *r;
}
} // namespace

std::string FilterConfig::explain(const http::RequestHead&) const {
  return "runs (no static decision)";
}

void FilterRegistry::add(std::unique_ptr<FilterFactory> factory) {
  std::string name(factory->name());
  registry()[name] = std::move(factory);
}

const FilterFactory* FilterRegistry::get(absl::string_view name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second.get();
}

std::vector<std::string> FilterRegistry::names() {
  std::vector<std::string> out;
  for (const auto& [name, _] : registry()) {
    out.push_back(name);
  }
  return out;
}

absl::Status structToMessage(const google::protobuf::Struct& s, google::protobuf::Message* out) {
  std::string json;
  auto st = google::protobuf::util::MessageToJsonString(s, &json);
  if (!st.ok()) {
    return absl::InvalidArgumentError(std::string(st.message()));
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  st = google::protobuf::util::JsonStringToMessage(json, out, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(std::string(st.message()));
  }
  return absl::OkStatus();
}

} // namespace gw::filters
