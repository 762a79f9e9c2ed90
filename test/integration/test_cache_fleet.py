"""A fleet-wide cache purge through gateway-control (`gatewayctl cache purge --fleet`): the purge
rides a new snapshot version to every targeted proxy, each carries it out once, and a proxy that
connects later gets it too."""
import os
import re
import tempfile
import time

from harness import Upstream, free_port, wait_for
from test_control_e2e import Control, Proxy, get

CONFIG = """
listeners:
  - name: main
    address: "127.0.0.1:%d"
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - name: cached
            match: {prefix: /c/}
            pre_filters:
              - {name: cache, config: {default_ttl_seconds: 300}}
            route_filter: {name: router, config: {cluster: up}}
clusters:
  - name: up
    endpoints: [{address: "%s"}]
"""


def entries(proxy):
    return proxy.value("gateway_cache_entries") or 0


def test_fleet_purge_reaches_every_proxy_through_the_control_plane():
    port = free_port()
    with Upstream(service="origin") as up, Control() as cp:
        path = os.path.join(tempfile.mkdtemp(prefix="gw-fleet-"), "c.yaml")
        with open(path, "w") as f:
            f.write(CONFIG % (port, up.address))
        with Proxy(cp, "n1") as p1, Proxy(cp, "n2") as p2:
            cp.apply(path)
            # Both proxies listen on the same port (SO_REUSEPORT): fresh connections spread
            # over them until each has cached the pages.
            deadline = time.time() + 10
            i = 0
            while time.time() < deadline and (entries(p1) < 3 or entries(p2) < 3):
                assert get(port, "/c/page/%d" % (i % 3))[0] == 200
                i += 1
            assert entries(p1) >= 3 and entries(p2) >= 3, (entries(p1), entries(p2))
            rc, out, err = cp.ctl("cache", "purge", "--fleet", "--prefix", "/c/page/", "--wait",
                                  "--timeout", "20s")
            assert rc == 0, (rc, out, err)
            m = re.search(r"cache purge (purge-\d+-[0-9a-f]+): applied as version (\d+)", out)
            assert m, out
            purge_id = m.group(1)
            assert "n1: ACK" in out and "n2: ACK" in out, out
            for p in (p1, p2):
                assert entries(p) == 0, p.node_id
                assert re.search(r"cache purge '%s' \(prefix /c/page/\): \d+ entries removed"
                                 % purge_id, p.stderr()), p.stderr()
            # The snapshot keeps the purge: a proxy connecting later carries it out once (on its
            # empty cache), and a later push does not repeat it on the others.
            with Proxy(cp, "n3") as p3:
                wait_for(lambda: purge_id in p3.stderr(), timeout=10, what="n3 got the purge")
            for _ in range(6):
                get(port, "/c/page/1")
            before = {p.node_id: p.stderr().count(purge_id) for p in (p1, p2)}
            cp.apply(path)  # a new version without the purge (the file has none)
            rc, out, err = cp.ctl("get", "snapshot", "-o", "json")
            assert rc == 0 and purge_id not in out
            assert {p.node_id: p.stderr().count(purge_id) for p in (p1, p2)} == before
            # A purge needs exactly one selector.
            rc, out, err = cp.ctl("cache", "purge", "--fleet")
            assert rc == 2 and "exactly one of --key, --prefix, --tag or --all" in err, err
