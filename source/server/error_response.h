#pragma once

#include <string>

#include "source/filters/filter.h"

namespace gw::server {

// The one place an error becomes a response body:
// {"error": "<code>", "message": "...", "status": 404, "request_id": "..."}
std::string errorBody(const filters::ErrorInfo& error, absl::string_view request_id);

} // namespace gw::server
