// The buffer filter: its config and the body policy it declares (the stream does the rest; see
// test/server/stream_test.cc for the body read whole and sent with Content-Length).
#include <catch2/catch.hpp>

#include "test/filters/filter_test_util.h"

namespace gw::filters {
namespace {

using test::createError;
using test::createOk;

TEST_CASE("buffer: declares a buffered request body of its limit", "[filters][buffer]") {
  auto c = createOk("buffer", R"({"max_request_bytes": 65536})");
  CHECK(c->requestBody().mode == BodyPolicy::Mode::Buffer);
  CHECK(c->requestBody().max_bytes == 65536);
  CHECK(c->responseBody().mode == BodyPolicy::Mode::Untouched);
  CHECK_FALSE(c->seesResponse());
  REQUIRE(c->shared() != nullptr);  // stateless
  http::RequestHead head;
  CHECK(test::explain(*c, head) ==
        "read the whole request body (at most 65536 bytes, else 413) before routing");
}

TEST_CASE("buffer: the limit is required and bounded", "[filters][buffer]") {
  CHECK(createError("buffer", "{}") == "max_request_bytes: required (1 .. 67108864)");
  CHECK(createError("buffer", R"({"max_request_bytes": 67108865})") ==
        "max_request_bytes: at most 67108864 (64 MiB)");
  CHECK(createOk("buffer", R"({"max_request_bytes": 67108864})")->requestBody().max_bytes ==
        67108864);
  CHECK_THAT(createError("buffer", R"({"max_bytes": 1})"), Catch::Contains("max_bytes"));
}

} // namespace
} // namespace gw::filters
