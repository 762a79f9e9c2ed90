// The SigV4 signer against the official AWS Signature Version 4 test suite in
// test/data/sigv4 (a copy of ../shared/data/sigv4; see its README): for every case, the canonical
// request, the string to sign and the Authorization header (hence the signature) must match the
// suite's files byte for byte. Plus the rules the suite does not cover (Lambda's double-encoded
// ARN path, dates).
#include <catch2/catch.hpp>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "source/common/percent.h"
#include "source/filters/function/sigv4.h"

namespace gw::filters::sigv4 {
namespace {

// The suite's secret (given on the AWS test-suite page; the files hold only the key id).
const char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool isDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool isFile(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// test/data/sigv4 of the repository this test was built from: the runfile of this source is a
// symlink into the source tree (or $GW_SIGV4_SUITE when set).
std::string suiteDir() {
  if (const char* env = getenv("GW_SIGV4_SUITE")) {
    return env;
  }
  char real[PATH_MAX];
  const std::string self = "test/filters/function/sigv4_test.cc";
  REQUIRE(realpath(self.c_str(), real) != nullptr);
  std::string root(real);
  REQUIRE(absl::EndsWith(root, self));
  root.resize(root.size() - self.size());
  return absl::StrCat(root, "test/data/sigv4");
}

// Every folder (recursively) that holds <folder>/<name>.req.
void findCases(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return;
  }
  std::vector<std::string> subdirs;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") {
      continue;
    }
    const std::string p = absl::StrCat(dir, "/", n);
    if (isDir(p)) {
      subdirs.push_back(p);
    }
  }
  closedir(d);
  for (const std::string& p : subdirs) {
    const std::string name = p.substr(p.rfind('/') + 1);
    if (isFile(absl::StrCat(p, "/", name, ".req"))) {
      out.push_back(p);
    }
    findCases(p, out);
  }
}

// A .req file: "METHOD target HTTP/1.1", header lines (a line starting with whitespace is one
// more value of the previous header), a blank line, the body.
Request parseReq(const std::string& text) {
  Request r;
  const size_t blank = text.find("\n\n");
  const std::string head = text.substr(0, blank);
  if (blank != std::string::npos) {
    r.body = absl::string_view(text).substr(blank + 2);
  }
  std::vector<std::string> lines = absl::StrSplit(head, '\n');
  REQUIRE(!lines.empty());
  const std::string& rl = lines[0];
  const size_t sp1 = rl.find(' ');
  const size_t sp2 = rl.rfind(' ');
  REQUIRE(sp1 != sp2);
  r.method = rl.substr(0, sp1);
  const std::string target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  for (size_t i = 1; i < lines.size(); i++) {
    const std::string& l = lines[i];
    if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
      REQUIRE(!r.headers.empty());
      r.headers.emplace_back(r.headers.back().first, l);
      continue;
    }
    const size_t colon = l.find(':');
    REQUIRE(colon != std::string::npos);
    r.headers.emplace_back(l.substr(0, colon), l.substr(colon + 1));
  }
  return r;
}

TEST_CASE("every case of the AWS SigV4 test suite: canonical request, string to sign, signature") {
  const std::string dir = suiteDir();
  INFO("suite: " << dir);
  std::vector<std::string> cases;
  findCases(dir, cases);
  // The suite as stored: 31 cases (its README). A missing or partial copy fails here.
  REQUIRE(cases.size() == 31);
  size_t checked = 0;
  for (const std::string& c : cases) {
    const std::string name = c.substr(c.rfind('/') + 1);
    const std::string base = absl::StrCat(c, "/", name);
    INFO("case " << name);
    const std::string req_text = readFile(base + ".req");
    // The body view points into req_text: keep it alive for the case.
    const Request r = parseReq(req_text);
    std::string date;
    for (const auto& [n, v] : r.headers) {
      if (absl::EqualsIgnoreCase(n, "x-amz-date")) {
        date = v;
      }
    }
    REQUIRE(date == "20150830T123600Z");
    const Scope scope{"20150830", "us-east-1", "service"};
    const Credentials creds{"AKIDEXAMPLE", kSecret, ""};

    std::string signed_headers;
    const std::string creq = canonicalRequest(r, &signed_headers);
    CHECK(creq == readFile(base + ".creq"));
    const std::string sts = stringToSign(date, scope, creq);
    CHECK(sts == readFile(base + ".sts"));
    const std::string authz = authorization(r, creds, scope, date);
    CHECK(authz == readFile(base + ".authz"));
    // The signature alone, from the suite's own string to sign.
    const std::string want_sig = readFile(base + ".authz").substr(
        readFile(base + ".authz").rfind("Signature=") + 10);
    CHECK(signature(kSecret, scope, readFile(base + ".sts")) == want_sig);
    // The signed request carries exactly that Authorization header.
    CHECK(absl::StrContains(readFile(base + ".sreq"), absl::StrCat("Authorization: ", authz)));
    checked++;
  }
  CHECK(checked == 31);
}

TEST_CASE("canonical URI and query rules") {
  CHECK(canonicalUri("/") == "/");
  CHECK(canonicalUri("") == "/");
  CHECK(canonicalUri("//a//b/") == "/a/b/");
  CHECK(canonicalUri("/a/./b/../c") == "/a/c");
  CHECK(canonicalUri("/a b") == "/a%20b");
  // A path as sent (already percent-encoded) is encoded once more: AWS's rule for every service
  // but S3. Lambda's Invoke path with an ARN:
  CHECK(canonicalUri("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/"
                     "invocations") ==
        "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Af/"
        "invocations");
  CHECK(canonicalQuery("b=2&a=1&a=0") == "a=0&a=1&b=2");
  CHECK(canonicalQuery("Qualifier=%24LATEST") == "Qualifier=%24LATEST");
  CHECK(canonicalQuery("x") == "x=");
  CHECK(canonicalQuery("k=a+b") == "k=a%2Bb");
  CHECK(gw::percentEncode("a/b c~", true) == "a/b%20c~");  // SigV4 URI-encoding
  CHECK(gw::percentEncode("a/b") == "a%2Fb");
}

TEST_CASE("dates and hashes") {
  CHECK(amzDate(1440938160) == "20150830T123600Z");
  CHECK(sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Scope{"20150830", "us-east-1", "lambda"}.toString() ==
        "20150830/us-east-1/lambda/aws4_request");
}

TEST_CASE("a session token is signed when it is among the headers") {
  Request r;
  r.method = "POST";
  r.path = "/2015-03-31/functions/hello/invocations";
  r.headers = {{"host", "lambda.eu-west-1.amazonaws.com"},
               {"x-amz-date", "20150830T123600Z"},
               {"x-amz-security-token", "tok"}};
  std::string sh;
  canonicalRequest(r, &sh);
  CHECK(sh == "host;x-amz-date;x-amz-security-token");
  const Scope scope{"20150830", "eu-west-1", "lambda"};
  const std::string a = authorization(r, {"AKID", "secret", "tok"}, scope, "20150830T123600Z");
  CHECK(absl::StartsWith(a, "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/lambda/"
                            "aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, "
                            "Signature="));
  // A different secret gives a different signature.
  CHECK(a != authorization(r, {"AKID", "other", "tok"}, scope, "20150830T123600Z"));
}

} // namespace
} // namespace gw::filters::sigv4
