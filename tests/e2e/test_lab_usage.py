"""Usage accounting (docs/lab-operations.md): one JSON Lines record per finished session in
[tracker] usage_log, written whole (kill -9 leaves only complete records), reopened on SIGHUP
(logrotate) and never truncated; the same sessions summed per key and per user in
`--query --json`."""
import json
import os
import signal
import threading
import time

from conftest import free_port, run, wait_port, wait_until
from tvm_wire import TrackerClient


def start(spawn, tmp_path, log):
    port = free_port()
    ini = tmp_path / "t.ini"
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nusage_log = %s\n"
                   % (port, port + 1, log))
    p = spawn("--headless", "--config", str(ini))
    wait_port(port)
    return port, p


def records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "a record is cut short: %r" % text[-200:]
    return [json.loads(line) for line in text.splitlines()]


def server(port, key="k"):
    s = TrackerClient("127.0.0.1", port)
    s.update_info({"key": "server:" + key, "addr": [None, 9090]})
    return s


def test_records_released_and_dropped_and_query_json(spawn, tmp_path):
    log = tmp_path / "usage.jsonl"
    port, p = start(spawn, tmp_path, log)
    s = server(port)
    s.put("k", 9090, "k:1")
    alice = TrackerClient("127.0.0.1", port)
    t0 = time.time()
    assert alice.request("k", user="alice")[2] == "k:1"
    s.put("k", 9090, "k:2")  # the server's next PUT ends alice's session
    rec = wait_until(lambda: records(log), what="alice's record")
    assert len(rec) == 1
    r = rec[0]
    assert (r["key"], r["user"], r["server"], r["matchkey"], r["end"]) == (
        "k", "alice", "%s:9090" % s.local[0], "k:1", "released")
    assert t0 - 1 <= r["request_time"] <= r["assign_time"] <= r["end_time"] <= time.time() + 1
    # Times and the wait are each rounded to the millisecond from the exact values, so the
    # wait may differ by one rounding step from the difference of the rounded times.
    assert abs(r["wait"] - (r["assign_time"] - r["request_time"])) <= 0.0011
    assert r["busy"] >= 0
    anon = TrackerClient("127.0.0.1", port)
    assert anon.request("k")[2] == "k:2"
    s.close()  # the server goes away during the session
    rec = wait_until(lambda: len(records(log)) == 2 and records(log), what="the dropped record")
    assert rec[1]["end"] == "dropped"
    assert rec[1]["user"] == "anon@127.0.0.1"
    q = run("--query", "127.0.0.1:%d" % port, "--json")
    assert q.returncode == 0, q.stderr
    usage = json.loads(q.stdout)["usage"]
    assert usage["keys"]["k"]["hour"]["sessions"] == 2
    assert usage["keys"]["k"]["day"]["sessions"] == 2
    assert usage["users"]["alice"]["hour"]["sessions"] == 1
    assert usage["users"]["anon@127.0.0.1"]["day"]["sessions"] == 1
    waits = sorted(x["wait"] for x in rec)
    assert usage["keys"]["k"]["day"]["wait_p95"] == waits[1]
    assert usage["keys"]["k"]["day"]["wait_p50"] == waits[0]
    assert abs(usage["keys"]["k"]["day"]["busy"] - sum(x["busy"] for x in rec)) < 0.01
    for c in (alice, anon):
        c.close()
    p.stop_clean()


def test_sighup_reopens_for_logrotate_and_never_truncates(spawn, tmp_path):
    log = tmp_path / "usage.jsonl"
    port, p = start(spawn, tmp_path, log)
    s = server(port)
    c = TrackerClient("127.0.0.1", port)
    s.put("k", 9090, "k:1")
    c.request("k", user="u")
    s.put("k", 9090, "k:2")
    wait_until(lambda: len(records(log)) == 1, what="first record")
    os.rename(log, str(log) + ".1")  # what logrotate does
    p.p.send_signal(signal.SIGHUP)
    p.wait_log("reload done")
    c.request("k", user="u")
    s.put("k", 9090, "k:3")
    wait_until(lambda: len(records(log)) == 1, what="a record in the new file")
    assert len(records(str(log) + ".1")) == 1
    # A restart appends to the file that is there, never truncating it.
    s.close()
    c.close()
    p.stop_clean()
    port2, p2 = start(spawn, tmp_path, log)
    assert len(records(log)) == 1
    p2.stop_clean()


def test_kill_9_leaves_only_complete_records(spawn, tmp_path):
    log = tmp_path / "usage.jsonl"
    port, p = start(spawn, tmp_path, log)
    stop = threading.Event()

    def churn():
        """A server and a client trading one board as fast as they can, until the kill."""
        try:
            s = server(port)
            c = TrackerClient("127.0.0.1", port)
            i = 0
            while not stop.is_set():
                s.put("k", 9090, "k:%d" % i)
                c.request("k", user="churn-%d" % (i % 7))
                i += 1
        except (OSError, Exception):
            pass

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    wait_until(lambda: os.path.exists(log) and os.path.getsize(log) > 20000, timeout=30,
               what="records being written")
    p.p.send_signal(signal.SIGKILL)
    p.p.wait()
    stop.set()
    t.join(10)
    rec = records(log)  # asserts the file ends with a whole line, parses every line
    assert len(rec) > 50
    assert all(r["end"] == "released" and r["key"] == "k" for r in rec)


def test_our_server_reports_a_timed_out_session(spawn, tmp_path):
    """Our device server tells the tracker (UPDATE_INFO "session_end", before its next PUT)
    that a session timed out; the record says so, and the info field is not kept."""
    import tvm_wire as w
    log = tmp_path / "usage.jsonl"
    port, p = start(spawn, tmp_path, log)
    sport = free_port()
    spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(sport), "--port-end",
          str(sport + 1), "--key", "rasp", "--tracker", "127.0.0.1:%d" % port)
    wait_until(lambda: w.tracker_summary(port)["queue_info"].get("rasp", {}).get("free") == 1,
               what="the server registered")
    c = TrackerClient("127.0.0.1", port)
    _, rport, mk = c.request("rasp", user="slow")
    sess = w.Session.connect("127.0.0.1", rport, full_key="client:%s -timeout=1" % mk)
    sess.listdir(".")
    rec = wait_until(lambda: records(log), what="the timed-out session's record")
    assert rec[0]["user"] == "slow" and rec[0]["end"] == "timed_out"
    sess.close()
    c.close()
    info = w.tracker_summary(port)["server_info"]
    assert info and all("session_end" not in i for i in info)
    p.stop_clean()
