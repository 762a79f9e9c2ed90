// `versioning` (route filter; sees responses): API versions.
//
// - onRoute reads the version from the configured sources in order (version_extractor.h); none:
//   default_version, or 400 api_version_required. A version not in the table gets 400
//   unsupported_api_version listing the supported ones. A path version is stripped from the
//   path sent upstream unless keep_path.
// - A version past its sunset with gone_after_sunset gets 410 api_version_gone (with its Sunset
//   and Link headers); otherwise the request is proxied to the version's cluster.
// - The response of a version with deprecation or sunset gets `Deprecation: @<unix seconds>`
//   (RFC 9745), `Sunset: <HTTP-date>` (RFC 8594) and one `Link` field with
//   `<doc>; rel="deprecation"` and/or `<doc>; rel="sunset"`. Calls to a version whose deprecation time has passed are counted per version
//   and consumer (the Identity's subject, "-" when anonymous) in
//   gateway_filter_versioning_deprecated_calls_total.
// The decision is kept in the filter state (kApiVersion: access log, explain); one shared instance
// serves every request.
#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gateway/filters/versioning/v1/versioning.pb.h"
#include "source/common/header_map.h"
#include "source/filters/filter.h"
#include "source/filters/identity.h"
#include "source/filters/versioning/version_extractor.h"

namespace gw::filters {
namespace {

using Proto = gateway::filters::versioning::v1::Versioning;
using versioning::Source;

const FilterCounter kUnsupported{"versioning", "unsupported",
                                 "Requests refused 400: an unknown version, or none."};
const FilterCounter kGone{"versioning", "gone", "Requests to a sunset version answered 410."};
const FilterLabeledCounter kDeprecatedCalls{
    "versioning", "deprecated_calls",
    "Calls to API versions past their deprecation time, by version and consumer (the "
    "authenticated subject, '-' when anonymous).",
    {"version", "consumer"}};

// "2026-12-31T23:59:59Z".
std::string utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

struct Version {
  std::string name;
  std::string cluster;
  bool has_deprecation = false;
  absl::Time deprecation;
  bool has_sunset = false;
  absl::Time sunset;
  std::string link;
  bool gone_after_sunset = false;
  // The response headers, made once: deprecation, sunset, link(s).
  std::vector<std::pair<std::string, std::string>> headers;
};

// The version a request was routed to, and why.
struct ApiVersion : FilterStateObject {
  const Version* version = nullptr;
  std::string why;  // "header api-version", "default"
  std::string describe() const override { return absl::StrCat(version->name, " (", why, ")"); }
};
inline constexpr FilterStateKey<ApiVersion> kApiVersion{"api_version"};

class VersioningConfig;

class VersioningFilter : public Filter {
public:
  explicit VersioningFilter(const VersioningConfig& c) : config_(c) {}
  FilterStatus onRoute(RequestContext& ctx, Upstream& upstream) override;
  FilterStatus onResponseHeaders(RequestContext& ctx) override;

private:
  const VersioningConfig& config_;
};

class VersioningConfig : public FilterConfig {
public:
  Filter* shared() const override { return &shared_; }
  bool seesResponse() const override { return true; }

  // What a request resolves to: a version (and why), or an error.
  struct Decision {
    const Version* version = nullptr;
    std::string why;
    std::string stripped_path;  // non-empty: the path to send upstream
    std::optional<ErrorInfo> error;
  };

  Decision decide(const http::RequestHead& head, absl::Time now) const {
    Decision d;
    versioning::Extracted e = versioning::extract(sources, head);
    if (e.source == nullptr) {
      if (default_version == nullptr) {
        d.error = ErrorInfo::make(
            ErrorKind::BadRequest,
            absl::StrCat("an API version is required (", sourcesText(), "); supported: ",
                         supportedText()),
            "api_version_required");
        d.error->details.emplace_back("supported_versions", supportedText());
        return d;
      }
      d.version = default_version;
      d.why = "no version given: the default";
    } else {
      for (const Version& v : versions) {
        if (v.name == e.version) {
          d.version = &v;
        }
      }
      if (d.version == nullptr) {
        d.error = ErrorInfo::make(
            ErrorKind::BadRequest,
            absl::StrCat("API version '", e.version, "' (", e.source->describe(),
                         ") is not supported; supported: ", supportedText()),
            "unsupported_api_version");
        d.error->details.emplace_back("supported_versions", supportedText());
        return d;
      }
      d.why = e.source->describe();
      d.stripped_path = std::move(e.stripped_path);
    }
    const Version& v = *d.version;
    if (v.gone_after_sunset && now >= v.sunset) {
      d.error = ErrorInfo::make(
          ErrorKind::BadRequest,
          absl::StrCat("API version '", v.name, "' was sunset at ",
                       utc(v.sunset),
                       v.link.empty() ? "" : absl::StrCat("; see ", v.link)),
          "api_version_gone", 410);
      d.error->headers = v.headers;
      d.error->details.emplace_back("supported_versions", supportedText());
    }
    return d;
  }

  std::string explain(ExplainContext& ctx) const override {
    const absl::Time now = absl::Now();
    Decision d = decide(ctx.head, now);
    if (d.error) {
      return absl::StrCat(d.error->status, " ", d.error->code, ": ", d.error->message);
    }
    const Version& v = *d.version;
    std::string out = absl::StrCat("version ", v.name, " (", d.why, ") -> proxy to cluster '",
                                   v.cluster, "'");
    if (!d.stripped_path.empty()) {
      absl::StrAppend(&out, ", path ", d.stripped_path);
    }
    if (v.has_deprecation) {
      absl::StrAppend(&out, now >= v.deprecation ? "; deprecated since " : "; deprecated from ",
                      utc(v.deprecation));
    }
    if (v.has_sunset) {
      absl::StrAppend(&out, "; sunset ",
                      utc(v.sunset),
                      v.gone_after_sunset ? " (410 after)" : "");
    }
    auto state = std::make_unique<ApiVersion>();
    state->version = d.version;
    state->why = d.why;
    ctx.state.set(kApiVersion, std::move(state));
    return out;
  }

  std::string supportedText() const {
    std::vector<absl::string_view> names;
    for (const Version& v : versions) {
      names.push_back(v.name);
    }
    return absl::StrJoin(names, ", ");
  }
  std::string sourcesText() const {
    std::vector<std::string> parts;
    for (const Source& s : sources) {
      parts.push_back(s.describe());
    }
    return absl::StrJoin(parts, ", ");
  }

  std::vector<Source> sources;
  std::vector<Version> versions;
  const Version* default_version = nullptr;

private:
  mutable VersioningFilter shared_{*this};
};

FilterStatus VersioningFilter::onRoute(RequestContext& ctx, Upstream& upstream) {
  const absl::Time now = absl::FromChrono(ctx.startTime());
  VersioningConfig::Decision d = config_.decide(ctx.request(), now);
  if (d.error) {
    (d.error->status == 410 ? kGone : kUnsupported).inc(ctx.worker());
    ctx.fail(std::move(*d.error));
    return FilterStatus::StopAndRespond;
  }
  const Version& v = *d.version;
  if (!d.stripped_path.empty()) {
    ctx.request().path = std::move(d.stripped_path);
  }
  if (v.has_deprecation && now >= v.deprecation) {
    const Identity* id = ctx.filterState().get(kIdentity);
    kDeprecatedCalls.inc(ctx.worker(),
                         {v.name, id == nullptr || id->subject.empty() ? "-" : id->subject});
  }
  auto state = std::make_unique<ApiVersion>();
  state->version = &v;
  state->why = std::move(d.why);
  ctx.filterState().set(kApiVersion, std::move(state));
  upstream.proxyTo(v.cluster);
  return FilterStatus::Continue;
}

FilterStatus VersioningFilter::onResponseHeaders(RequestContext& ctx) {
  const ApiVersion* a = ctx.filterState().get(kApiVersion);
  if (a == nullptr) {
    return FilterStatus::Continue;
  }
  for (const auto& [name, value] : a->version->headers) {
    ctx.response().headers.add(name, value);
  }
  return FilterStatus::Continue;
}

absl::Status parseTime(const std::string& text, const std::string& field, absl::Time& out) {
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &out, &err)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": not an RFC 3339 time ('", text, "'; e.g. 2026-12-31T23:59:59Z)"));
  }
  return absl::OkStatus();
}

class VersioningFactory : public FilterFactory {
public:
  absl::string_view name() const override { return "versioning"; }
  FilterKind kind() const override { return FilterKind::Route; }
  const google::protobuf::Descriptor* configDescriptor() const override {
    return Proto::descriptor();
  }
  absl::StatusOr<FilterConfigConstSharedPtr>
  createConfig(const google::protobuf::Struct& config, const ValidationContext& ctx) const override {
    Proto proto;
    if (auto st = structToMessage(config, &proto); !st.ok()) {
      return st;
    }
    auto c = std::make_shared<VersioningConfig>();
    if (proto.sources_size() == 0) {
      return absl::InvalidArgumentError(
          "sources: required (e.g. [{header: API-Version}, {path_prefix: /api/}])");
    }
    for (int i = 0; i < proto.sources_size(); i++) {
      const Proto::Source& p = proto.sources(i);
      const std::string field = absl::StrCat("sources[", i, "]");
      const int set = !p.header().empty() + !p.path_prefix().empty() + !p.query().empty() +
                      !p.media_type().empty();
      if (set != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": set exactly one of header, path_prefix, query, media_type"));
      }
      if (p.keep_path() && p.path_prefix().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".keep_path: path_prefix only"));
      }
      Source s;
      if (!p.header().empty()) {
        if (!isToken(p.header())) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".header: invalid header name '", p.header(), "'"));
        }
        s.kind = Source::Kind::Header;
        s.name = absl::AsciiStrToLower(p.header());
      } else if (!p.path_prefix().empty()) {
        if (p.path_prefix().front() != '/' || p.path_prefix().back() != '/') {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".path_prefix: must start and end with '/' (e.g. /api/)"));
        }
        s.kind = Source::Kind::PathPrefix;
        s.name = p.path_prefix();
        s.keep_path = p.keep_path();
      } else if (!p.query().empty()) {
        s.kind = Source::Kind::Query;
        s.name = p.query();
      } else {
        if (p.media_type().find_first_of(" ,;+") != std::string::npos ||
            p.media_type().find('/') == std::string::npos) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ".media_type: a type/subtype prefix such as application/vnd.example"));
        }
        s.kind = Source::Kind::MediaType;
        s.name = absl::AsciiStrToLower(p.media_type());
      }
      c->sources.push_back(std::move(s));
    }
    if (proto.versions_size() == 0) {
      return absl::InvalidArgumentError("versions: required (at least one version)");
    }
    c->versions.reserve(proto.versions_size());  // default_version points into it
    for (int i = 0; i < proto.versions_size(); i++) {
      const Proto::Version& p = proto.versions(i);
      const std::string field = absl::StrCat("versions[", i, "]");
      Version v;
      v.name = p.name();
      if (v.name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".name: required"));
      }
      for (char ch : v.name) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' &&
            ch != '-') {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ".name: letters, digits, '.', '_' and '-' only ('", v.name, "')"));
        }
      }
      for (const Version& other : c->versions) {
        if (other.name == v.name) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".name: duplicate version '", v.name, "'"));
        }
      }
      if (p.cluster().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".cluster: required"));
      }
      if (!ctx.cluster_names.contains(p.cluster())) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".cluster: unknown cluster '", p.cluster(), "'"));
      }
      v.cluster = p.cluster();
      if (!p.deprecation().empty()) {
        if (auto st = parseTime(p.deprecation(), field + ".deprecation", v.deprecation);
            !st.ok()) {
          return st;
        }
        v.has_deprecation = true;
        v.headers.emplace_back("deprecation",
                               absl::StrCat("@", absl::ToUnixSeconds(v.deprecation)));
      }
      if (!p.sunset().empty()) {
        if (auto st = parseTime(p.sunset(), field + ".sunset", v.sunset); !st.ok()) {
          return st;
        }
        v.has_sunset = true;
        v.headers.emplace_back("sunset", absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", v.sunset,
                                                          absl::UTCTimeZone()));
      }
      if (p.gone_after_sunset() && !v.has_sunset) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".gone_after_sunset: needs sunset"));
      }
      v.gone_after_sunset = p.gone_after_sunset();
      if (!p.link().empty()) {
        if (p.link().find_first_of("<>\r\n\t \"") != std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".link: a URI (no spaces, quotes or angle brackets)"));
        }
        if (!v.has_deprecation && !v.has_sunset) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".link: needs deprecation or sunset"));
        }
        v.link = p.link();
        // One field, one link-value per relation (RFC 8288 allows the list).
        std::vector<std::string> links;
        if (v.has_deprecation) {
          links.push_back(absl::StrCat("<", v.link, ">; rel=\"deprecation\""));
        }
        if (v.has_sunset) {
          links.push_back(absl::StrCat("<", v.link, ">; rel=\"sunset\""));
        }
        v.headers.emplace_back("link", absl::StrJoin(links, ", "));
      }
      c->versions.push_back(std::move(v));
    }
    if (!proto.default_version().empty()) {
      for (const Version& v : c->versions) {
        if (v.name == proto.default_version()) {
          c->default_version = &v;
        }
      }
      if (c->default_version == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("default_version: '",
                                                       proto.default_version(),
                                                       "' is not one of versions"));
      }
    }
    return FilterConfigConstSharedPtr(std::move(c));
  }
};

const Register<VersioningFactory> kRegister;

} // namespace
} // namespace gw::filters
