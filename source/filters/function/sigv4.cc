#include "source/filters/function/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "source/common/percent.h"

namespace gw::filters::sigv4 {

namespace {




// Trims and collapses runs of spaces (SigV4's header value rule).
std::string trimAll(absl::string_view v) {
  v = absl::StripAsciiWhitespace(v);
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out.push_back(' ');
    }
    space = false;
    out.push_back(c);
  }
  return out;
}

} // namespace

std::string Scope::toString() const {
  return absl::StrCat(date, "/", region, "/", service, "/aws4_request");
}

std::string hex(absl::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string sha256Hex(absl::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(absl::string_view(reinterpret_cast<const char*>(md), sizeof(md)));
}

std::string hmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}


std::string canonicalUri(absl::string_view path) {
  std::vector<absl::string_view> out;
  for (absl::string_view seg : absl::StrSplit(path, '/')) {
    if (seg.empty() || seg == ".") {
      continue;
    }
    if (seg == "..") {
      if (!out.empty()) {
        out.pop_back();
      }
      continue;
    }
    out.push_back(seg);
  }
  std::string uri = "/";
  for (size_t i = 0; i < out.size(); i++) {
    absl::StrAppend(&uri, gw::percentEncode(out[i]));
    if (i + 1 < out.size()) {
      uri.push_back('/');
    }
  }
  // A trailing slash (or a path ending in "/." or "/..") stays a trailing slash.
  if (!out.empty() && (absl::EndsWith(path, "/") || absl::EndsWith(path, "/.") ||
                       absl::EndsWith(path, "/.."))) {
    uri.push_back('/');
  }
  return uri;
}

std::string canonicalQuery(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view p : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = p.find('=');
    absl::string_view k = eq == absl::string_view::npos ? p : p.substr(0, eq);
    absl::string_view v = eq == absl::string_view::npos ? absl::string_view() : p.substr(eq + 1);
    params.emplace_back(gw::percentEncode(gw::percentDecode(k)),
                        gw::percentEncode(gw::percentDecode(v)));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (size_t i = 0; i < params.size(); i++) {
    absl::StrAppend(&out, i == 0 ? "" : "&", params[i].first, "=", params[i].second);
  }
  return out;
}

std::string canonicalRequest(const Request& r, std::string* signed_headers) {
  // name -> values in order; names sorted.
  std::vector<std::pair<std::string, std::string>> hs;
  for (const auto& [name, value] : r.headers) {
    std::string n = absl::AsciiStrToLower(name);
    std::string v = trimAll(value);
    auto it = std::find_if(hs.begin(), hs.end(), [&](const auto& e) { return e.first == n; });
    if (it == hs.end()) {
      hs.emplace_back(std::move(n), std::move(v));
    } else {
      absl::StrAppend(&it->second, ",", v);
    }
  }
  std::sort(hs.begin(), hs.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string names;
  for (const auto& [n, v] : hs) {
    absl::StrAppend(&canonical_headers, n, ":", v, "\n");
    absl::StrAppend(&names, names.empty() ? "" : ";", n);
  }
  std::string out = absl::StrCat(r.method, "\n", canonicalUri(r.path), "\n",
                                 canonicalQuery(r.query), "\n", canonical_headers, "\n", names,
                                 "\n", sha256Hex(r.body));
  if (signed_headers != nullptr) {
    *signed_headers = std::move(names);
  }
  return out;
}

std::string stringToSign(absl::string_view amz_date, const Scope& scope,
                         absl::string_view canonical_request) {
  return absl::StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope.toString(), "\n",
                      sha256Hex(canonical_request));
}

std::string signature(absl::string_view secret, const Scope& scope,
                      absl::string_view string_to_sign) {
  std::string k = hmacSha256(absl::StrCat("AWS4", secret), scope.date);
  k = hmacSha256(k, scope.region);
  k = hmacSha256(k, scope.service);
  k = hmacSha256(k, "aws4_request");
  return hex(hmacSha256(k, string_to_sign));
}

std::string authorization(const Request& r, const Credentials& creds, const Scope& scope,
                          absl::string_view amz_date) {
  std::string signed_headers;
  const std::string creq = canonicalRequest(r, &signed_headers);
  const std::string sts = stringToSign(amz_date, scope, creq);
  return absl::StrCat("AWS4-HMAC-SHA256 Credential=", creds.access_key_id, "/", scope.toString(),
                      ", SignedHeaders=", signed_headers,
                      ", Signature=", signature(creds.secret_access_key, scope, sts));
}

std::string amzDate(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

} // namespace gw::filters::sigv4
