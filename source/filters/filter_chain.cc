#include "source/filters/filter_chain.h"

#include <algorithm>

namespace gw::filters {
namespace {

// Folds `p` into `into`: the stronger mode wins; Buffer keeps the smallest limit.
void combine(BodyPolicy& into, const BodyPolicy& p) {
  using M = BodyPolicy::Mode;
  if (p.mode == M::Buffer) {
    into.max_bytes = into.mode == M::Buffer ? std::min(into.max_bytes, p.max_bytes) : p.max_bytes;
    into.mode = M::Buffer;
  } else if (p.mode == M::Stream && into.mode == M::Untouched) {
    into.mode = M::Stream;
  }
}

} // namespace

void FilterChain::finalize() {
  request_body = {};
  response_body = {};
  pre_sees_response = false;
  for (const auto& c : pre) {
    combine(request_body, c->requestBody());
    if (c->seesResponse()) {
      pre_sees_response = true;
      combine(response_body, c->responseBody());
    }
  }
  if (route != nullptr) {
    combine(request_body, route->requestBody());
    if (route->seesResponse()) {
      pre_sees_response = true;
      combine(response_body, route->responseBody());
    }
  }
  for (const auto& c : post) {
    combine(response_body, c->responseBody());
  }
}

} // namespace gw::filters
