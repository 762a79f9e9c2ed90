#include "source/policy/quota_period.h"

#include "absl/time/civil_time.h"

namespace gw::policy {

QuotaPeriod quotaPeriodAt(absl::Time now, gateway::v1::UsagePlan::Quota::Period period,
                          const absl::TimeZone& tz) {
  using P = gateway::v1::UsagePlan::Quota;
  const absl::CivilDay today = absl::ToCivilDay(now, tz);
  absl::CivilDay first, next;
  switch (period) {
  case P::WEEK: {
    // absl::Weekday: monday = 0 ... sunday = 6.
    first = today - static_cast<int>(absl::GetWeekday(today));
    next = first + 7;
    break;
  }
  case P::MONTH: {
    const absl::CivilMonth m(today);
    first = absl::CivilDay(m);
    next = absl::CivilDay(m + 1);
    break;
  }
  default:
    first = today;
    next = today + 1;
    break;
  }
  return QuotaPeriod{absl::FromCivil(first, tz), absl::FromCivil(next, tz)};
}

QuotaPeriod cachedQuotaPeriodAt(absl::Time now, gateway::v1::UsagePlan::Quota::Period period,
                                const absl::TimeZone& tz) {
  struct Entry {
    gateway::v1::UsagePlan::Quota::Period period;
    absl::TimeZone tz;
    QuotaPeriod p;
  };
  thread_local Entry cache[4];
  thread_local unsigned next = 0;
  for (const Entry& e : cache) {
    if (e.period == period && e.tz == tz && e.p.start <= now && now < e.p.end) {
      return e.p;
    }
  }
  const QuotaPeriod p = quotaPeriodAt(now, period, tz);
  cache[next++ % 4] = Entry{period, tz, p};
  return p;
}

} // namespace gw::policy
