"""tools/bench's reporting (tools/bench_lib/bench.py): ratios of medians, the medians of the
rounds' own ratios, and the issue-4 target verdicts, on made-up rounds with known answers. The
benchmark itself is not run here (it is long and machine-dependent: see docs/benchmarks.md)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "bench_lib"))
import bench as B  # noqa: E402


def rounds(*cpu_rps_p99):
    return [{"cpu_us_per_req": c, "rps": r, "p99_ms": p, "errors": 0}
            for c, r, p in cpu_rps_p99]


def scenario(name, targets):
    results = {name: {}}
    by_process = any("-w" in t for t in targets)  # the scaling scenario names processes
    names = [t if by_process else "%s-w1" % t for t in targets]
    for n, runs in zip(names, targets.values()):
        results[name][n] = runs
    sc = {"name": name, "targets": names, "what": name, "tool": "wrk", "by_process": by_process}
    return sc, results


def summary_of(*named):
    scs, results = [], {}
    for name, targets in named:
        sc, r = scenario(name, targets)
        scs.append(sc)
        results.update(r)
    return B.summarize(scs, results)


def test_per_round_ratio_cancels_a_drifting_host():
    # The host slows down 2x in round 2 for everyone: per-round ratios stay 0.8.
    g = rounds((20, 100, 1.0), (40, 50, 2.0), (20, 100, 1.0))
    n = rounds((25, 80, 1.0), (50, 40, 2.0), (25, 80, 1.0))
    med, each = B.per_round_ratio(g, n, "cpu_us_per_req")
    assert med == 0.8 and each == [0.8, 0.8, 0.8], (med, each)
    # A missing value in one round is skipped, not counted as zero.
    g[1]["cpu_us_per_req"] = None
    med, each = B.per_round_ratio(g, n, "cpu_us_per_req")
    assert each == [0.8, 0.8], each


def test_ratios_and_by_round_medians_in_summary_and_table():
    s = summary_of(("plain", {
        "gatewayd": rounds((20, 110, 1.0), (30, 60, 3.0), (21, 100, 1.0)),
        "nginx": rounds((25, 100, 1.0), (24, 100, 1.0), (26, 100, 1.0)),
    }))
    r = s["plain"]["ratios"]["gatewayd/nginx"]
    assert r["cpu_per_req"] == round(21 / 25, 3), r          # medians 21 / 25
    pr = r["per_round_median"]
    assert pr["cpu_per_req_rounds"] == [0.8, 1.25, 0.808], pr
    assert pr["cpu_per_req"] == 0.808, pr
    text = B.table(s)
    assert "by round" in text and "0.81x" in text, text


def test_targets_need_both_the_median_ratio_and_the_by_round_ratio():
    s = summary_of(
        ("plain", {
            "gatewayd": rounds((19, 120, 0.9), (20, 115, 0.9), (21, 112, 0.95)),
            "nginx": rounds((25, 100, 1.0), (26, 100, 1.0), (25, 100, 1.0)),
        }),
        ("policy", {
            "gatewayd": rounds((24, 100, 1.0), (27, 100, 1.0), (24, 100, 1.0)),
            "haproxy": rounds((40, 60, 1.0), (40, 70, 1.0), (40, 70, 1.0)),
        }),
        ("workers", {
            "gatewayd": rounds((20, 150, 1.0), (20, 150, 1.0), (20, 150, 1.0)),
        }))
    t = {x["target"]: x for x in B.targets(s)}
    # cpu 20/25 = 0.8, by round 0.76, 0.77, 0.84 -> 0.77
    assert t["plain: cpu/request vs nginx <= 0.8"]["met"], t
    assert t["plain: req/s vs nginx >= 1.1"]["met"]
    assert t["plain: p99 vs nginx <= 1.0"]["met"]
    # policy cpu 24 against nginx plain 25: met; by round 24/25, 27/26, 24/25 -> 0.96: met.
    assert t["policy: cpu/request vs nginx plain <= 1.0"]["met"]
    # req/s 100 against 70 (median) = 1.43: missed.
    assert not t["policy: req/s vs haproxy jwt_verify >= 1.5"]["met"]
    w = t["workers (plain): 2 workers vs 1 req/s >= 1.6"]
    assert not w["met"] and abs(w["ratio"] - 150 / 115) < 0.001, w
    text = B.targets_table(B.targets(s))
    assert "MISSED" in text and " met" in text, text


def test_proxy_bound_scaling_target_compares_the_two_gatewayd_processes():
    s = summary_of(("scaling", {
        "gatewayd-w1": rounds((60, 16000, 3.0), (61, 15000, 3.0), (60, 16500, 3.0)),
        "gatewayd-w2": rounds((62, 27000, 2.0), (63, 26000, 2.0), (61, 27500, 2.0)),
    }))
    assert set(s["scaling"]["targets"]) == {"gatewayd-w1", "gatewayd-w2"}, s
    for r in s["scaling"]["targets"]["gatewayd-w1"]["rounds"]:
        r["client_cores"] = 0.3
    s["scaling"]["targets"]["gatewayd-w1"]["client_cores"] = 0.3
    s["scaling"]["targets"]["gatewayd-w2"]["client_cores"] = 0.5
    t = {x["target"]: x for x in B.targets(s)}
    w = t["workers (proxy-bound): 2 workers vs 1 >= 1.6"]
    assert abs(w["ratio"] - 27000 / 16000) < 0.001 and w["met"], w   # by round 1.69, 1.73, 1.67
    assert "wrk used 0.30 cores against 1 worker, 0.50 against 2" in w["note"], w
    assert "wrk used 0.30" in B.targets_table(B.targets(s))
