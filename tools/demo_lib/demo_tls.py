"""The demo's HTTPS listener: makes a local CA and a certificate for `localhost` and `127.0.0.1`
(openssl CLI, into DIR), and adds to a config (the embedded example, printed by gatewayd) a secret
with those files and a listener `public-tls` on ADDRESS that serves the same virtual hosts and
filters as `public` (YAML aliases of the example's anchors), with HTTP/2 by ALPN.

    python3 tools/demo_lib/demo_tls.py CONFIG DIR [ADDRESS]   # ADDRESS default 127.0.0.1:8443

Prints the CA file's path. The private keys stay in DIR (a temp dir of the demo's own); the
gateway reads them from there (DataSource `file`)."""
import os
import subprocess
import sys


def run_openssl(args):
    subprocess.run(["openssl"] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=30)


def make_pki(d):
    """CA (ca.pem) and a server certificate for localhost / 127.0.0.1 (localhost.pem, .key)."""
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run_openssl(["req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.pem"),
                "-days", "30", "-subj", "/O=Gateway Demo/CN=Gateway Demo CA"])
    run_openssl(["req"] + ec + ["-keyout", p("localhost.key"), "-out", p("localhost.csr"),
                "-subj", "/O=Gateway Demo/CN=localhost"])
    with open(p("localhost.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run_openssl(["x509", "-req", "-in", p("localhost.csr"), "-CA", p("ca.pem"), "-CAkey",
                 p("ca.key"), "-CAcreateserial", "-out", p("localhost.pem"), "-days", "30",
                 "-extfile", p("localhost.ext")])
    os.chmod(p("localhost.key"), 0o600)
    os.chmod(p("ca.key"), 0o600)
    return p("ca.pem"), p("localhost.pem"), p("localhost.key")


def add_tls_listener(config, cert, key, address):
    """The example with the HTTPS listener and its secret. The listener goes right after
    `public` (YAML aliases must follow their anchors), the secret at the end."""
    for anchor in ("&public_limits", "&public_pre", "&public_post", "&public_hosts"):
        if anchor not in config:
            raise SystemExit("demo_tls: the config has no %s anchor" % anchor)
    listener = """  # HTTPS (tools/demo): the public listener's hosts and filters behind TLS, HTTP/2 by ALPN.
  - name: public-tls
    address: %s
    http2: {enabled: true}
    tls:
      certificates: [{secret: demo-localhost}]
    limits: *public_limits
    pre_filters: *public_pre
    post_filters: *public_post
    forward_trailers: true
    virtual_hosts: *public_hosts
""" % address
    marker = "\nclusters:\n"
    if marker not in config:
        raise SystemExit("demo_tls: the config has no top-level clusters: key")
    config = config.replace(marker, "\n" + listener + "clusters:\n", 1)
    if not config.endswith("\n"):
        config += "\n"
    return config + """# The demo's certificate for localhost and 127.0.0.1 (tools/demo made it; the key stays in
# that directory and is read by the gateway itself).
secrets:
  - name: demo-localhost
    certificate_chain: {file: %s}
    private_key: {file: %s}
""" % (cert, key)


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    path, d = sys.argv[1], sys.argv[2]
    address = sys.argv[3] if len(sys.argv) == 4 else "127.0.0.1:8443"
    ca, cert, key = make_pki(d)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(add_tls_listener(text, cert, key, address))
    print(ca)


if __name__ == "__main__":
    main()
