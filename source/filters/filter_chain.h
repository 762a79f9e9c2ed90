#pragma once

#include <string>
#include <vector>

#include "source/filters/filter.h"

namespace gw::filters {

// The compiled filter chain of one route (listener defaults already applied). Immutable.
struct FilterChain {
  std::vector<FilterConfigConstSharedPtr> pre;
  FilterConfigConstSharedPtr route;
  std::vector<FilterConfigConstSharedPtr> post;
  std::vector<FilterConfigConstSharedPtr> error;
  std::vector<std::string> pre_names, post_names, error_names;
  std::string route_name;

  // Set by finalize(): what the stream does with each direction's body. The strongest mode any
  // filter asks for (Untouched < Stream < Buffer); with Buffer, the smallest Buffer limit.
  // The request side counts the pre filters and the route filter, the response side the filters
  // that see responses.
  BodyPolicy request_body;
  BodyPolicy response_body;
  // Some pre filter or the route filter gets the response hooks (seesResponse()).
  bool pre_sees_response = false;

  // Computes the derived fields above from the filter configs.
  void finalize();
};

} // namespace gw::filters
