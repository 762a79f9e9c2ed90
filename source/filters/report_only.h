#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "source/filters/filter.h"

namespace gw::filters {

// `mode` of the policy filters (jwt_auth, authz, api_key_auth, oauth2_introspection): enforce
// (the default) rejects; report lets the request pass and records what would have been rejected,
// so a policy can be rolled out and watched before it bites.
enum class PolicyMode { Enforce, Report };

// "" and "enforce" -> Enforce, "report" -> Report; anything else is an error worded for the
// config ("mode: must be 'enforce' or 'report', not 'x'").
absl::Status parsePolicyMode(absl::string_view text, PolicyMode* out);

// The would-be rejections of a request in report mode, in the order they happened. The access
// log shows them under "filter_state": {"report_only": "authz:permission_denied ..."}.
struct ReportOnlyDecisions : FilterStateObject {
  std::vector<std::string> entries;  // "<filter>:<error code>"
  std::string describe() const override;
};
inline constexpr FilterStateKey<ReportOnlyDecisions> kReportOnly{"report_only"};

// Enforce: ctx.fail(e) and StopAndRespond. Report: the rejection is not sent; it is counted in
// gateway_filter_policy_report_only_total{filter, route, reason=e.code}, noted in the request's
// filter state (kReportOnly), and Continue is returned, so the filter returns this value as it is:
//
//   return rejectOrReport(ctx, config_.mode, "authz", std::move(error));
FilterStatus rejectOrReport(RequestContext& ctx, PolicyMode mode, absl::string_view filter,
                            ErrorInfo e);

} // namespace gw::filters
