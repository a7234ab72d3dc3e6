"""`make bench`: start the services on 127.0.0.1, run the C drivers (bench/bench_*.c), print
one table and write it, with a description of the machine, to bench/results.md (and, with
--readme, into README.md's "Benchmarks" section). Every step has a timeout.

  python3 bench/run.py --build build-bench [--bin PATH] [--quick] [--out FILE] [--readme FILE]
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIB, MIB = 1024, 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d" % port)


class Services:
    """tvmrpc-console processes, logs in a temporary directory, all stopped at the end."""

    def __init__(self, binary, tmp):
        self.binary, self.tmp, self.procs = binary, tmp, []

    def start(self, name, *args):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen([self.binary, "--log-level", "warn"] + list(args),
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs.append((name, p, log))
        return p

    def stop_all(self):
        for _, p, log in self.procs:
            if p.poll() is None:
                p.terminate()
        for _, p, log in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()

    def logs(self):
        out = []
        for name, _, _ in self.procs:
            with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
                out.append("--- %s\n%s" % (name, f.read()[-2000:]))
        return "\n".join(out)


def driver(build, name, *args, timeout=60):
    """Run bench driver `name`; returns its "key value" lines as a dict."""
    cmd = [os.path.join(build, "bench", name)] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    out = {}
    for line in r.stdout.splitlines():
        k, v = line.split()
        out[k] = float(v)
    return out


def best(runs):
    """Per key, the best of several runs: the highest rate, the lowest time."""
    out = {}
    for k in runs[0]:
        vals = [run[k] for run in runs]
        out[k] = max(vals) if k.endswith(("_mbps", "_per_s")) else min(vals)
    return out


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def kernel_fixture(build):
    """(path, function, elements) of the kernel for the time-evaluator comparison."""
    so = os.path.join(ROOT, "tests", "fixtures", "add_one.so")  # TVM-compiled, float32[1024]
    if os.path.exists(so):
        return so, "add_one", 1024
    so = os.path.join(build, "models", "argecho.so")
    return (so, "add_one", 1024) if os.path.exists(so) else None


def size_text(n):
    return "%.2f MiB" % (n / MIB) if n >= MIB else "%d KiB" % (n // KIB)


def measure(a, tmp):
    q = a.quick
    build, svc = a.build, Services(a.bin, tmp)
    r = {}
    try:
        rounds, span = (200, 0.3) if q else (20000, 0.7)
        sizes = [4 * KIB, 64 * KIB] if q else [4 * KIB, MIB, 64 * MIB]
        laps = 1 if q else 3

        # Idle footprints, taken before any session has run.
        ini = os.path.join(tmp, "tp.ini")
        tport, pport = free_port(), free_port()
        with open(ini, "w") as f:
            f.write("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
                    "[proxy]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
                    % (tport, tport + 1, pport, pport + 1))
        tp = svc.start("tracker_proxy", "--headless", "--config", ini)
        sport = free_port()
        server = svc.start("server", "--headless", "server", "--host", "127.0.0.1", "--port",
                           str(sport), "--port-end", str(sport + 1), "--key", "bench")
        wait_port(tport)
        wait_port(pport)
        wait_port(sport)
        time.sleep(0.5)
        r["rss_tp_kib"] = vm_rss_kib(tp.pid)
        r["rss_server_kib"] = vm_rss_kib(server.pid)
        svc.start("server_via_proxy", "--headless", "server", "--key", "bench", "--through-proxy",
                  "--host", "127.0.0.1", "--port", str(pport))

        # The machine may be shared: each figure is the best of `laps` short runs, and every
        # floor or ceiling is measured in the same lap, next to the figures compared with it.
        nets, directs, proxies = [], [], []
        for _ in range(laps):
            net = driver(build, "bench_net", "pingpong", rounds, span)
            net.update(driver(build, "bench_net", "relay", rounds, span))
            direct = driver(build, "bench_rpc", "127.0.0.1", sport, "bench", rounds, "-", span)
            proxy = driver(build, "bench_rpc", "127.0.0.1", pport, "bench", rounds, "-", span)
            for size in sizes:
                cspan = 0.3 if q else 1.2
                net.update(driver(build, "bench_net", "copy", size, 100000, cspan / 4))
                net.update(driver(build, "bench_net", "relay-copy", size, 100000, cspan / 4))
                direct.update(driver(build, "bench_rpc", "127.0.0.1", sport, "bench", 0, size,
                                     cspan))
                proxy.update(driver(build, "bench_rpc", "127.0.0.1", pport, "bench", 0, size,
                                    cspan))
            nets.append(net)
            directs.append(direct)
            proxies.append(proxy)
        r["net"], r["direct"], r["proxy"] = best(nets), best(directs), best(proxies)
        r["laps"] = [{"net": n, "direct": d, "proxy": p} for n, d, p in zip(nets, directs, proxies)]
        kern = kernel_fixture(build)
        r["timing_note"] = ""
        if kern:
            try:
                r["timing"] = driver(build, "bench_rpc", "127.0.0.1", sport, "bench", 0, "-", 1,
                                     *kern)
                r["timing_kernel"] = "%s %s(float32[%d])" % (os.path.basename(kern[0]),
                                                             kern[1], kern[2])
            except RuntimeError as e:
                r["timing_note"] = str(e).split(": ")[-1][:120]
        else:
            r["timing_note"] = "no kernel .so built"

        # Tracker: a process of its own, so its CPU time is the tracker's alone.
        trport = free_port()
        tr = svc.start("tracker", "--headless", "tracker", "--host", "127.0.0.1", "--port",
                       str(trport), "--port-end", str(trport + 1))
        wait_port(trport)
        counts = [1, 100] if q else [1, 100, 10000]
        r["cycle_laps"] = [{n: driver(build, "bench_tracker", "cycles", trport, tr.pid, n,
                                      0.3 if q else 0.6) for n in counts} for _ in range(laps)]
        r["cycles"] = {n: best([lap[n] for lap in r["cycle_laps"]]) for n in counts}
        pend = 200 if q else 10000
        r["pending0"] = driver(build, "bench_tracker", "pending", trport, 0, 300 if q else 5000,
                               0.3 if q else 1.5)
        r["pending"] = driver(build, "bench_tracker", "pending", trport, pend,
                              300 if q else 5000, 0.3 if q else 1.5)
        r["pending_n"] = pend
        r["size"] = os.stat(a.bin).st_size
        stripped = os.path.join(tmp, "tvmrpc-console")
        shutil.copy(a.bin, stripped)
        subprocess.run(["strip", stripped], check=False, timeout=30)
        r["size_stripped"] = os.stat(stripped).st_size
        r["sizes"] = sizes
    except Exception:
        sys.stderr.write(svc.logs() + "\n")
        raise
    finally:
        svc.stop_all()
    return r


def ratio_status(ok):
    return "PASS" if ok else "MISS"


def paired(laps, f):
    """Median over laps of a ratio taken within each lap (both sides measured together)."""
    vals = sorted(f(lap) for lap in laps)
    return vals[len(vals) // 2]


def table(a, r):
    rows = []
    net = r["net"]
    floor = net["pingpong_median_us"]
    rows.append(("Loopback TCP ping-pong, 64 B (floor)",
                 "median %.1f µs, p99 %.1f µs" % (floor, net["pingpong_p99_us"]), "", "", ""))
    relay = net["relay_median_us"]
    rows.append(("Loopback ping-pong through a relay thread (proxy floor)",
                 "median %.1f µs, p99 %.1f µs" % (relay, net["relay_p99_us"]), "", "", ""))
    laps = r["laps"]
    for path in ("direct", "proxy"):
        d = r[path]
        ref, ref_name = ("pingpong", "floor") if path == "direct" else ("relay", "relay floor")
        for kind, label in (("sync", "DevStreamSync"), ("call", "CallFunc (cached handle)")):
            key = "rtt_%s_median_us" % kind
            ratio = paired(laps, lambda l: l[path][key] / l["net"][ref + "_median_us"])
            rows.append(("Round trip, %s, %s" % (label, path),
                         "median %.1f µs, p99 %.1f µs" % (d[key], d["rtt_%s_p99_us" % kind]),
                         "%.2fx %s" % (ratio, ref_name), "≤ 2x %s" % ref_name,
                         ratio_status(ratio <= 2)))
    for size in r["sizes"]:
        ceil_key = "copy_%d_mbps" % size
        relay_key = "relay_copy_%d_mbps" % size
        rows.append(("Plain socket copy, %s (ceiling)" % size_text(size),
                     "%.0f MB/s" % net[ceil_key], "", "", ""))
        rows.append(("Plain copy through a relay thread, %s (proxy ceiling)" % size_text(size),
                     "%.0f MB/s" % net[relay_key], "", "", ""))
        for path in ("direct", "proxy"):
            for op, label in (("copy_to", "CopyToRemote"), ("copy_from", "CopyFromRemote")):
                key = "%s_%d_mbps" % (op, size)
                ratio = paired(laps, lambda l: l[path][key] / l["net"][ceil_key])
                versus = "%d%% of ceiling" % int(100 * ratio)  # floor: 79.7% is not 80%
                if path == "proxy":
                    versus += ", %d%% of relay" % int(
                        100 * paired(laps, lambda l: l[path][key] / l["net"][relay_key]))
                rows.append(("%s %s, %s" % (label, size_text(size), path),
                             "%.0f MB/s" % r[path][key], versus, "≥ 80%",
                             ratio_status(ratio >= 0.8)))
    big = r["sizes"][-1]
    for op, label in (("copy_to", "CopyToRemote"), ("copy_from", "CopyFromRemote")):
        key = "%s_%d_mbps" % (op, big)
        # Added time relative to the direct copy, within each lap.
        extra = 100 * paired(laps, lambda l: l["direct"][key] / l["proxy"][key] - 1)
        relay = 100 * paired(laps, lambda l: l["net"]["copy_%d_mbps" % big] /
                             l["net"]["relay_copy_%d_mbps" % big] - 1)
        rows.append(("Proxy cost, %s %s" % (label, size_text(big)), "+%.0f%% time" % extra,
                     "vs direct (a plain relay thread: +%.0f%%)" % relay, "≤ 10%",
                     ratio_status(extra <= 10)))
    c = r["cycles"]
    first = min(c)
    for n in sorted(c):
        ratio = paired(r["cycle_laps"], lambda l: l[n]["cycles_per_s"] / l[first]["cycles_per_s"])
        rows.append(("Tracker REQUEST→assign→re-PUT, %d server%s" % (n, "" if n == 1 else "s"),
                     "%.0f cycles/s, tracker CPU %.1f µs/cycle" %
                     (c[n]["cycles_per_s"], c[n]["cpu_us_per_cycle"]),
                     "%.2fx the 1-server rate" % ratio if n != first else "",
                     "within 2x" if n != first else "",
                     ratio_status(ratio >= 0.5) if n != first else ""))
    p0, p = r["pending0"], r["pending"]
    rows.append(("REQUEST for a free key, 0 pending", "median %.1f µs, p99 %.1f µs" %
                 (p0["request_median_us"], p0["request_p99_us"]), "", "", ""))
    rows.append(("REQUEST for a free key, %d pending" % r["pending_n"],
                 "median %.1f µs, p99 %.1f µs" % (p["request_median_us"], p["request_p99_us"]),
                 "%.2fx 0 pending" % (p["request_median_us"] / p0["request_median_us"]), "", ""))
    rows.append(("PING, %d pending" % r["pending_n"], "median %.1f µs, p99 %.1f µs" %
                 (p["ping_median_us"], p["ping_p99_us"]),
                 "0 pending: %.1f µs" % p0["ping_median_us"], "", ""))
    rows.append(("Idle RSS, tracker+proxy (--headless --config)",
                 "%.1f MiB" % (r["rss_tp_kib"] / 1024), "", "", ""))
    rows.append(("Idle RSS, device server", "%.1f MiB" % (r["rss_server_kib"] / 1024), "",
                 "≤ 4 MiB", ratio_status(r["rss_server_kib"] <= 4096)))
    rows.append(("Binary size, tvmrpc-console (-O2)", "%s (stripped %s)" %
                 (size_text(r["size"]), size_text(r["size_stripped"])), static_size() if not a.quick else "",
                 "", ""))
    if "timing" in r:
        t = r["timing"]
        remote, local = t["timeeval_remote_us"] * 1e3, t["timeeval_local_us"] * 1e3
        rows.append(("Time evaluator per call, %s" % r["timing_kernel"], "remote %.1f ns" % remote,
                     "local dlopen() call %.1f ns (%+.1f%%)" % (local, 100 * (remote / local - 1)),
                     "", ""))
    else:
        rows.append(("Time evaluator per call", "not measured", r["timing_note"], "", ""))
    head = ("What", "Measured", "Compared with", "Target", "Result")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def static_size():
    path = os.path.join(ROOT, "build-bench-static", "tvmrpc-console")
    if not os.path.exists(path):
        return "static: not built"
    stripped = path + ".stripped"
    shutil.copy(path, stripped)
    subprocess.run(["strip", stripped], check=False, timeout=30)
    return "static (libuv, cJSON, inih, ncurses inside): %s (stripped %s)" % (
        size_text(os.stat(path).st_size), size_text(os.stat(stripped).st_size))


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / (1024 * 1024)
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True,
                        timeout=10).stdout.splitlines()
    return ("- CPU: %s, %d cores\n- Memory: %.1f GiB\n- Kernel: Linux %s\n- Compiler: %s "
            "(-O2 -DNDEBUG, no sanitizers)\n- Date: %s" %
            (cpu, os.cpu_count(), mem, platform.release(), cc[0] if cc else "cc",
             datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))


NOTES = ("Method: round trips are medians (and p99) over up to 20,000 calls; copies are the "
         "median of repeated copies of one size (MB/s = 10^6 bytes/s; CopyToRemote/"
         "CopyFromRemote of a cpu tensor, as `rpc_client_copy_to/_from`); tracker cycles are "
         "counted for 0.6 s. The machine may be shared, so everything runs in 3 laps: a figure "
         "shown is the best lap, and a comparison (x floor, % of ceiling, proxy cost, tracker "
         "rate) is the median over laps of the ratio taken within one lap, where both sides "
         "were measured together. Every process runs on this one machine over 127.0.0.1.")


KNOWN = """Known causes of misses (see also the commit messages):

- Copies through the proxy, and the proxy's cost on a 64 MiB copy: `src/services/proxy_link.c`
  relays with splice(2) (socket -> pipe -> socket, no copy through user space), which cuts the
  proxy's CPU per relayed byte by about 40% against the former read/uv_write relay; but on this
  2-core machine the proxy is still a third busy process next to client and server, and each
  byte still crosses loopback TCP twice, so the copy cannot reach +10%.
- Small copies through the proxy are bound by the two-hop round trip (the relay floor).
- Tracker with many resources on one connection: `handle_put` in `src/services/tracker.c` walks
  every resource of the connection on each PUT to detect a refresh; a hash compare now makes
  each step cheap, but the walk is still O(resources on that connection) (about 15% of the
  tracker's CPU with 1,000 per connection); a per-connection matchkey index would make it O(1).
- Run-to-run variation on a shared 2-core VM is large: other work on the machine can cut one
  figure to a third in one run (1 MiB direct copies measured 84-100% of the ceiling in most
  runs and about 31% in a few), so a single direct-copy MISS should be re-run before it is
  believed; the proxy and small-copy misses above are the same in every run.
"""


def write_readme(path, text):
    with open(path) as f:
        old = f.read()
    section = ("## Benchmarks\n\n`make bench` (about a minute) builds with `-O2 -DNDEBUG` in "
               "`build-bench/`, runs everything on 127.0.0.1 and rewrites `bench/results.md` "
               "(method and notes) and this table:\n\n" + text + "\n")
    m = re.search(r"^## Benchmarks\n.*?(?=^## |\Z)", old, flags=re.S | re.M)
    new = old[:m.start()] + section + ("\n" + old[m.end():] if m.end() < len(old) else "") \
        if m else old.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--bin")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"))
    ap.add_argument("--readme")
    a = ap.parse_args()
    a.bin = a.bin or os.path.join(a.build, "tvmrpc-console")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="tvmrpc-bench-") as tmp:
        r = measure(a, tmp)
    text = table(a, r)
    print(text)
    mach = machine()
    print("\n" + mach)
    print("(%.0f s%s)" % (time.time() - t0, ", quick mode" if a.quick else ""))
    with open(a.out, "w") as f:
        f.write("# tvmrpc benchmarks\n\n%s\n\n%s\n\n%s%s\n\n%s" %
                (mach, text, NOTES, "\n\nQuick mode (tiny sizes): not for comparison."
                 if a.quick else "", KNOWN))
    if a.readme:
        write_readme(a.readme, text + "\n\n" + mach + "\n")


if __name__ == "__main__":
    main()
