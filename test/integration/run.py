#!/usr/bin/env python3
"""Runs every test_* function of test/integration/test_*.py; prints one line per test and a
summary line "integration: N passed, M failed". Usage: run.py [-k SUBSTRING]."""
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    pattern = None
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-k":
        pattern = args[1]
    passed = failed = 0
    failures = []
    # Every temp dir the tests make (configs, logs, stores) goes under one directory per run,
    # removed at the end when everything passed and kept (its path printed) when something failed.
    run_dir = tempfile.mkdtemp(prefix="gw-it-run-")
    tempfile.tempdir = run_dir
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            fn = getattr(mod, name)
            full = "%s::%s" % (fname, name)
            if pattern and pattern not in full:
                continue
            t0 = time.time()
            try:
                fn()
                passed += 1
                print("PASS %s (%.1fs)" % (full, time.time() - t0), flush=True)
            except Exception:
                failed += 1
                failures.append(full)
                print("FAIL %s (%.1fs)\n%s" % (full, time.time() - t0, traceback.format_exc()),
                      flush=True)
    tempfile.tempdir = None
    if failures:
        print("failed: " + ", ".join(failures))
        print("test files (configs, logs) kept in " + run_dir)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    print("integration: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
