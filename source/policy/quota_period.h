#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "gateway/v1/config.pb.h"

namespace gw::policy {

// The quota period that contains a moment: [start, end) in the plan's time zone. Days start at
// local midnight, weeks on Monday at local midnight, months on the 1st at local midnight; across
// a DST change a day is 23 or 25 hours long, as the clocks on the wall say.
struct QuotaPeriod {
  absl::Time start;
  absl::Time end;
  int64_t startUnix() const { return absl::ToUnixSeconds(start); }
  int64_t secondsLeft(absl::Time now) const {
    return absl::ToInt64Seconds(absl::Ceil(end - now, absl::Seconds(1)));
  }
};

QuotaPeriod quotaPeriodAt(absl::Time now, gateway::v1::UsagePlan::Quota::Period period,
                          const absl::TimeZone& tz);

// quotaPeriodAt through a small per-thread cache: a period that contains `now` is answered
// without the civil-time conversions (the request path asks for the same few periods all day).
QuotaPeriod cachedQuotaPeriodAt(absl::Time now, gateway::v1::UsagePlan::Quota::Period period,
                                const absl::TimeZone& tz);

} // namespace gw::policy
