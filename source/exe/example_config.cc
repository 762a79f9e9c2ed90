#include "source/exe/example_config.h"

namespace gw {

const char* const kExampleConfig = R"yaml(# The demo: four services, two instances each, and an identity provider (tools/demo starts
# them). The IdP's client secret comes from $DEMO_IDP_CLIENT_SECRET (demo-secret; tools/demo and
# gatewayd running this embedded example set it).
version: example-1
auth_providers:
  # Demo only: tools/demo signs its tokens with this secret. Real deployments use
  # secret_env or a public key.
  - name: demo-users
    issuer: https://idp.demo.local
    secret: demo-jwt-secret-not-for-production
# Demo only: the key tools/demo prints (demo-partner-key-4f7c2a9e1b); a real key is made with
# `gatewayctl keys create`, which stores only its SHA-256 like this one.
usage_plans:
  - name: demo-basic
    rate: {requests_per_second: 5}
    quota: {limit: 1000, period: DAY}
api_keys:
  - id: demo-partner
    key_sha256: fbde2ce4629cf64b4eff007a59e1bc57b81529c0cd06cabe5da93e111c53f159
    consumer: {id: partner-acme, roles: [partner]}
    plan: demo-basic
# The Redis the orders' global per-user limit is kept in: tools/demo starts its own redis-server
# on a free loopback port and points this entry at it. gatewayd running this example without it
# (no Redis on its default port) still serves: the limit's failure_mode is allow, so requests pass,
# counted in gateway_filter_global_ratelimit_failure_mode_allowed_total.
redis_servers:
  - {name: demo-redis, address: "127.0.0.1:6379", command_timeout: 0.1s}
listeners:
  - name: public
    address: 127.0.0.1:8080
    # HTTP/2 too: h2c with prior knowledge (curl --http2-prior-knowledge).
    http2: {enabled: true}
    limits: &public_limits
      request_headers_timeout: 10s
      idle_timeout: 60s
      max_request_body_bytes: 10485760
    # Browser apps on https://app.example.com may call every route: the listener's default
    # pre_filters, and the first filter of routes with their own.
    pre_filters: &public_pre
      - &cors
        name: cors
        config:
          allow_origins: ["https://app.example.com"]
          allow_methods: [GET, POST, PUT, DELETE]
          allow_headers: [authorization, content-type, x-api-key]
          expose_headers: [x-request-id]
    post_filters: &public_post
      - name: headers
        config:
          response_set:
            - {name: x-gateway-route, value: "%ROUTE_NAME%"}
            - {name: x-gateway-upstream, value: "%UPSTREAM_HOST%"}
    # Trailers pass through (gRPC's grpc-status arrives in them).
    forward_trailers: true
    # tools/demo adds an HTTPS listener with these hosts and filters (tools/demo_lib/demo_tls.py).
    virtual_hosts: &public_hosts
      - name: demo
        domains: ["*"]
        routes:
          - name: greeter
            # The demo gRPC service (tools/demo_grpc, gRPC C++) over HTTP/2 without TLS; call it
            # with tools/demo_grpc's client. Gateway errors on gRPC calls are trailers-only
            # responses with a grpc-status.
            match: {prefix: /demo.Greeter/}
            route_filter: {name: router, config: {cluster: greeter}}
          - name: users
            match: {path_template: "/api/users/**"}
            route_filter: {name: router, config: {cluster: user-service}}
          - name: orders
            # /api/orders and everything below it (a template's "/**" needs the slash).
            match: {regex: "/api/orders(/.*)?"}
            # A JWT, a global per-user limit in Redis (GCRA: 10 requests/s, bursts of 50, shared
            # by every gateway on that Redis), then permissions: GET needs orders:read, POST
            # orders:write.
            pre_filters:
              - *cors
              - {name: jwt_auth, config: {provider: demo-users}}
              - name: global_ratelimit
                config:
                  redis: demo-redis
                  failure_mode: allow
                  response_headers: true
                  limits:
                    - {name: orders-per-user, requests: 10, period: 1s, burst: 50, by: [user]}
              - name: authz
                config:
                  rules:
                    - {methods: [GET, HEAD], any_of: ["orders:read"]}
                    - {methods: [POST, PUT, DELETE], all_of: ["orders:write"]}
                  roles: {admin: ["*"], support: ["orders:read", "users:*"]}
            # Retries on another instance when a connection fails or resets; while the
            # order-service breaker is open, a JSON default answers (x-gateway-fallback).
            route_filter:
              name: router
              config:
                cluster: order-service
                retry_policy:
                  retry_on: [connect-failure, reset]
                  num_retries: 2
                  per_try_timeout: 3s
                fallback:
                  response:
                    status: 200
                    headers: {content-type: application/json, cache-control: no-store}
                    body: '{"orders":[],"degraded":true,"message":"order-service is unavailable; try again shortly"}'
                  on: [no_healthy_upstream]
          - name: payments
            match: {prefix: /api/payments/, methods: [GET, POST]}
            timeout: 5s
            # OAuth2 access tokens, checked by the demo IdP's introspection endpoint (RFC 7662):
            # active and with scope `payments`. Results are cached per worker until exp.
            pre_filters:
              - *cors
              - name: oauth2_introspection
                config:
                  cluster: idp
                  path: /oauth2/introspect
                  client_id: demo-gateway
                  client_secret_env: DEMO_IDP_CLIENT_SECRET
                  required_scopes: [payments]
                  timeout_ms: 1000
                  claim_headers: [{claim: sub, header: x-user-id}]
            route_filter: {name: router, config: {cluster: payment-service}}
          - name: partner
            # An API key on the plan demo-basic: 5 requests/s, 1,000 a day (counted in this
            # gateway's memory; a plan with `redis` shares it across gateways).
            match: {path_template: "/api/partner/**"}
            pre_filters:
              - *cors
              - {name: api_key_auth, config: {query_param: api_key}}
            route_filter: {name: router, config: {cluster: product-service}}
          - name: products
            # Response cache (docs/caching.md): 30 s per Accept-Language and API-Version (the
            # products service varies on both without sending Vary); X-Cache on every response.
            # API versions: the API-Version header or /api/v1/... (stripped upstream); none
            # means 2. Version 1 is deprecated: its responses carry Deprecation, Sunset and a
            # Link to the migration doc. Any other version gets 400 listing 1 and 2.
            match: {regex: "/api/(v[0-9]+/)?products/.*"}
            pre_filters:
              - *cors
              - name: cache
                config:
                  default_ttl_seconds: 30
                  key_headers: [accept-language, api-version]
                  stale_if_error_seconds: 300
            route_filter:
              name: versioning
              config:
                sources: [{header: API-Version}, {path_prefix: /api/}]
                default_version: "2"
                versions:
                  - name: "1"
                    cluster: product-service
                    deprecation: "2026-01-01T00:00:00Z"
                    sunset: "2027-06-30T23:59:59Z"
                    link: https://docs.example.com/products/migrate-to-v2
                  - {name: "2", cluster: product-service}
          - name: dashboard
            # One request, three sub-requests in parallel (aggregate): the user, their orders and
            # their payments, merged under "user", "orders" and "payments". The parts go straight
            # to the clusters (not through the /api/orders and /api/payments routes' auth); a
            # failed optional part is null plus an "errors" entry, a failed user is 502.
            match: {path_template: "/api/dashboard/{user_id}", methods: [GET]}
            route_filter:
              name: aggregate
              config:
                path_template: "/api/dashboard/{user_id}"
                timeout_ms: 2000
                parts:
                  - {name: user, cluster: user-service, path: "/api/users/{user_id}"}
                  - {name: orders, cluster: order-service, path: "/api/orders?user={user_id}",
                     optional: true}
                  - {name: payments, cluster: payment-service,
                     path: "/api/payments?user={user_id}", optional: true}
          - name: functions
            # A Lambda-style function (the demo's runtime: POST
            # /2015-03-31/functions/hello/invocations) called with the API Gateway payload 2.0
            # event; its result is the response.
            match: {path: /api/functions/hello}
            route_filter:
              name: function
              config:
                cluster: functions
                function_name: hello
                route_key: "GET /api/functions/hello"
          - name: legacy-customers
            # REST -> SOAP: the JSON body ({"customerId": 42}) becomes a SOAP 1.1 GetCustomer
            # call to the legacy customer service (WSDL: GET /soap/customers?wsdl on it); the
            # answer comes back as JSON, a SOAP Fault as a JSON error with its faultstring
            # (400 for Client faults, else 502). Invalid JSON gets 400 invalid_json.
            match: {path: /api/legacy/customers/lookup, methods: [POST]}
            route_filter:
              name: soap
              config:
                cluster: legacy-soap
                path: /soap/customers
                operation: GetCustomer
                namespace: "urn:demo:customers"
                action: "urn:demo:customers:GetCustomer"
                array_elements: [phone]
                client_fault_status: 400
                timeout_ms: 3000
          - name: profile
            # The user service's answer reshaped on the way out: `instance` renamed to
            # `served_by`, `headers` removed, every other field (and number) as it came.
            match: {path_template: "/api/profile/{id}"}
            pre_filters:
              - *cors
              - name: json_transform
                config:
                  response:
                    - {op: rename, path: instance, to: served_by}
                    - {op: remove, path: headers}
            route_filter: {name: router, config: {cluster: user-service}}
          - name: ws-echo
            # WebSocket: the Upgrade goes to the demo upstream's echo endpoint after the pre
            # filters, then bytes flow both ways; a tunnel idle for 5 minutes is closed.
            match: {path: /ws/echo}
            upgrade: {allowed_types: [websocket], idle_timeout: 300s}
            route_filter: {name: router, config: {cluster: echo-service}}
          - name: health
            match: {path: /healthz}
            route_filter: {name: direct_response, config: {status: 200, body: "ok\n"}}
clusters:
  - name: user-service
    lb_policy: ROUND_ROBIN
    endpoints: [{address: "127.0.0.1:9101"}, {address: "127.0.0.1:9102"}]
  - name: order-service
    lb_policy: LEAST_REQUEST
    endpoints: [{address: "127.0.0.1:9201"}, {address: "127.0.0.1:9202"}]
    # Opens after 5 failures in a row (5xx, connect failures, resets, timeouts) or half of 20+
    # requests in 10 s failing; open 5 s (doubling on each re-open, up to 30 s), then one probe.
    circuit_breaker:
      consecutive_failures: 5
      error_rate_percent: 50
      min_requests: 20
      open_duration: 5s
      max_open_duration: 30s
    retry_budget: {budget_percent: 20, min_retry_concurrency: 3}
  - name: payment-service
    lb_policy: RING_HASH
    hash_policy: {header: x-user-id}
    endpoints: [{address: "127.0.0.1:9301"}, {address: "127.0.0.1:9302"}]
  - name: idp
    # The demo's identity provider (a demo_upstream): OAuth2 token introspection.
    endpoints: [{address: "127.0.0.1:9501"}]
  - name: functions
    # The demo's function runtime (the same demo_upstream as the IdP answers
    # /2015-03-31/functions/<name>/invocations).
    endpoints: [{address: "127.0.0.1:9501"}]
  - name: legacy-soap
    # The legacy SOAP customer service (POST /soap/customers): the IdP's demo_upstream serves it.
    endpoints: [{address: "127.0.0.1:9501"}]
  - name: echo-service
    # The WebSocket echo (/ws/echo) of the IdP's demo upstream.
    endpoints: [{address: "127.0.0.1:9501"}]
  - name: product-service
    lb_policy: RANDOM
    endpoints: [{address: "127.0.0.1:9401", weight: 3}, {address: "127.0.0.1:9402", weight: 1}]
  - name: greeter
    # The demo gRPC server: HTTP/2 with prior knowledge, up to 100 calls per connection.
    protocol: H2C
    http2: {max_concurrent_streams: 100}
    endpoints: [{address: "127.0.0.1:9601"}]
)yaml";

} // namespace gw
