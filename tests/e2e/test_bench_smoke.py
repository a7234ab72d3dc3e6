"""Smoke test of `make bench`'s runner: bench/run.py in quick mode (tiny sizes, a few seconds)
with the drivers of the build under test, against real services on 127.0.0.1. It checks that
the table and the machine description are produced, never the numbers (speed belongs to
`make bench`)."""
import os
import subprocess

from conftest import BIN, BUILD, ROOT


def test_bench_quick_produces_a_table(tmp_path):
    for name in ("bench_net", "bench_rpc", "bench_tracker", "bench_console"):
        assert os.path.exists(os.path.join(BUILD, "bench", name)), \
            "bench drivers missing: run `make bench-drivers` (make e2e-test builds them)"
    out = tmp_path / "results.md"
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "run.py"), "--build",
                        BUILD, "--bin", BIN, "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    text = out.read_text()
    assert "| What | Measured | Compared with | Target | Result |" in r.stdout
    for row in ("Loopback TCP ping-pong", "Round trip, DevStreamSync, direct",
                "Round trip, DevStreamSync, proxy", "CopyToRemote 64 KiB, proxy",
                "CopyFromRemote 4 KiB, direct", "Tracker REQUEST", "200 pending",
                "Idle RSS, device server", "Binary size", "Time evaluator per call",
                "splice(2) relay thread, 64 KiB", "Proxy relay, plain bytes 64 KiB",
                "Proxy CPU per GiB relayed", "Console frame (source update + draw), 500 servers",
                "Console idle CPU, default embedded services"):
        assert row in text, row
    assert "- CPU: " in text and "- Kernel: Linux" in text and "- Date: " in text
    assert "- Load average" in text and "- TVM peer: none" in text
    # Without a TVM peer the table has no TVM column.
    assert "TVM (same run)" not in text
    # Every target row carries a verdict.
    verdicts = [line.rstrip(" |").rsplit("|", 1)[-1].strip() for line in text.splitlines()
                if line.startswith("| ") and ("≤" in line or "≥" in line or "within" in line)]
    assert verdicts and all(v in ("PASS", "MISS") for v in verdicts), verdicts
