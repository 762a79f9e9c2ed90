#include "source/config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "source/common/json.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "source/filters/filter.h"
#include "source/policy/jwt.h"
#include "source/policy/rate_limiter.h"
#include "source/router/route_table.h"
#include "yaml-cpp/yaml.h"

namespace gw::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// ---------------------------------------------------------------------------------------------
// Field paths
// ---------------------------------------------------------------------------------------------

bool isIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool isIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// True for "a", "a_b[3]", "a.b[0].c": a field path as used in our messages and protobuf's.
bool isFieldPath(absl::string_view s) {
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !isIdentStart(s[i])) {
      return false;
    }
    while (i < s.size() && isIdentChar(s[i])) {
      i++;
    }
    while (i < s.size() && s[i] == '[') {
      const size_t close = s.find(']', i);
      if (close == absl::string_view::npos || close == i + 1) {
        return false;
      }
      for (size_t k = i + 1; k < close; k++) {
        if (!absl::ascii_isdigit(s[k])) {
          return false;
        }
      }
      i = close + 1;
    }
    if (i == s.size()) {
      return true;
    }
    if (s[i] != '.') {
      return false;
    }
    i++;
  }
}

std::string joinPath(absl::string_view base, absl::string_view sub) {
  if (base.empty()) {
    return std::string(sub);
  }
  if (sub.empty()) {
    return std::string(base);
  }
  return absl::StrCat(base, ".", sub);
}

// Splits an error message into its leading field path and the rest. Understands our own form
// ("cluster: unknown cluster 'x'") and protobuf's JSON parser forms ("(a.b[0]) c: Cannot find
// field." and "(a.b): invalid value ..."). Messages without a path come back with path "".
ConfigError splitFieldPath(absl::string_view msg) {
  if (!msg.empty() && msg.front() == '(') {
    const size_t close = msg.find(')');
    if (close != absl::string_view::npos && isFieldPath(msg.substr(1, close - 1))) {
      const absl::string_view inner = msg.substr(1, close - 1);
      absl::string_view rest = msg.substr(close + 1);
      if (absl::StartsWith(rest, ": ")) {
        return {std::string(inner), std::string(rest.substr(2))};
      }
      if (absl::StartsWith(rest, " ")) {
        ConfigError sub = splitFieldPath(rest.substr(1));
        if (!sub.path.empty()) {
          return {joinPath(inner, sub.path), sub.message};
        }
      }
    }
    return {"", std::string(msg)};
  }
  const size_t colon = msg.find(": ");
  if (colon != absl::string_view::npos && isFieldPath(msg.substr(0, colon))) {
    return {std::string(msg.substr(0, colon)), std::string(msg.substr(colon + 2))};
  }
  return {"", std::string(msg)};
}

// ---------------------------------------------------------------------------------------------
// YAML -> JSON, guided by the target message's descriptor
// ---------------------------------------------------------------------------------------------


// YAML 1.2 core schema booleans (not 1.1's yes/no/on/off: "country: NO" stays a string).
bool yamlBool(absl::string_view s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

bool yamlNull(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// A number JSON can carry verbatim: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(absl::string_view s) {
  size_t i = 0;
  auto digits = [&]() {
    const size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) {
      i++;
    }
    return i - start;
  };
  if (i < s.size() && s[i] == '-') {
    i++;
  }
  const size_t start = i;
  const size_t n = digits();
  if (n == 0 || (n > 1 && s[start] == '0')) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    i++;
    if (digits() == 0) {
      return false;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      i++;
    }
    if (digits() == 0) {
      return false;
    }
  }
  return i == s.size();
}

bool isJsonInteger(absl::string_view s) {
  return isJsonNumber(s) && s.find_first_of(".eE") == absl::string_view::npos;
}

std::string markPrefix(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return "";
  }
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// What JSON a field wants.
enum class Shape { Message, Untyped, String, Duration, Bool, Number, Enum };

struct Expect {
  Shape shape = Shape::Untyped;
  const Descriptor* message = nullptr;  // Shape::Message only
};

Expect expectFor(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
  case FieldDescriptor::CPPTYPE_MESSAGE: {
    const Descriptor* m = field->message_type();
    const std::string& n = m->full_name();
    if (field->is_map() || n == "google.protobuf.Struct" || n == "google.protobuf.Value" ||
        n == "google.protobuf.ListValue" || n == "google.protobuf.Any") {
      return {Shape::Untyped};
    }
    if (n == "google.protobuf.Duration") {
      return {Shape::Duration};
    }
    if (n == "google.protobuf.Timestamp" || n == "google.protobuf.FieldMask") {
      return {Shape::String};
    }
    if (m->file()->name() == "google/protobuf/wrappers.proto") {
      return expectFor(m->FindFieldByName("value"));
    }
    return {Shape::Message, m};
  }
  case FieldDescriptor::CPPTYPE_STRING:
    return {Shape::String};
  case FieldDescriptor::CPPTYPE_BOOL:
    return {Shape::Bool};
  case FieldDescriptor::CPPTYPE_ENUM:
    return {Shape::Enum};
  default:
    return {Shape::Number};
  }
}

const FieldDescriptor* findField(const Descriptor* d, const std::string& key) {
  if (const FieldDescriptor* f = d->FindFieldByName(key); f != nullptr) {
    return f;
  }
  for (int i = 0; i < d->field_count(); i++) {
    if (d->field(i)->json_name() == key) {
      return d->field(i);
    }
  }
  return nullptr;
}

class YamlToJson {
public:
  absl::Status convert(const YAML::Node& root, const Descriptor* type) {
    return convertValue(root, {Shape::Message, type}, "", 0);
  }
  const std::string& json() const { return out_; }

  // The YAML position of `path` (or of its closest recorded ancestor), "" if unknown.
  std::string locate(absl::string_view path) const {
    std::string p(path);
    while (true) {
      if (auto it = marks_.find(p); it != marks_.end()) {
        return markPrefix(it->second);
      }
      const size_t cut = p.find_last_of(".[");
      if (cut == std::string::npos || cut == 0) {
        return "";
      }
      p.resize(cut);
    }
  }

private:
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxJsonBytes = 64 << 20;

  absl::Status fail(const YAML::Node& node, absl::string_view path, absl::string_view msg) {
    return absl::InvalidArgumentError(
        absl::StrCat(markPrefix(node.Mark()), path.empty() ? "" : absl::StrCat(path, ": "), msg));
  }

  absl::Status convertValue(const YAML::Node& node, const Expect& expect, const std::string& path,
                            int depth) {
    if (depth > kMaxDepth) {
      return fail(node, path, "nesting too deep (or a recursive alias)");
    }
    if (out_.size() > kMaxJsonBytes) {
      return fail(node, path, "config too large (alias expansion?)");
    }
    if (!path.empty()) {
      marks_.emplace(path, node.Mark());
    }
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out_ += "null";
      return absl::OkStatus();
    case YAML::NodeType::Scalar:
      return emitScalar(node, expect.shape, path);
    case YAML::NodeType::Sequence: {
      // A sequence where one value is expected: keep the element type; protobuf reports it.
      out_.push_back('[');
      for (size_t i = 0; i < node.size(); i++) {
        if (i > 0) {
          out_.push_back(',');
        }
        if (auto st = convertValue(node[i], expect, absl::StrCat(path, "[", i, "]"), depth + 1);
            !st.ok()) {
          return st;
        }
      }
      out_.push_back(']');
      return absl::OkStatus();
    }
    case YAML::NodeType::Map:
      return convertMap(node, expect, path, depth);
    }
    return absl::OkStatus();
  }

  absl::Status convertMap(const YAML::Node& node, const Expect& expect, const std::string& path,
                          int depth) {
    // Explicit keys first (in order), then keys from merge keys (`<<: *anchor`) not already set.
    std::vector<std::pair<YAML::Node, YAML::Node>> entries;
    std::map<std::string, YAML::Mark> seen;
    std::vector<YAML::Node> merges;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy: yaml-cpp's iterator returns a proxy, so a reference would dangle.
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        return fail(key, path, "map keys must be scalars");
      }
      if (key.Tag() == "?" && key.Scalar() == "<<") {
        merges.push_back(it->second);
        continue;
      }
      if (auto [prev, inserted] = seen.emplace(key.Scalar(), key.Mark()); !inserted) {
        return fail(key, path,
                    absl::StrCat("duplicate key '", key.Scalar(), "' (first at line ",
                                 prev->second.line + 1, ")"));
      }
      entries.emplace_back(key, it->second);
    }
    for (const YAML::Node& merge : merges) {
      std::vector<YAML::Node> sources;
      if (merge.IsMap()) {
        sources.push_back(merge);
      } else if (merge.IsSequence()) {
        for (const auto& s : merge) {
          sources.push_back(s);
        }
      }
      for (const YAML::Node& src : sources) {
        if (!src.IsMap()) {
          return fail(merge, path, "'<<' (merge key) needs a map or a list of maps");
        }
        for (auto it = src.begin(); it != src.end(); ++it) {
          if (it->first.IsScalar() && seen.emplace(it->first.Scalar(), it->first.Mark()).second) {
            entries.emplace_back(it->first, it->second);
          }
        }
      }
      if (sources.empty()) {
        return fail(merge, path, "'<<' (merge key) needs a map or a list of maps");
      }
    }

    out_.push_back('{');
    bool first = true;
    for (const auto& [key, value] : entries) {
      if (!first) {
        out_.push_back(',');
      }
      first = false;
      const std::string& name = key.Scalar();
      const std::string child = joinPath(path, name);
      appendJsonString(name, out_);
      out_.push_back(':');
      if (expect.shape != Shape::Message) {
        if (auto st = convertValue(value, {Shape::Untyped}, child, depth + 1); !st.ok()) {
          return st;
        }
        continue;
      }
      const FieldDescriptor* field = findField(expect.message, name);
      if (field == nullptr) {
        return fail(key, child,
                    absl::StrCat("unknown field (", expect.message->full_name(), " has no '",
                                 name, "')"));
      }
      if (auto st = convertValue(value, expectFor(field), child, depth + 1); !st.ok()) {
        return st;
      }
    }
    out_.push_back('}');
    return absl::OkStatus();
  }

  absl::Status emitScalar(const YAML::Node& node, Shape shape, const std::string& path) {
    const std::string& s = node.Scalar();
    // "?" = plain (unquoted, untagged); quoted scalars are "!", explicit tags their own name.
    const bool plain = node.Tag() == "?";
    bool b = false;
    if (plain && yamlNull(s)) {
      out_ += "null";
      return absl::OkStatus();
    }
    switch (shape) {
    case Shape::String:
      break;
    case Shape::Duration:
      if (!absl::EndsWith(s, "s") || absl::EndsWith(s, "ms") || absl::EndsWith(s, "us") ||
          absl::EndsWith(s, "ns")) {
        return fail(node, path,
                    absl::StrCat("invalid duration '", s,
                                 "': write seconds with an 's' suffix, e.g. 5s, 0.25s, 300s"));
      }
      break;
    case Shape::Bool:
      // Strictly true/false: protobuf would also take "yes", "n", "1" ... from a string.
      if (!plain || !yamlBool(s, &b)) {
        return fail(node, path, absl::StrCat("expected true or false, got '", s, "'"));
      }
      out_ += b ? "true" : "false";
      return absl::OkStatus();
    case Shape::Number:
      if (plain && isJsonNumber(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    case Shape::Enum:
      if (plain && isJsonInteger(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    case Shape::Message:
    case Shape::Untyped:
      if (plain && yamlBool(s, &b)) {
        out_ += b ? "true" : "false";
        return absl::OkStatus();
      }
      if (plain && isJsonNumber(s)) {
        out_ += s;
        return absl::OkStatus();
      }
      break;
    }
    appendJsonString(s, out_);
    return absl::OkStatus();
  }

  std::string out_;
  absl::flat_hash_map<std::string, YAML::Mark> marks_;
};

absl::Status jsonToConfig(const std::string& json, gateway::v1::Config* config,
                          const YamlToJson* yaml) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(json, config, opts);
  if (st.ok()) {
    return absl::OkStatus();
  }
  const ConfigError e = splitFieldPath(std::string(st.message()));
  const std::string where = yaml != nullptr ? yaml->locate(e.path) : "";
  return absl::InvalidArgumentError(absl::StrCat(where, e.toString()));
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

enum class HostKind { Ipv4, Ipv6, Name };

struct HostPort {
  std::string host;  // canonical for IP literals, lower-case for names; no brackets
  HostKind kind = HostKind::Name;
  int port = 0;
};

bool isHostnameChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.'; }

// RFC 1123 host name: dot-separated labels of letters, digits and '-', no empty label, no label
// starting or ending with '-'.
bool isHostname(absl::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t label = 0;
  char prev = '.';
  for (const char c : s) {
    if (!isHostnameChar(c)) {
      return false;
    }
    if (c == '.') {
      if (label == 0 || prev == '-') {
        return false;
      }
      label = 0;
    } else {
      if (label == 0 && c == '-') {
        return false;
      }
      if (++label > 63) {
        return false;
      }
    }
    prev = c;
  }
  return prev != '-';
}

// "host:port" with an IPv4 literal, "[IPv6]" or a host name.
absl::StatusOr<HostPort> parseHostPort(absl::string_view address) {
  HostPort hp;
  absl::string_view host;
  absl::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError("expected [IPv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv6 address '", host, "'"));
    }
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
    hp.host = buf;
    hp.kind = HostKind::Ipv6;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("expected host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError("an IPv6 address needs brackets, e.g. [::1]:8080");
    }
    if (host.empty()) {
      return absl::InvalidArgumentError("missing host before ':'");
    }
    in_addr a4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) {
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &a4, buf, sizeof(buf));
      hp.host = buf;
      hp.kind = HostKind::Ipv4;
    } else if (std::all_of(host.begin(), host.end(),
                           [](char c) { return absl::ascii_isdigit(c) || c == '.'; })) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address '", host, "'"));
    } else if (!isHostname(host)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid host name '", host, "'"));
    } else {
      hp.host = absl::AsciiStrToLower(host);
      hp.kind = HostKind::Name;
    }
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &hp.port) || hp.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port '", port, "' (0..65535)"));
  }
  return hp;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

constexpr uint32_t kMaxHeadersKb = 1024;
constexpr uint32_t kMaxHeadersCount = 10000;
constexpr uint32_t kMaxEndpointWeight = 10000;
constexpr uint32_t kMaxPoolConnections = 65535;
// Rate-limit key tables of one config, all policies together (one policy's largest is 256 MiB).
constexpr size_t kMaxRateLimitTableBytes = size_t{1} << 30;

// `<base>.name`: "required" (when `required`) or "duplicate <what> name 'x' (also <first>)".
// Returns whether the name is present and unique.
bool uniqueName(const std::string& name, const std::string& base, absl::string_view what,
                std::map<std::string, std::string>& names, bool required,
                std::vector<ConfigError>* errors) {
  if (name.empty()) {
    if (required) {
      errors->push_back({base + ".name", "required"});
    }
    return false;
  }
  if (auto [it, inserted] = names.emplace(name, base); !inserted) {
    errors->push_back({base + ".name", absl::StrCat("duplicate ", what, " name '", name,
                                                    "' (also ", it->second, ")")});
    return false;
  }
  return true;
}

class Validator {
public:
  Validator(const gateway::v1::Config& config, bool compile) : config_(config), compile_(compile) {}

  std::vector<ConfigError> run() {
    errors_ = buildValidationContext(config_, &ctx_, /*serving=*/false);
    if (config_.listeners_size() == 0) {
      error("listeners", "at least one listener is required");
    }
    std::map<std::string, std::string> names;
    for (int i = 0; i < config_.listeners_size(); i++) {
      const std::string base = absl::StrCat("listeners[", i, "]");
      const auto& l = config_.listeners(i);
      checkUniqueName(l.name(), base, "listener", names, /*required=*/true);
      checkListener(l, base);
    }
    names.clear();
    for (int i = 0; i < config_.clusters_size(); i++) {
      const std::string base = absl::StrCat("clusters[", i, "]");
      checkUniqueName(config_.clusters(i).name(), base, "cluster", names, /*required=*/true);
      checkCluster(config_.clusters(i), base);
    }
    return std::move(errors_);
  }

private:
  void error(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }

  bool hasErrorAt(absl::string_view path, size_t since) const {
    for (size_t i = since; i < errors_.size(); i++) {
      if (errors_[i].path == path) {
        return true;
      }
    }
    return false;
  }

  // `names` maps a name to the base path of its first owner.
  void checkUniqueName(const std::string& name, const std::string& base, absl::string_view what,
                       std::map<std::string, std::string>& names, bool required) {
    uniqueName(name, base, what, names, required, &errors_);
  }

  void checkDuration(const google::protobuf::Duration& d, const std::string& path) {
    if (d.seconds() < 0 || d.nanos() < 0) {
      error(path, "must not be negative");
    } else if (d.nanos() > 999999999) {
      error(path, "invalid duration (nanos out of range)");
    }
  }

  void checkListener(const gateway::v1::Listener& l, const std::string& base) {
    checkListenerAddress(l.address(), base + ".address");

    const auto& lim = l.limits();
    if (lim.max_request_headers_kb() > kMaxHeadersKb) {
      error(base + ".limits.max_request_headers_kb",
            absl::StrCat("must be at most ", kMaxHeadersKb));
    }
    if (lim.max_request_headers_count() > kMaxHeadersCount) {
      error(base + ".limits.max_request_headers_count",
            absl::StrCat("must be at most ", kMaxHeadersCount));
    }
    if (lim.has_request_headers_timeout()) {
      checkDuration(lim.request_headers_timeout(), base + ".limits.request_headers_timeout");
    }
    if (lim.has_idle_timeout()) {
      checkDuration(lim.idle_timeout(), base + ".limits.idle_timeout");
    }

    // The listener's default filters are compiled here even without compile_: compileConfig
    // compiles them only into the routes that inherit them, so a default no route uses (a
    // listener without routes, or whose routes all set that stage) would otherwise never be
    // checked. A handful of filters, compiled twice at most.
    checkFilterList(l.pre_filters(), base + ".pre_filters", /*always_compile=*/true);
    checkFilterList(l.post_filters(), base + ".post_filters", /*always_compile=*/true);
    checkFilterList(l.error_filters(), base + ".error_filters", /*always_compile=*/true);

    const size_t listener_errors = errors_.size();
    std::map<std::string, std::string> vhost_names;
    // Lower-cased domain -> path of its first declaration, across the listener.
    std::map<std::string, std::string> domains;
    for (int v = 0; v < l.virtual_hosts_size(); v++) {
      const auto& vh = l.virtual_hosts(v);
      const std::string vbase = absl::StrCat(base, ".virtual_hosts[", v, "]");
      checkUniqueName(vh.name(), vbase, "virtual host", vhost_names, /*required=*/false);
      checkDomains(vh, vbase, domains);
      std::map<std::string, std::string> route_names;
      for (int r = 0; r < vh.routes_size(); r++) {
        const std::string rbase = absl::StrCat(vbase, ".routes[", r, "]");
        const size_t route_errors = errors_.size();
        checkUniqueName(vh.routes(r).name(), rbase, "route", route_names, /*required=*/false);
        checkRoute(vh.routes(r), rbase);
        if (compile_) {
          checkCompiledRoute(vh.routes(r), rbase, route_errors);
        }
      }
    }
    // Whole-listener compile as the final word, once nothing more specific was found.
    if (compile_ && errors_.size() == listener_errors) {
      auto table = router::RouteTable::create(l);
      if (!table.ok()) {
        ConfigError e = splitFieldPath(table.status().message());
        error(joinPath(base, e.path), e.message);
      }
    }
  }

  void checkListenerAddress(const std::string& address, const std::string& path) {
    if (address.empty()) {
      error(path, "required (host:port)");
      return;
    }
    auto hp = parseHostPort(address);
    if (!hp.ok()) {
      error(path, absl::StrCat("invalid address '", address, "': ", hp.status().message()));
      return;
    }
    if (hp->kind == HostKind::Name && hp->host != "localhost") {
      error(path, absl::StrCat("invalid address '", address,
                               "': a listener binds an IP literal or 'localhost'"));
      return;
    }
    if (hp->port == 0) {
      return;  // ephemeral: never a conflict
    }
    for (const auto& [other, other_path] : listener_addresses_) {
      if (other.port != hp->port) {
        continue;
      }
      const bool same = other.host == hp->host;
      const bool wildcard =
          other.kind == hp->kind &&
          ((hp->kind == HostKind::Ipv4 && (other.host == "0.0.0.0" || hp->host == "0.0.0.0")) ||
           (hp->kind == HostKind::Ipv6 && (other.host == "::" || hp->host == "::")));
      if (same || wildcard) {
        error(path, absl::StrCat(same ? "duplicate address '" : "address '", address,
                                 same ? "' (also " : "' overlaps ", other_path, ")"));
        return;
      }
    }
    listener_addresses_.emplace_back(*hp, path);
  }

  void checkDomains(const gateway::v1::VirtualHost& vh, const std::string& vbase,
                    std::map<std::string, std::string>& seen) {
    if (vh.domains_size() == 0) {
      error(vbase + ".domains", "at least one domain is required (\"*\" for any)");
      return;
    }
    for (int d = 0; d < vh.domains_size(); d++) {
      const std::string path = absl::StrCat(vbase, ".domains[", d, "]");
      const std::string domain = absl::AsciiStrToLower(vh.domains(d));
      if (domain.empty()) {
        error(path, "must not be empty");
        continue;
      }
      if (domain != "*") {
        absl::string_view name = domain;
        if (absl::StartsWith(name, "*.")) {
          name.remove_prefix(2);
        } else if (name.find('*') != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d),
                                   "': '*' only as the whole domain or a leading '*.'"));
          continue;
        }
        if (name.find(':') != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d),
                                   "': must not include a port"));
          continue;
        }
        if (!std::all_of(name.begin(), name.end(),
                         [](char c) { return isHostnameChar(c) || c == '_'; }) ||
            name.empty() || name.front() == '.' || name.back() == '.' ||
            name.find("..") != absl::string_view::npos) {
          error(path, absl::StrCat("invalid domain '", vh.domains(d), "'"));
          continue;
        }
      }
      if (auto [it, inserted] = seen.emplace(domain, path); !inserted) {
        error(path, absl::StrCat("duplicate domain '", domain, "' (also ", it->second, ")"));
      }
    }
  }

  void checkRoute(const gateway::v1::Route& route, const std::string& rbase) {
    checkFilterList(route.pre_filters(), rbase + ".pre_filters");
    if (!route.has_route_filter()) {
      error(rbase + ".route_filter", "required (e.g. router or direct_response)");
    } else {
      checkFilter(route.route_filter(), rbase + ".route_filter", filters::FilterKind::Route);
    }
    checkFilterList(route.post_filters(), rbase + ".post_filters");
    checkFilterList(route.error_filters(), rbase + ".error_filters");
    if (!route.prefix_rewrite().empty() &&
        route.match().path_specifier_case() != gateway::v1::RouteMatch::kPrefix) {
      error(rbase + ".prefix_rewrite", "only allowed with match.prefix");
    }
    if (route.has_timeout()) {
      checkDuration(route.timeout(), rbase + ".timeout");
    }
  }

  // Compiles the route alone (in a one-route listener) so that every route's match, regex,
  // template and rewrite problems are reported, not just the first of the listener. A problem
  // already reported at the same path (by checkRoute, errors from index `since`) is not repeated.
  void checkCompiledRoute(const gateway::v1::Route& route, const std::string& rbase,
                          size_t since) {
    gateway::v1::Listener probe;
    auto* vh = probe.add_virtual_hosts();
    vh->add_domains("*");
    *vh->add_routes() = route;
    auto table = router::RouteTable::create(probe);
    if (table.ok()) {
      return;
    }
    static constexpr absl::string_view kProbeBase = "virtual_hosts[0].routes[0]";
    ConfigError e = splitFieldPath(table.status().message());
    std::string path = rbase;
    if (absl::StartsWith(e.path, kProbeBase)) {
      path += e.path.substr(kProbeBase.size());
    } else if (!e.path.empty()) {
      e.message = e.toString();
    }
    if (!hasErrorAt(path, since)) {
      error(path, e.message);
    }
  }

  void checkFilterList(const google::protobuf::RepeatedPtrField<gateway::v1::Filter>& list,
                       const std::string& base, bool always_compile = false) {
    for (int i = 0; i < list.size(); i++) {
      checkFilter(list[i], absl::StrCat(base, "[", i, "]"), filters::FilterKind::Stage,
                  always_compile);
    }
  }

  void checkFilter(const gateway::v1::Filter& f, const std::string& path,
                   filters::FilterKind want, bool always_compile = false) {
    if (f.name().empty()) {
      error(path + ".name", "required");
      return;
    }
    const filters::FilterFactory* factory = filters::FilterRegistry::get(f.name());
    if (factory == nullptr) {
      const std::vector<std::string> known = filters::FilterRegistry::names();
      error(path + ".name",
            absl::StrCat("unknown filter '", f.name(), "' (",
                         known.empty() ? "no filters registered"
                                       : absl::StrCat("registered: ", absl::StrJoin(known, ", ")),
                         ")"));
      return;
    }
    if (factory->kind() != want) {
      error(path + ".name",
            want == filters::FilterKind::Route
                ? absl::StrCat("'", f.name(),
                               "' is a stage filter; route_filter needs a route filter "
                               "(e.g. router or direct_response)")
                : absl::StrCat("'", f.name(),
                               "' is a route filter; use it as a route's route_filter"));
      return;
    }
    if (!compile_ && !always_compile) {
      return;
    }
    auto created = factory->createConfig(f.config(), ctx_);
    if (!created.ok()) {
      ConfigError e = splitFieldPath(created.status().message());
      error(joinPath(path + ".config", e.path), e.message);
    }
  }

  void checkCluster(const gateway::v1::Cluster& c, const std::string& base) {
    if (c.endpoints_size() == 0) {
      error(base + ".endpoints", "at least one endpoint is required");
    }
    for (int e = 0; e < c.endpoints_size(); e++) {
      const std::string ebase = absl::StrCat(base, ".endpoints[", e, "]");
      const auto& ep = c.endpoints(e);
      if (ep.address().empty()) {
        error(ebase + ".address", "required (host:port)");
      } else if (auto hp = parseHostPort(ep.address()); !hp.ok()) {
        error(ebase + ".address",
              absl::StrCat("invalid address '", ep.address(), "': ", hp.status().message()));
      } else if (hp->port == 0) {
        error(ebase + ".address",
              absl::StrCat("invalid address '", ep.address(), "': port must be 1..65535"));
      }
      if (ep.weight() > kMaxEndpointWeight) {
        error(ebase + ".weight", absl::StrCat("must be at most ", kMaxEndpointWeight));
      }
    }

    using gateway::v1::Cluster;
    using gateway::v1::HashPolicy;
    if (!Cluster::LbPolicy_IsValid(c.lb_policy())) {
      error(base + ".lb_policy", absl::StrCat("unknown policy ", c.lb_policy()));
    }
    const bool hashing = c.lb_policy() == Cluster::RING_HASH || c.lb_policy() == Cluster::MAGLEV;
    const auto& hp = c.hash_policy();
    if (hashing && hp.source_case() == HashPolicy::SOURCE_NOT_SET) {
      error(base + ".hash_policy",
            absl::StrCat("required for ", Cluster::LbPolicy_Name(c.lb_policy()),
                         ": set one of header, cookie or source_ip"));
    }
    switch (hp.source_case()) {
    case HashPolicy::kHeader:
      if (!isToken(hp.header())) {
        error(base + ".hash_policy.header",
              absl::StrCat("invalid header name '", hp.header(), "'"));
      }
      break;
    case HashPolicy::kCookie:
      if (!isToken(hp.cookie())) {
        error(base + ".hash_policy.cookie",
              absl::StrCat("invalid cookie name '", hp.cookie(), "'"));
      }
      break;
    case HashPolicy::kSourceIp:
      if (!hp.source_ip()) {
        error(base + ".hash_policy.source_ip", "must be true when set");
      }
      break;
    case HashPolicy::SOURCE_NOT_SET:
      break;
    }

    const auto& pool = c.pool();
    if (pool.max_connections_per_endpoint() > kMaxPoolConnections) {
      error(base + ".pool.max_connections_per_endpoint",
            absl::StrCat("must be at most ", kMaxPoolConnections));
    }
    if (pool.max_connections_per_endpoint() > 0 &&
        pool.max_idle_per_endpoint() > pool.max_connections_per_endpoint()) {
      error(base + ".pool.max_idle_per_endpoint",
            absl::StrCat("must not exceed max_connections_per_endpoint (",
                         pool.max_connections_per_endpoint(), ")"));
    }
    if (pool.has_idle_timeout()) {
      checkDuration(pool.idle_timeout(), base + ".pool.idle_timeout");
    }
    if (pool.has_connect_timeout()) {
      checkDuration(pool.connect_timeout(), base + ".pool.connect_timeout");
    }
  }

  const gateway::v1::Config& config_;
  const bool compile_;  // false: skip what compiles routes and route-level filter configs
  filters::ValidationContext ctx_;
  std::vector<ConfigError> errors_;
  std::vector<std::pair<HostPort, std::string>> listener_addresses_;
};

} // namespace

absl::StatusOr<gateway::v1::Config> parseConfig(absl::string_view text) {
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);  // UTF-8 byte order mark
  }
  gateway::v1::Config config;
  const absl::string_view body = absl::StripLeadingAsciiWhitespace(text);
  if (absl::StartsWith(body, "{")) {
    if (auto st = jsonToConfig(std::string(text), &config, nullptr); !st.ok()) {
      return st;
    }
    return config;
  }

  YamlToJson converter;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull() || !root.IsDefined()) {
      return config;  // an empty document: the empty config (validation reports what's missing)
    }
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(markPrefix(root.Mark()), "the config must be a map (listeners, clusters)"));
    }
    if (auto st = converter.convert(root, gateway::v1::Config::descriptor()); !st.ok()) {
      return st;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(e.mark.is_null() ? "invalid YAML: " : markPrefix(e.mark), e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (auto st = jsonToConfig(converter.json(), &config, &converter); !st.ok()) {
    return st;
  }
  return config;
}

absl::StatusOr<gateway::v1::Config> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  }
  auto config = parseConfig(ss.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

std::vector<ConfigError> validateConfig(const gateway::v1::Config& config) {
  return Validator(config, /*compile=*/true).run();
}

std::vector<ConfigError> validateConfigWithoutCompiling(const gateway::v1::Config& config) {
  return Validator(config, /*compile=*/false).run();
}

std::vector<ConfigError> buildValidationContext(const gateway::v1::Config& config,
                                                filters::ValidationContext* ctx, bool serving) {
  std::vector<ConfigError> errors;
  for (const auto& c : config.clusters()) {
    if (!c.name().empty()) {
      ctx->cluster_names.insert(c.name());
    }
  }
  // Duplicate / missing names; then each resource compiled (keys parsed once, here).
  auto checkName = [&](const std::string& name, const std::string& base, absl::string_view what,
                       std::map<std::string, std::string>& seen) {
    return uniqueName(name, base, what, seen, /*required=*/true, &errors);
  };
  std::map<std::string, std::string> seen;
  for (int i = 0; i < config.auth_providers_size(); i++) {
    const std::string base = absl::StrCat("auth_providers[", i, "]");
    const auto& p = config.auth_providers(i);
    const bool named = checkName(p.name(), base, "auth provider", seen);
    std::vector<policy::FieldError> errs;
    auto compiled = policy::JwtProvider::create(p, &errs);
    for (auto& e : errs) {
      errors.push_back({joinPath(base, e.field), std::move(e.message)});
    }
    if (named) {
      ctx->auth_providers[p.name()] = std::move(compiled);
    }
  }
  seen.clear();
  size_t table_bytes = 0;
  for (int i = 0; i < config.rate_limit_policies_size(); i++) {
    const std::string base = absl::StrCat("rate_limit_policies[", i, "]");
    const auto& p = config.rate_limit_policies(i);
    const bool named = checkName(p.name(), base, "rate-limit policy", seen);
    std::vector<policy::FieldError> errs;
    auto compiled = serving ? policy::RateLimiter::createShared(p, &errs)
                            : policy::RateLimiter::create(p, &errs, /*buckets=*/false);
    for (auto& e : errs) {
      errors.push_back({joinPath(base, e.field), std::move(e.message)});
    }
    if (compiled != nullptr) {
      table_bytes += compiled->tableBytes();
    }
    if (named) {
      ctx->rate_limit_policies[p.name()] = std::move(compiled);
    }
  }
  if (table_bytes > kMaxRateLimitTableBytes) {
    errors.push_back({"rate_limit_policies",
                      absl::StrCat("the key tables of all policies together would take ",
                                   table_bytes >> 20, " MiB (at most ",
                                   kMaxRateLimitTableBytes >> 20, " MiB): lower max_keys")});
  }
  return errors;
}

void redactSecrets(gateway::v1::Config* config) {
  for (auto& p : *config->mutable_auth_providers()) {
    if (!p.secret().empty()) {
      p.set_secret(kRedacted);
    }
  }
}

} // namespace gw::config
