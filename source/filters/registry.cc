// The filter registry: factories by name, filled by static Register<> objects.
#include <map>

#include "source/filters/filter.h"

namespace gw::filters {
namespace {
std::map<std::string, std::unique_ptr<FilterFactory>, std::less<>>& registry() {
  static auto* r = new std::map<std::string, std::unique_ptr<FilterFactory>, std::less<>>();
  return *r;
}
} // namespace

std::string FilterConfig::explain(ExplainContext&) const {
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

} // namespace gw::filters
