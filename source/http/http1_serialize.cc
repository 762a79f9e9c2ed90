// HTTP/1.1 head and chunk serialization (declared in http1_codec.h).
#include <cstring>
#include <string>

#include "source/http/http1_codec.h"

namespace gw::http {

const char* reasonPhrase(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 103: return "Early Hints";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

void appendHeaderLine(absl::string_view name, absl::string_view value, std::string& out) {
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}
namespace {
void appendHeaders(const HeaderMap& headers, std::string& out) {
  for (const auto& [name, value] : headers.entries()) {
    appendHeaderLine(name, value, out);
  }
  out.append("\r\n");
}
} // namespace

void serializeRequestHead(const RequestHead& head, absl::string_view path_and_query,
                          std::string& out) {
  out.append(head.method);
  out.push_back(' ');
  out.append(path_and_query.data(), path_and_query.size());
  out.append(" HTTP/1.1\r\n");
  appendHeaders(head.headers, out);
}

void serializeResponseHead(const ResponseHead& head, std::string& out) {
  const int s = head.status >= 100 && head.status <= 999 ? head.status : 500;
  const char status[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ',
                         static_cast<char>('0' + s / 100), static_cast<char>('0' + s / 10 % 10),
                         static_cast<char>('0' + s % 10), ' '};
  out.append(status, sizeof(status));
  out.append(head.reason.empty() ? reasonPhrase(head.status) : head.reason);
  out.append("\r\n");
  appendHeaders(head.headers, out);
}

void appendChunk(absl::string_view data, std::string& out) {
  if (data.empty()) {
    return;
  }
  char size[24];
  int n = snprintf(size, sizeof(size), "%zx\r\n", data.size());
  out.append(size, n);
  out.append(data.data(), data.size());
  out.append("\r\n");
}

void appendLastChunk(const HeaderMap* trailers, std::string& out) {
  out.append("0\r\n");
  if (trailers != nullptr) {
    for (const auto& [name, value] : trailers->entries()) {
      out.append(name);
      out.append(": ");
      out.append(value);
      out.append("\r\n");
    }
  }
  out.append("\r\n");
}

} // namespace gw::http
