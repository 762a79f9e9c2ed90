"""`gatewayctl keys` end to end: the real gateway-control, a gatewayd attached to it, a real
redis-server. `keys create` prints a key once and stores only its hash (never in the snapshot,
`get snapshot` or the proxy's config dump), the key works through the proxy once ACKed, `keys
list` shows no secrets, `keys usage` reads today's and the period's counts from Redis, and `keys
revoke` makes the key 401 api_key_disabled."""
import hashlib
import json
import re
import time

from harness import RedisServer, free_port, wait_for
from test_control_e2e import Configs, Control, Proxy, get, listener


def keyed_config(port, redis):
    route = {"name": "partner", "match": {"prefix": "/api/partner"},
             "pre_filters": [{"name": "api_key_auth", "config": {}}],
             "route_filter": {"name": "direct_response", "config": {"status": 200, "body": "ok"}}}
    return {"listeners": [listener("main", port, [route])],
            "redis_servers": [{"name": "quotas", "address": redis.address}],
            "usage_plans": [{"name": "gold", "redis": "quotas",
                             "quota": {"limit": 1000, "period": "MONTH"}}]}


def keyed_get(port, key):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/api/partner/x", headers={"X-API-Key": key})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_keys_create_list_usage_revoke():
    port = free_port()
    configs = Configs()
    with RedisServer() as redis, Control() as cp, Proxy(cp, "edge-1") as gw:
        path = configs.write([])
        with open(path, "w") as f:
            json.dump(keyed_config(port, redis), f)
        cp.apply(path)
        rc, out, err = cp.ctl("keys", "create", "--consumer", "acme", "--plan", "gold",
                              "--expires", "30d", "--roles", "partner,billing", "--id", "acme-1",
                              "--wait", "--timeout", "20s")
        assert rc == 0, (rc, out, err)
        key = re.search(r"^key: (gwk_[A-Za-z0-9_-]{43})$", out, re.M).group(1)
        assert "edge-1: ACK" in out, out
        digest = hashlib.sha256(key.encode()).hexdigest()
        # Only the hash is anywhere: the stored snapshot and the proxy's config.
        rc, snap, _ = cp.ctl("get", "snapshot", "-o", "json")
        assert rc == 0 and key not in snap and digest in snap, snap
        dump = gw.admin("/config_dump")[1].decode()
        assert key not in dump and digest in dump

        for _ in range(3):
            assert keyed_get(port, key)[0] == 200
        assert keyed_get(port, "gwk_not-a-key")[0] == 401

        rc, out, err = cp.ctl("keys", "list")
        assert rc == 0, err
        row = [l for l in out.splitlines() if l.startswith("acme-1")][0].split()
        assert row[1:4] == ["acme", "partner,billing", "gold"] and row[-1] == "active", out
        assert key not in out and digest not in out

        rc, out, err = cp.ctl("keys", "usage", "acme-1")
        assert rc == 0, (out, err)
        assert re.search(r"^today:\s+3 requests$", out, re.M), out
        assert re.search(r"^this month:\s+3 requests", out, re.M), out
        assert re.search(r"^remaining:\s+997$", out, re.M), out

        rc, out, err = cp.ctl("keys", "usage", "acme-1", "-o", "json")
        assert rc == 0, err
        usage = json.loads(out)
        assert (usage["today"], usage["this_period"], usage["remaining"], usage["limit"]) == \
            (3, 3, 997, 1000), usage
        rc, out, err = cp.ctl("keys", "list", "-o", "json")
        assert rc == 0, err
        assert [k["id"] for k in json.loads(out)] == ["acme-1"], out

        rc, out, err = cp.ctl("keys", "revoke", "acme-1", "--wait", "--timeout", "20s")
        assert rc == 0, (out, err)
        status, body = keyed_get(port, key)
        assert status == 401 and json.loads(body)["error"] == "api_key_disabled", body
        rc, out, _ = cp.ctl("keys", "list")
        assert "revoked" in out

        # Problems are named.
        rc, _, err = cp.ctl("keys", "revoke", "nobody")
        assert rc == 1 and "no API key with id 'nobody'" in err, err
        rc, _, err = cp.ctl("keys", "create", "--consumer", "x", "--plan", "platinum")
        assert rc == 1 and "unknown usage plan 'platinum'" in err, err
        rc, _, err = cp.ctl("keys", "create", "--plan", "gold")
        assert rc == 2 and "needs --consumer" in err, err
        rc, _, err = cp.ctl("keys", "create", "--consumer", "x", "--expires", "soon")
        assert rc == 2 and "bad --expires 'soon'" in err, err
