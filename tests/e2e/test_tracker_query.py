"""`tvmrpc-console --query HOST:PORT [--json]` (docs/control-plane.md §2.8): TVM's
query_rpc_tracker text byte for byte, the SUMMARY object as JSON, and clear errors with exit
status 1 when the tracker is unreachable, silent or not a tracker."""
import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import BIN, free_port, run, wait_port, wait_until
from tvm_wire import TrackerClient, TrackerCode
from tvm_wire import tracker_summary as summary

PUT, REQUEST, UPDATE_INFO = TrackerCode.PUT, TrackerCode.REQUEST, TrackerCode.UPDATE_INFO


@pytest.fixture
def tracker_port(spawn):
    port = free_port()
    p = spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1))
    wait_port(port)
    yield port
    rc, _, err = p.stop()
    assert rc == 0 and "Sanitizer" not in err and "runtime error" not in err, err


def test_25_text_layout_matches_tvm(tracker_port):
    port = tracker_port
    rasp = TrackerClient("127.0.0.1", port)
    assert rasp.call([UPDATE_INFO, {"key": "server:rasp", "addr": [None, 9090]}]) == 0
    assert rasp.call([PUT, "rasp", [9090, "rasp:0.1"], None]) == 0
    proxy = TrackerClient("127.0.0.1", port)
    assert proxy.call([PUT, "xyz", [9090, "xyz:0.1"], None]) == 0
    assert proxy.call([PUT, "xyz", [9090, "xyz:0.2"], None]) == 0
    assert proxy.call([UPDATE_INFO, {"key": "server:proxy[xyz]",
                                     "addr": ["10.0.0.9", 9090]}]) == 0
    r = run("--query", "127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Tracker address 127.0.0.1:%d\n"
        "\n"
        "Server List\n"
        "------------------------------\n"
        "server-address           key\n"
        "------------------------------\n"
        "10.0.0.9:9090            server:proxy[xyz]\n"
        "127.0.0.1:9090           server:rasp\n"
        "------------------------------\n"
        "\n"
        "Queue Status\n"
        "----------------------------\n"
        "key    total  free  pending\n"
        "----------------------------\n"
        "rasp   1      1     0      \n"
        "----------------------------\n"
        "\n" % port)
    rasp.close()
    proxy.close()


def test_text_with_pending_and_long_keys(tracker_port):
    port = tracker_port
    s = TrackerClient("127.0.0.1", port)
    assert s.call([UPDATE_INFO, {"key": "server:board-long", "addr": ["h", "9091"]}]) == 0
    assert s.call([PUT, "board-long", [9091, "board-long:0.3"], None]) == 0
    w = TrackerClient("127.0.0.1", port)
    w.send_json([REQUEST, "gpu", "", 1])
    wait_until(lambda: "gpu" in summary(port)["queue_info"])
    r = run("--query", "127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    # W = len("board-long") = 10: rulers of 34 dashes; a key with pending > 0 but no server is
    # shown with total 0.
    assert r.stdout.split("Queue Status\n")[1] == (
        "----------------------------------\n"
        "key          total  free  pending\n"
        "----------------------------------\n"
        "board-long   1      1     0      \n"
        "gpu          0      0     1      \n"
        "----------------------------------\n"
        "\n")
    assert "h:9091                   server:board-long\n" in r.stdout
    s.close()
    w.close()


def test_text_of_an_empty_tracker(tracker_port):
    r = run("--query", "127.0.0.1:%d" % tracker_port)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(
        "------------------------------\n"
        "\n"
        "Queue Status\n"
        "---------------------------\n"
        "key   total  free  pending\n"
        "---------------------------\n"
        "---------------------------\n"
        "\n")


def test_json_prints_the_summary_object(tracker_port):
    port = tracker_port
    s = TrackerClient("127.0.0.1", port)
    assert s.call([UPDATE_INFO, {"key": "server:k", "addr": [None, "9090"]}]) == 0
    assert s.call([PUT, "k", [9090, "k:0.1"], None]) == 0
    r = run("--query", "127.0.0.1:%d" % port, "--json")
    assert r.returncode == 0, r.stderr
    ip = s.local[0]
    # SUMMARY's object as the tracker sent it, then our tracker's usage statistics (none yet).
    assert r.stdout == ('{"queue_info": {"k": {"free": 1, "pending": 0}}, "server_info": '
                        '[{"key": "server:k", "addr": ["%s", "9090"]}], '
                        '"usage": {"keys": {}, "users": {}}}\n' % ip)
    out = json.loads(r.stdout)
    del out["usage"]
    assert out == summary(port)
    s.close()


def test_unreachable_tracker():
    port = free_port()
    r = run("--query", "127.0.0.1:%d" % port)
    assert r.returncode == 1
    assert "cannot connect to 127.0.0.1:%d" % port in r.stderr and r.stdout == ""


def _listener(reply):
    """A TCP peer that accepts and then sends `reply` (or nothing) and holds the socket."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        held.append(c)
        c.recv(4)
        if reply:
            c.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, held, t


def test_silent_tracker_times_out():
    srv, held, t = _listener(None)
    port = srv.getsockname()[1]
    env = dict(os.environ, TVMRPC_QUERY_TIMEOUT="2")
    r = subprocess.run([BIN, "--query", "127.0.0.1:%d" % port], capture_output=True, text=True,
                       timeout=20, env=env)
    assert r.returncode == 1
    assert "no answer" in r.stderr and "2 s" in r.stderr, r.stderr
    srv.close()
    for c in held:
        c.close()


def test_not_a_tracker():
    srv, held, t = _listener(b"\x71\xf2\x0f\x00")
    port = srv.getsockname()[1]
    r = run("--query", "127.0.0.1:%d" % port)
    assert r.returncode == 1
    assert "not a working RPC tracker" in r.stderr and "0x000ff271" in r.stderr, r.stderr
    srv.close()
    for c in held:
        c.close()


def test_bad_target_is_usage_error():
    r = run("--query", "127.0.0.1:notaport")
    assert r.returncode == 2
