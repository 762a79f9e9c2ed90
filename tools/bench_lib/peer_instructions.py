#!/usr/bin/env python3
"""Instructions per request of gatewayd, nginx and HAProxy, each counted by callgrind in the
proxy's own process, for the HTTP/2 and TLS scenarios of tools/bench (issue 14).

tools/bench measures CPU time, which on a shared 2-core host drifts by several percent between
rounds; instruction counts do not (docs/benchmarks.md). They leave out the kernel's share (the
system calls and TCP segments, counted separately with strace and nstat) and what a cache miss
costs, so they complement the CPU numbers rather than replace them.

  peer_instructions.py --gatewayd PATH [--scenarios h2c,h2-tls,tls-handshake]
                       [--requests N] [--handshakes N]

Every proxy runs one worker (nginx with master_process off, so that the process callgrind runs
is the one serving) in front of the bench's nginx upstream, with the bench's own configurations:
tls_bench.py's for the TLS listeners (TLS 1.3, ECDSA P-256, no resumption), and an h2c listener
for each. For each scenario and proxy: warm-up, zero the counters, the measured load, dump.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402
import instructions as I  # noqa: E402  (the upstream, callgrind dumps)
import tls_bench as T  # noqa: E402

PROXIES = ("gatewayd", "nginx", "haproxy")
SCENARIOS = ("h2c", "h2-tls", "tls-handshake")


def gatewayd_conf(tls_port, h2c_port, up_port, cert, key):
    """tls_bench's TLS listener plus an h2c one, both routing to the upstream."""
    return T.gatewayd_conf(tls_port, up_port, cert, key).replace("clusters:", """  - name: h2c
    address: 127.0.0.1:{h2c}
    http2: {{enabled: true}}
{routes}clusters:""".format(h2c=h2c_port, routes=T.ALL_TO_UP), 1)


def nginx_conf(tmp, sub, tls_port, h2c_port, up_port, cert, key):
    """tls_bench's nginx, in one process, with an h2c server next to the TLS one."""
    text = T.nginx_conf(tmp, sub, tls_port, up_port, cert, key)
    h2c = """
    server {{
        listen 127.0.0.1:{h2c} http2;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""".format(h2c=h2c_port)
    text = text[:text.rstrip().rfind("}")] + h2c.lstrip("\n")
    return "master_process off;\n" + text


def haproxy_conf(tls_port, h2c_port, up_port, both):
    return T.haproxy_conf(tls_port, up_port, both).replace("\nbackend be\n", """
frontend fe_h2c
    bind 127.0.0.1:{h2c} proto h2
    default_backend be

backend be
""".format(h2c=h2c_port), 1)


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("port %d did not open" % port)


def h2load(url, n):
    out = subprocess.run(["h2load", "-n", str(n), "-c", "5", "-m", "10", url],
                         capture_output=True, text=True, timeout=900).stdout
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    m2 = re.search(r"status codes: (\d+) 2xx", out)
    if not m or not m2:
        raise RuntimeError("h2load output not understood:\n" + out)
    return min(int(m.group(1)), int(m2.group(1)))


def handshakes(port, n, cert):
    """n new TLS 1.3 connections, one GET with Connection: close each: the 200s."""
    ctx = T.client_context(cert, ["http/1.1"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return sum(T.get_once(port, ctx)[0].startswith("HTTP/1.1 200") for _ in range(n))


def run_proxy(name, argv, env, ports, scenarios, args, tmp, cert):
    """Starts one proxy under callgrind and measures each scenario: {scenario: Ir per request}."""
    out_file = os.path.join(tmp, "callgrind.%s.out" % name)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file]
                            + argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = {}
    try:
        wait_port(ports["tls"])
        wait_port(ports["h2c"])
        for sc in scenarios:
            if sc == "tls-handshake":
                load = lambda n: handshakes(ports["tls"], n, cert)  # noqa: E731
                warm, n = max(args.handshakes // 10, 10), args.handshakes
            else:
                scheme, port = ("http", ports["h2c"]) if sc == "h2c" else ("https", ports["tls"])
                url = "%s://127.0.0.1:%d/" % (scheme, port)
                load = lambda n, url=url: h2load(url, n)  # noqa: E731
                warm, n = args.warmup, args.requests
            load(warm)
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                           capture_output=True, timeout=120)
            done = load(n)
            tag = "m_" + sc.replace("-", "_")
            subprocess.run(["callgrind_control", "--dump=" + tag, str(proc.pid)], check=True,
                           capture_output=True, timeout=300)
            if done != n:
                raise RuntimeError("%s %s: %d of %d requests succeeded" % (name, sc, done, n))
            results[sc] = (I.callgrind_total(out_file, tag), done)
    finally:
        proc.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatewayd", required=True)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--handshakes", type=int, default=300)
    args = ap.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit("peer_instructions: unknown scenario %r (known: %s)" %
                     (s, ", ".join(SCENARIOS)))
    for tool in ("valgrind", "callgrind_control", "h2load", "nginx", "haproxy", "openssl"):
        if shutil.which(tool) is None:
            sys.exit("peer_instructions: %s is not installed" % tool)
    tmp = tempfile.mkdtemp(prefix="gw-peer-instr-")
    os.chmod(tmp, 0o755)  # nginx workers run as an unprivileged user when started by root
    upstream, up_port = I.start_upstream(tmp)
    # No TLS 1.3 tickets for any of them (tls_bench.py: no resumption in the TLS scenarios).
    ossl = os.path.join(tmp, "openssl-no-tickets.cnf")
    with open(ossl, "w") as f:
        f.write(T.OPENSSL_NO_TICKETS)
    env = dict(os.environ, OPENSSL_CONF=ossl)
    results = {}
    try:
        cert, key, both = T.make_cert(os.path.join(tmp, "tls"))
        for name in PROXIES:
            ports = {"tls": B.free_port(), "h2c": B.free_port()}
            if name == "gatewayd":
                cfg = os.path.join(tmp, "gatewayd.yaml")
                with open(cfg, "w") as f:
                    f.write(gatewayd_conf(ports["tls"], ports["h2c"], up_port, cert, key))
                argv = [args.gatewayd, "--config", cfg, "--workers", "1", "--access-log", "off",
                        "--admin-address", "127.0.0.1:%d" % B.free_port(),
                        "--admin-grpc-address", "off"]
                # gatewayd re-executes itself with this set unless it is set already (see
                # instructions.py): set it, so that callgrind runs the serving process.
                penv = dict(env, GLIBC_TUNABLES="glibc.malloc.tcache_count=128")
            elif name == "nginx":
                sub = "nginx"
                os.makedirs(os.path.join(tmp, sub), exist_ok=True)
                cfg = os.path.join(tmp, sub, "nginx.conf")
                with open(cfg, "w") as f:
                    f.write(nginx_conf(tmp, sub, ports["tls"], ports["h2c"], up_port, cert, key))
                argv = ["nginx", "-p", os.path.join(tmp, sub), "-e",
                        os.path.join(tmp, sub, "error.log"), "-c", cfg]
                penv = env
            else:
                cfg = os.path.join(tmp, "haproxy.cfg")
                with open(cfg, "w") as f:
                    f.write(haproxy_conf(ports["tls"], ports["h2c"], up_port, both))
                argv = ["haproxy", "-db", "-f", cfg]
                penv = env
            results[name] = run_proxy(name, argv, penv, ports, scenarios, args, tmp, cert)
            for sc in scenarios:
                total, done = results[name][sc]
                print("%-14s %-9s %10.0f instructions/request  (%d Ir over %d)" %
                      (sc, name, total / done, total, done), flush=True)
    finally:
        I.stop_nginx(upstream)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("%-14s %12s %12s %12s %11s %11s" % ("scenario", "gatewayd", "nginx", "haproxy",
                                               "gw/nginx", "gw/haproxy"))
    for sc in scenarios:
        per = {p: results[p][sc][0] / results[p][sc][1] for p in PROXIES}
        print("%-14s %12.0f %12.0f %12.0f %10.3fx %10.3fx" % (
            sc, per["gatewayd"], per["nginx"], per["haproxy"], per["gatewayd"] / per["nginx"],
            per["gatewayd"] / per["haproxy"]))


if __name__ == "__main__":
    main()
