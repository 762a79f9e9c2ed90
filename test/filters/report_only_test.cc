// rejectOrReport (mode: report of the policy filters) and the labeled filter counters it counts
// in, rendered as /metrics shows them.
#include <catch2/catch.hpp>

#include "source/filters/filter_stats.h"
#include "source/filters/report_only.h"
#include "test/filters/fake_request_context.h"

namespace gw::filters {
namespace {

const FilterLabeledCounter kTestLabeled{"test_labels", "events", "Test events.", {"a", "b"}};

ErrorInfo forbidden() {
  return ErrorInfo::make(ErrorKind::Forbidden, "missing permission orders:write",
                         "permission_denied");
}

TEST_CASE("policy mode: enforce, report, or a config error naming the field", "[report_only]") {
  PolicyMode m = PolicyMode::Report;
  REQUIRE(parsePolicyMode("", &m).ok());
  CHECK(m == PolicyMode::Enforce);
  REQUIRE(parsePolicyMode("report", &m).ok());
  CHECK(m == PolicyMode::Report);
  REQUIRE(parsePolicyMode("enforce", &m).ok());
  CHECK(m == PolicyMode::Enforce);
  absl::Status st = parsePolicyMode("Report", &m);
  CHECK(st.message() == "mode: must be 'enforce' or 'report', not 'Report'");
}

TEST_CASE("enforce mode fails the request with the error", "[report_only]") {
  test::FakeRequestContext ctx;
  CHECK(rejectOrReport(ctx, PolicyMode::Enforce, "authz", forbidden()) ==
        FilterStatus::StopAndRespond);
  REQUIRE(ctx.failures.size() == 1);
  CHECK(ctx.failures[0].code == "permission_denied");
  CHECK(ctx.failures[0].status == 403);
  CHECK(ctx.filterState().get(kReportOnly) == nullptr);
}

TEST_CASE("report mode passes, notes the decision and counts it by filter, route, reason",
          "[report_only]") {
  test::FakeRequestContext ctx;
  CHECK(rejectOrReport(ctx, PolicyMode::Report, "authz", forbidden()) == FilterStatus::Continue);
  CHECK(rejectOrReport(ctx, PolicyMode::Report, "jwt_auth",
                       ErrorInfo::make(ErrorKind::Unauthenticated, "no token", "jwt_missing")) ==
        FilterStatus::Continue);
  CHECK(ctx.failures.empty());
  const ReportOnlyDecisions* d = ctx.filterState().get(kReportOnly);
  REQUIRE(d != nullptr);
  CHECK(d->describe() == "authz:permission_denied jwt_auth:jwt_missing");

  const std::string metrics = renderFilterStats({&ctx.worker().filterStats()});
  CHECK(metrics.find("# TYPE gateway_filter_policy_report_only_total counter\n") !=
        std::string::npos);
  CHECK(metrics.find("gateway_filter_policy_report_only_total{filter=\"authz\",route=\"users\","
                     "reason=\"permission_denied\"} 1\n") != std::string::npos);
  CHECK(metrics.find("gateway_filter_policy_report_only_total{filter=\"jwt_auth\",route=\"users\","
                     "reason=\"jwt_missing\"} 1\n") != std::string::npos);
}

TEST_CASE("labeled counters: summed over workers, label values escaped", "[report_only]") {
  test::FakeWorkerContext w1, w2;
  kTestLabeled.inc(w1, {"x", "y"});
  kTestLabeled.inc(w2, {"x", "y"}, 4);
  kTestLabeled.inc(w2, {"q\"uote\\", "new\nline"});
  kTestLabeled.inc(w1, {"only-a"});
  const std::string m = renderFilterStats({&w1.filterStats(), &w2.filterStats()});
  CHECK(m.find("gateway_filter_test_labels_events_total{a=\"x\",b=\"y\"} 5\n") !=
        std::string::npos);
  CHECK(m.find("gateway_filter_test_labels_events_total{a=\"q\\\"uote\\\\\",b=\"new\\nline\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("gateway_filter_test_labels_events_total{a=\"only-a\",b=\"\"} 1\n") !=
        std::string::npos);
}

} // namespace
} // namespace gw::filters
