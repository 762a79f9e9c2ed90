#!/usr/bin/env python3
"""Writes the seed corpora test/fuzz/corpus/<target>/ from the project's existing test vectors:
the request and response heads of test/http/http1_codec_test.cc and
test/integration/test_smuggling.py, the targets of test/http/path_test.cc, JWTs and claim sets
like test/policy/jwt_test.cc's (HS256 with the fuzzer's secret), the JSON of
test/policy/json_base64_test.cc, the permission pairs of test/filters/authz/permission_matcher_test.cc,
and the configs of the integration tests,
docs/config-reference.md and source/exe/example_config.cc. Deterministic: running it again
rewrites the same files. Usage: test/fuzz/make_corpus.py (from anywhere)."""
import base64
import hashlib
import hmac
import importlib
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
MAX_SEEDS = 40  # per target: a few tens of small files


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def c_literal(body):
    """The bytes of a C++ string literal's body (the escapes the tests use)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        n = body[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
            continue
        if n in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
            continue
        out += {"r": b"\r", "n": b"\n", "t": b"\t", '"': b'"', "\\": b"\\", "'": b"'",
                "0": b"\0"}.get(n, n.encode())
        i += 2
    return bytes(out)


LITERAL = r'R"\((?:.|\n)*?\)"|"(?:[^"\\\n]|\\.)*"'


def literal_bytes(lit):
    """A C++ literal's bytes: raw R"(...)" as written, else with escapes."""
    if lit.startswith('R"('):
        return lit[3:-2].encode("utf-8")
    return c_literal(lit[1:-1])


def call_args(source, functions):
    """The first argument of each call to one of `functions` when it is made of adjacent string
    literals only (C++ concatenation), as bytes."""
    rx = re.compile(r"\b(?:%s)\(\s*((?:(?:%s)\s*)+)[,)]" % ("|".join(functions), LITERAL))
    out = []
    for m in rx.finditer(source):
        out.append(b"".join(literal_bytes(l) for l in re.findall(LITERAL, m.group(1))))
    return out


def py_bytes_args(source, functions):
    """The same for Python bytes literals (b"..." b"...") in calls to `functions`."""
    lit = r'b"(?:[^"\\\n]|\\.)*"'
    rx = re.compile(r"\b(?:%s)\(\s*((?:%s\s*)+)[,)]" % ("|".join(functions), lit))
    out = []
    for m in rx.finditer(source):
        out.append(b"".join(eval(l) for l in re.findall(lit, m.group(1))))  # noqa: S307
    return out


def pick(items, limit=MAX_SEEDS):
    """Up to `limit` distinct items, spread evenly over the list (keeps its variety)."""
    seen, uniq = set(), []
    for it in items:
        if it not in seen:
            seen.add(it)
            uniq.append(it)
    if len(uniq) <= limit:
        return uniq
    step = len(uniq) / limit
    return [uniq[int(i * step)] for i in range(limit)]


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in seeds:
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (target, len(seeds)))


# --- HTTP/1 -----------------------------------------------------------------------------------
# Driver prefix (test/fuzz/http1_fuzz.h): flags byte, 4 split-seed bytes.

def http1():
    codec = read("test/http/http1_codec_test.cc")
    vectors = call_args(codec, ["expectComplete", "expectBadRequest", "expectError", "run"])
    smuggling = read("test/integration/test_smuggling.py")
    vectors += py_bytes_args(smuggling, ["_rejected"])
    chunked_head = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    vectors += [chunked_head + body for body in py_bytes_args(smuggling, ["_chunked"])]
    requests = [v for v in vectors if not v.startswith(b"HTTP/")]
    responses = [v for v in vectors if v.startswith(b"HTTP/")]
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    # Pipelining: a message followed by another on the same connection.
    requests += [requests[0] + smuggled, b"\r\n" + smuggled + smuggled]
    req = pick(requests)
    seeds = []
    for i, v in enumerate(req):
        flags = 1 if i % 10 == 9 else 0  # a few with tiny limits
        seeds.append(bytes([flags, 0x12, 0x34, i & 0xFF, 0x9A]) + v)
    write("http1_request_fuzz", seeds)

    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    responses += [b"HTTP/1.1 100 Continue\r\n\r\n" + final,
                  b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + final,
                  final + b"HTTP/1.1 204 No Content\r\n\r\n" + final,
                  b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome bytes until close"]
    seeds = []
    for i, v in enumerate(pick(responses)):
        flags = [0, 8, 4, 12][i % 4]  # EOF at the end, HEAD request
        seeds.append(bytes([flags, 0x56, 0x78, i & 0xFF, 0x0B]) + v)
    write("http1_response_fuzz", seeds)


# --- paths ------------------------------------------------------------------------------------

def paths():
    src = read("test/http/path_test.cc")
    targets = call_args(src, ["norm", "err", "normalizeTarget"])
    seeds = []
    for i, t in enumerate(pick(targets)):
        seeds.append(bytes([3 if i % 4 else i % 3]) + t)  # mostly the defaults (both options)
    write("path_normalize_fuzz", seeds)


# --- JWT --------------------------------------------------------------------------------------
# Modes of test/fuzz/jwt_fuzz.cc: 0 token, 1 mutated valid token, 2 claims signed HS256,
# 3 header + claims signed, 4 JSON for the scanner.

SECRET = b"fuzz-secret-0123456789"  # jwt_fuzz.cc's kSecret
NOW = 1700000000


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256(header, claims, key=SECRET, digest=hashlib.sha256):
    signing = b64(header) + b"." + b64(claims)
    return signing + b"." + b64(hmac.new(key, signing, digest).digest())


def jwt():
    hdr = b'{"alg":"HS256","typ":"JWT"}'
    good = (b'{"sub":"alice","iss":"https://issuer.test","aud":"api","iat":%d,"exp":%d}'
            % (NOW, NOW + 600))
    claims = [
        good,
        good[:-1] + b',"tier":"gold","n":[1,{"a":"\\u00e9"}]}',
        b'{"iss":"https://issuer.test","aud":["web","api"],"exp":%d}' % (NOW + 600),
        b'{"iss":"https://issuer.test","aud":"api","exp":%d,"nbf":%d}' % (NOW + 600, NOW + 100),
        b'{"iss":"https://issuer.test","aud":"api"}',
        b'{"iss":"https://evil.test","aud":"api","exp":%d}' % (NOW + 600),
        b'{"iss":"https://issuer.test","aud":"api","exp":"soon"}',
        b'{"iss":"https://issuer.test","aud":"api","exp":%d,"exp":%d}' % (NOW + 600, NOW + 9999),
        b'{"iss":"https:\\/\\/issuer.test","aud":"api","exp":1.7e9,"sub":{"x":[true,null]}}',
        b"not json",
    ]
    seeds = [b"\x00" + hs256(hdr, c) for c in claims[:4]]
    seeds += [b"\x00" + t for t in [
        b"", b"abc", b"a.b", b"a.b.c.d.e",
        b64(b'{"alg":"none"}') + b"." + b64(good) + b".",
        hs256(b'{"alg":"HS256","crit":["x"]}', good),
        hs256(hdr, good, digest=hashlib.sha384),
        hs256(b'{"alg":"HS256","alg":"HS256"}', good),
    ]]
    seeds += [b"\x01" + bytes([k]) + edits for k, edits in [
        (0, b""), (1, b"\x80\x00A"), (2, b"\x10\x02\x01"), (0, b"\xff\x01.\x40\x03\xff"),
        (1, b"\xf0\x04\x07\x00\x00=")]]
    seeds += [b"\x02" + c for c in claims]
    seeds += [b"\x03" + bytes([k]) + h + b"\n" + good for k, h in [
        (0, hdr), (1, b'{"alg":"ES256"}'), (2, b'{"alg":"RS256"}'), (3, b'{"alg":"HS384"}'),
        (6, b'{"alg":"HS512","kid":"\\ud83d\\ude00"}')]]
    scanner = call_args(read("test/policy/json_base64_test.cc"), ["members", "scanJsonObject"])
    seeds += [b"\x04" + j for j in scanner]
    write("jwt_fuzz", pick(seeds, 60))


# --- configs ----------------------------------------------------------------------------------

class Addresses(dict):
    """Template substitutions for the integration tests' configs: any {name} is an address."""

    def __missing__(self, key):
        return "127.0.0.1:%d" % (18000 + len(key))


def configs():
    seeds = []
    example = re.search(r'R"yaml\((.*?)\)yaml"', read("source/exe/example_config.cc"), re.S)
    seeds.append(example.group(1).encode())
    doc = read("docs/config-reference.md")
    for block in re.findall(r"```yaml\n(.*?)```", doc, re.S):
        seeds.append(block.encode())
    sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
    for mod, names in [("harness", ["SIMPLE_CONFIG"]), ("test_filters", ["FAULT_CONFIG"]),
                       ("test_http_edge", ["EDGE_CONFIG"]),
                       ("test_operations", ["BAD_CONFIG", "OPS_CONFIG"]),
                       ("test_policy", ["POLICY_CONFIG"]), ("test_proxy_admin", ["CONFIG"]),
                       ("test_routing", ["ROUTING_CONFIG", "STAGES_CONFIG", "HEADERS_CONFIG",
                                         "LB_CONFIG"])]:
        m = importlib.import_module(mod)
        for n in names:
            text = getattr(m, n)
            try:
                text = text.format_map(Addresses())
            except (ValueError, IndexError, KeyError):
                pass
            seeds.append(text.encode())
    # JSON (the parser takes JSON when the text starts with '{'), as the live-config tests push.
    seeds.append(b'{"version": "v1", "listeners": [{"name": "main", "address": "127.0.0.1:8080", '
                 b'"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [{"name": "d", '
                 b'"match": {"path": "/d"}, "route_filter": {"name": "direct_response", '
                 b'"config": {"status": 200, "body": "v1"}}}, {"name": "r", "match": '
                 b'{"prefix": "/"}, "route_filter": {"name": "router", "config": {"cluster": '
                 b'"backend"}}}]}]}], "clusters": [{"name": "backend", "endpoints": '
                 b'[{"address": "127.0.0.1:9000"}]}]}')
    # YAML features the converter handles: anchors, merge keys, duplicate keys.
    seeds.append(b"base: &b {name: router, config: {cluster: c}}\n")
    seeds.append(b"clusters:\n  - &c {name: c, endpoints: [{address: '127.0.0.1:1'}]}\n"
                 b"  - <<: *c\n    name: d\n")
    seeds.append(b"version: a\nversion: b\n")
    write("config_fuzz", pick(seeds))


def permissions():
    # "granted\nrequired" pairs: the examples of test/filters/authz/permission_matcher_test.cc.
    src = read("test/filters/authz/permission_matcher_test.cc")
    pairs = re.findall(r'\{"([^"\n]*)", "([^"\n]*)", (?:true|false)\}', src)
    # Text outside the grammar (compared literally) and the longest valid shapes.
    pairs += [("orders-admin:read", "orders:*"), ("a:-:*", "*:-"), ("ord*:read", "ord*:read"),
              ("a:b:c:d:e:f:g:*", "a:b:c:d:e:f:g:h:i"), (":", "*:"), ("*", "")]
    write("permission_matcher_fuzz", pick([("%s\n%s" % p).encode() for p in pairs]))


# --- SOAP responses ---------------------------------------------------------------------------
# soap_xml_fuzz: an options byte (bit 0 keep_namespaces, bit 1 array_elements, bits 2-6
# max_depth - 2), then a response like those of test/filters/soap/soap_codec_test.cc and the demo
# SOAP service (tools/demo_upstream/soap_service.cc).

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def soap_envelope(inner, ns=SOAP11, prefix="soap"):
    return ('<?xml version="1.0" encoding="utf-8"?>\n<%s:Envelope xmlns:%s="%s"><%s:Body>%s'
            '</%s:Body></%s:Envelope>\n' % (prefix, prefix, ns, prefix, inner, prefix, prefix))


def soap_xml():
    ok = ('<c:GetCustomerResponse xmlns:c="urn:demo:customers"><c:customer id="42" '
          'status="active"><c:name>Ada Lovelace</c:name><c:email>ada@example.com</c:email>'
          '<c:phone>+44 1</c:phone><c:phone>+44 2</c:phone><c:since>1843-07-01</c:since>'
          '</c:customer><c:servedBy>idp-1</c:servedBy></c:GetCustomerResponse>')
    docs = [
        soap_envelope(ok),
        soap_envelope(ok, SOAP12, "env"),
        soap_envelope('<GetCustomerResponse><p>Hello <b>big</b> world</p><c><![CDATA[<x>&]]>'
                      '</c><e>&lt;&amp;&#65;&#x263A;</e><item>1</item><item>2</item>'
                      '<n xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true"/>'
                      '</GetCustomerResponse>'),
        soap_envelope('<soap:Fault><faultcode>soap:Client</faultcode><faultstring>Customer -1 '
                      'does not exist</faultstring><detail><code>404</code></detail>'
                      '</soap:Fault>'),
        soap_envelope('<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>'
                      '<env:Reason><env:Text xml:lang="en">No such customer</env:Text>'
                      '</env:Reason></env:Fault>', SOAP12, "env"),
        '<!DOCTYPE a [<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;&l0;">]>' +
        soap_envelope('<GetCustomerResponse><n>&l1;</n></GetCustomerResponse>'),
        '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
        soap_envelope('<GetCustomerResponse><n>&x;</n></GetCustomerResponse>'),
        soap_envelope("<GetCustomerResponse>" + "<d>" * 40 + "</d>" * 40 +
                      "</GetCustomerResponse>"),
        soap_envelope("<OtherResponse/>"),
        soap_envelope(""),
        '<Envelope xmlns="%s"><Header><t>1</t></Header><Body><GetCustomerResponse '
        'xmlns="urn:c" a="1"><x>1</x></GetCustomerResponse></Body></Envelope>' % SOAP11,
        "<html><body>500</body></html>",
        "",
    ]
    seeds = []
    for i, d in enumerate(docs):
        seeds.append(bytes([(i * 37) & 0x7F]) + d.encode())
    write("soap_xml_fuzz", seeds)


if __name__ == "__main__":
    http1()
    permissions()
    paths()
    jwt()
    configs()
    soap_xml()
