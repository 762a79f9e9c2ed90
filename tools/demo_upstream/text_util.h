#pragma once
// Small text helpers of the demo upstream: numbers, header names, JSON strings and status lines.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace demo {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A decimal number up to `max` (surrounding blanks allowed), else nullopt.
std::optional<uint64_t> parseUint(std::string_view s, uint64_t max);
std::string_view trim(std::string_view s);
bool equalsIgnoreCase(std::string_view a, std::string_view b);
// "1", "true" or "yes" (any case).
bool isTrue(std::string_view v);
// Appends `s` as a JSON string (quotes included); invalid UTF-8 bytes become \u00XX escapes.
void appendJsonString(std::string& out, std::string_view s);
// Appends a JSON object of the headers (name -> value; a repeated name keeps each occurrence).
void appendJsonObject(std::string& out, const HeaderList& headers);
const char* reasonPhrase(int status);
// "HTTP/1.1 <status> <reason>\r\n"
std::string statusLine(int status);
std::string toHex(uint64_t n);
// The value of the first header named `name` (any case), or nullptr.
const std::string* findHeader(const HeaderList& headers, std::string_view name);

} // namespace demo
