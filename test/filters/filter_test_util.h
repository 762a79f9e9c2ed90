#pragma once
// Helpers shared by the filter tests (test/filters/<name>/ and registry_test): configs from JSON
// through the registry, header values, filter stats by name, explain, and a ValidationContext
// with policy resources built from config YAML.

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/string_view.h"
#include "gateway/v1/config.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "source/config/config.h"
#include "source/filters/filter.h"
#include "source/filters/filter_stats.h"
#include "test/filters/fake_request_context.h"

namespace gw::filters::test {

inline google::protobuf::Struct toStruct(const std::string& json) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  INFO(json);
  REQUIRE(st.ok());
  return s;
}

// A ValidationContext that knows these cluster names (and nothing else).
inline ValidationContext clusters(std::initializer_list<const char*> names) {
  ValidationContext ctx;
  for (const char* n : names) {
    ctx.cluster_names.insert(n);
  }
  return ctx;
}

inline const FilterFactory& factory(const std::string& name) {
  const FilterFactory* f = FilterRegistry::get(name);
  INFO(name);
  REQUIRE(f != nullptr);
  return *f;
}

inline absl::StatusOr<FilterConfigConstSharedPtr>
create(const std::string& name, const std::string& json, const ValidationContext& ctx = {}) {
  return factory(name).createConfig(toStruct(json), ctx);
}

inline FilterConfigConstSharedPtr createOk(const std::string& name, const std::string& json,
                                           const ValidationContext& ctx = {}) {
  auto c = create(name, json, ctx);
  INFO(name << " " << json << " -> " << c.status().ToString());
  REQUIRE(c.ok());
  REQUIRE(*c != nullptr);
  return *c;
}

// The InvalidArgument message createConfig returns for `json`.
inline std::string createError(const std::string& name, const std::string& json,
                               const ValidationContext& ctx = {}) {
  auto c = create(name, json, ctx);
  INFO(name << " " << json);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

// Every value of `name` in `h`, in order.
inline std::vector<std::string> values(const HeaderMap& h, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : h.entries()) {
    if (n == name) {
      out.push_back(v);
    }
  }
  return out;
}

// The value of `name` in a list of (name, value) pairs (ErrorInfo::headers), or nullptr.
inline const std::string* header(const std::vector<std::pair<std::string, std::string>>& h,
                                 const std::string& name) {
  for (const auto& [n, v] : h) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

// Nothing was asked of the context that a plain header edit should not ask.
inline void checkNoSideEffects(const FakeRequestContext& ctx) {
  CHECK(ctx.responses.empty());
  CHECK(ctx.failures.empty());
  CHECK(ctx.resumes == 0);
  CHECK(ctx.timers.empty());
  CHECK(ctx.untouched());
}

// What `config` explains for `head`, with a fresh filter state.
inline std::string explain(const FilterConfig& config, http::RequestHead& head) {
  FilterState state;
  ExplainContext ctx{head, state};
  return config.explain(ctx);
}

// The slot of the filter counter `filter`.`name` (declared in the filter's .cc), found by name.
inline size_t statSlot(absl::string_view filter, absl::string_view name) {
  for (const auto& d : FilterStatsRegistry::all()) {
    if (d.filter == filter && d.name == name) {
      REQUIRE(d.kind == FilterStatDef::Kind::Counter);
      return d.first_slot;
    }
  }
  FAIL("no filter stat " << filter << "." << name);
  return 0;
}

// The value of the filter counter `filter`.`name` in the request's (fake) worker.
inline uint64_t counter(FakeRequestContext& ctx, absl::string_view filter, absl::string_view name) {
  return ctx.fakeWorker().stats.value(statSlot(filter, name));
}

// A config parsed from YAML (or JSON).
inline gateway::v1::Config parseConfigOk(const std::string& yaml) {
  auto c = config::parseConfig(yaml);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *c;
}

// A ValidationContext with the config's resources (auth_providers, rate_limit_policies) compiled
// as a serving proxy compiles them (rate-limit buckets allocated).
inline ValidationContext policyContext(const std::string& yaml) {
  ValidationContext ctx;
  auto errors = config::buildValidationContext(parseConfigOk(yaml), &ctx, /*serving=*/true);
  for (const auto& e : errors) {
    UNSCOPED_INFO(e.toString());
  }
  REQUIRE(errors.empty());
  return ctx;
}

} // namespace gw::filters::test
