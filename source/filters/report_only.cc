#include "source/filters/report_only.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/router/route_table.h"

namespace gw::filters {
namespace {

const FilterLabeledCounter kReportOnlyCount{
    "policy", "report_only",
    "Rejections a policy filter in mode: report let pass, by filter, route and reason.",
    {"filter", "route", "reason"}};

} // namespace

absl::Status parsePolicyMode(absl::string_view text, PolicyMode* out) {
  if (text.empty() || text == "enforce") {
    *out = PolicyMode::Enforce;
    return absl::OkStatus();
  }
  if (text == "report") {
    *out = PolicyMode::Report;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("mode: must be 'enforce' or 'report', not '", text, "'"));
}

std::string ReportOnlyDecisions::describe() const { return absl::StrJoin(entries, " "); }

FilterStatus rejectOrReport(RequestContext& ctx, PolicyMode mode, absl::string_view filter,
                            ErrorInfo e) {
  if (mode == PolicyMode::Enforce) {
    ctx.fail(std::move(e));
    return FilterStatus::StopAndRespond;
  }
  const router::RouteEntry* route = ctx.route();
  kReportOnlyCount.inc(ctx.worker(), {filter, route != nullptr ? route->name() : "", e.code});
  ReportOnlyDecisions* d = ctx.filterState().get(kReportOnly);
  if (d == nullptr) {
    d = &ctx.filterState().emplace(kReportOnly);
  }
  d->entries.push_back(absl::StrCat(filter, ":", e.code));
  return FilterStatus::Continue;
}

} // namespace gw::filters
