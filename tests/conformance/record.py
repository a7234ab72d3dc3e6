#!/usr/bin/python3
"""Record conformance goldens on TVM's own RPC server (never in CI: CI has no TVM).

  record.py --server 127.0.0.1:9090 [--key cpu] [--group G ...]   run cases, write goldens/G.json
  record.py --server 127.0.0.1:9090 --globals                    write tvm_globals.json: every
                                                                 global TVM's server offers and
                                                                 its metadata (type schema);
                                                                 then scripts/gen-schema-table.py
  record.py --server 127.0.0.1:9190 --check [--group G]          compare a server (ours) with
                                                                 the goldens, as make check does

Start TVM's server first (see ../shared/tvm-peer/README.md), e.g.
  $PEER/build/tvm_rpc server --host=127.0.0.1 --port=9090 --port-end=9091 --key=cpu
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402

TVM_REVISION = "apache/tvm 5d4dc8721307 (2026-08-22), tvm-ffi 12dbf053b3d9, C++ tvm_rpc"


def list_globals(host, port, key):
    """TVM's globals and, for each, what ffi.GetGlobalFuncMetadata answers (its type schema)."""
    s = h.w.Session.connect(host, port, key)
    try:
        f = s.get_function("ffi.FunctionListGlobalNamesFunctor")
        functor = f()
        n = functor(-1)
        names = sorted(functor(i) for i in range(n))
        functor.free()
        f.free()
        meta = s.get_function("ffi.GetGlobalFuncMetadata")
        metadata = {name: meta(name) for name in names}
        meta.free()
        s.shutdown()
    finally:
        s.close()
    return names, metadata


def record_group(runner, group):
    out = {"recorded_on": TVM_REVISION,
           "recorded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cases": {}}
    for name, fn in h.load_cases(group):
        out["cases"][name] = h.run_case(runner, fn)
        for i, e in enumerate(out["cases"][name]):
            r = e.get("result", {})
            if "error" in r and not e.get("kind") and not e.get("refused"):
                print("  WARNING %s entry %d: TVM raised %r but the case gave no kind=" %
                      (name, i, r["error"][:200]))
            if "dropped" in r:
                print("  NOTE %s entry %d: TVM's server dropped the session during %s; the "
                      "case ends there (ours must answer it with an error)" %
                      (name, i, e["call"]))
            if "missing" in r:
                print("  WARNING %s entry %d: %s is not a global on TVM's server" %
                      (name, i, e["call"]))
    os.makedirs(h.GOLDEN_DIR, exist_ok=True)
    with open(h.golden_path(group), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %d cases -> %s" % (group, len(out["cases"]), h.golden_path(group)))


def check_group(runner, group):
    gold = h.load_golden(group)
    failures = 0
    for name, fn in h.load_cases(group):
        try:
            if name not in gold["cases"]:
                raise h.CaseFailed("%s has no golden: record it" % name)
            h.compare_trace(h.run_case(runner, fn), gold["cases"][name], name)
        except Exception as e:  # report every case, not only the first failure
            failures += 1
            print("FAIL %s.%s: %s" % (group, name, e))
    print("%s: %d cases, %d failed" % (group, len(gold["cases"]), failures))
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="HOST:PORT of the RPC server")
    ap.add_argument("--key", default="cpu")
    ap.add_argument("--group", action="append", help="case group (default: all)")
    ap.add_argument("--globals", action="store_true", help="record TVM's list of globals")
    ap.add_argument("--check", action="store_true", help="compare with the goldens instead")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    port = int(port)
    if a.globals:
        names, metadata = list_globals(host, port, a.key)
        path = os.path.join(HERE, "tvm_globals.json")
        with open(path, "w") as f:
            json.dump({"recorded_on": TVM_REVISION, "globals": names, "metadata": metadata},
                      f, indent=1)
            f.write("\n")
        print("%d globals -> %s" % (len(names), path))
        return 0
    runner = h.Runner(host, port, a.key)
    failures = 0
    for g in a.group or h.groups():
        if a.check:
            failures += check_group(runner, g)
        else:
            record_group(runner, g)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
