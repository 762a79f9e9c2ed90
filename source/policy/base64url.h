#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace gw::policy {

// Unpadded base64url (RFC 4648 section 5), as JWS compact serialization uses it (RFC 7515
// section 2: no '=' padding). Strict: any byte outside the alphabet, '=' padding, a length of
// 4n+1, or non-zero unused trailing bits fail. `out` is overwritten (its capacity is reused, so a
// thread_local buffer makes decoding allocation-free once warm).
bool base64UrlDecode(absl::string_view in, std::string& out);
void base64UrlEncode(absl::string_view in, std::string& out);

} // namespace gw::policy
