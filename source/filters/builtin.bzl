"""The built-in filters. Adding one is this one line: its folder source/filters/<name>/ (a BUILD
with gw_filter()), its config proto api/gateway/filters/<name>/v1/<name>.proto, its tests in
test/filters/<name>/. //api compiles the protos of this list, //source/filters:builtin links the
filters."""

BUILTIN_FILTERS = [
    "aggregate",
    "api_key_auth",
    "authz",
    "buffer",
    "cache",
    "cors",
    "direct_response",
    "fault",
    "function",
    "global_ratelimit",
    "headers",
    "json_transform",
    "jwt_auth",
    "local_ratelimit",
    "oauth2_introspection",
    "redirect",
    "router",
    "soap",
    "versioning",
]
