// The retry budget's arithmetic and its slot accounting.
#include "catch2/catch.hpp"
#include "source/upstream/retry_budget.h"

namespace gw::upstream {
namespace {

TEST_CASE("budget: percentage of active requests with a floor", "[retry_budget]") {
  RetryBudget::Settings s{true, 20, 3};
  REQUIRE(RetryBudget::allows(s, 0, 0));
  REQUIRE(RetryBudget::allows(s, 0, 2));
  REQUIRE_FALSE(RetryBudget::allows(s, 0, 3));     // the floor: 3 in flight
  REQUIRE(RetryBudget::allows(s, 100, 19));        // 20% of 100 = 20
  REQUIRE_FALSE(RetryBudget::allows(s, 100, 20));
  REQUIRE_FALSE(RetryBudget::allows(s, 14, 3));    // 20% of 14 = 2 (floor), below the minimum 3
  REQUIRE(RetryBudget::allows(s, 1000, 199));
  REQUIRE_FALSE(RetryBudget::allows(s, 1000, 200));
}

TEST_CASE("without a configured budget only the floor applies", "[retry_budget]") {
  RetryBudget::Settings s;  // enabled = false
  REQUIRE(RetryBudget::allows(s, 1000000, 2));
  REQUIRE_FALSE(RetryBudget::allows(s, 1000000, 3));
}

TEST_CASE("slots are taken, refused and counted, and given back", "[retry_budget]") {
  RetryBudget b(RetryBudget::Settings{true, 50, 1});
  for (int i = 0; i < 4; i++) {
    b.requestStarted();
  }
  REQUIRE(b.tryStartRetry());  // 50% of 4 = 2
  REQUIRE(b.tryStartRetry());
  REQUIRE_FALSE(b.tryStartRetry());
  REQUIRE(b.rejected() == 1);
  REQUIRE(b.activeRetries() == 2);
  b.retryEnded();
  REQUIRE(b.tryStartRetry());
  b.retryEnded();
  b.retryEnded();
  REQUIRE(b.activeRetries() == 0);
}

} // namespace
} // namespace gw::upstream
