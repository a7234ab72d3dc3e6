"""The tracker (docs/control-plane.md §2, with the departures from TVM of §7):
protocol replies byte for byte, scheduling by priority and arrival, cleanup on disconnect,
limits and bad input. Driven by tvm_wire's TrackerClient, an independent Python client."""
import json
import socket
import struct
import time

import pytest

from conftest import free_port, wait_port, wait_until
from tvm_wire import TRACKER_MAGIC, TrackerClient, TrackerCode
from tvm_wire import tracker_frame as frame
from tvm_wire import tracker_summary as summary

FAIL, SUCCESS, PING, STOP, PUT = (TrackerCode.FAIL, TrackerCode.SUCCESS, TrackerCode.PING,
                                  TrackerCode.STOP, TrackerCode.PUT)
REQUEST, UPDATE_INFO, SUMMARY = TrackerCode.REQUEST, TrackerCode.UPDATE_INFO, TrackerCode.SUMMARY
GET_PENDING_MATCHKEYS = TrackerCode.GET_PENDING_MATCHKEYS


@pytest.fixture
def tracker(spawn):
    """Start a tracker on 127.0.0.1; returns (port, process). Extra flags via tracker(...)."""
    started = []

    def start(*flags):
        port = free_port()
        p = spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port),
                  "--port-end", str(port + 1), *flags)
        wait_port(port)
        started.append(p)
        return port, p

    yield start
    for p in started:
        rc, _, err = p.stop()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, err


def register(port, key="k", port_num=9090, matchkey=None, info=True, addr=None):
    """A server connection: UPDATE_INFO (unless info=False) then PUT. Returns the connection."""
    c = TrackerClient("127.0.0.1", port)
    if info:
        assert c.call([UPDATE_INFO, {"key": "server:" + key, "addr": [None, port_num]}]) == 0
    assert c.call([PUT, key, [port_num, matchkey or key + ":0.1"], addr]) == 0
    return c


def still_serves(port):
    with TrackerClient("127.0.0.1", port) as c:
        assert c.call([PING]) == SUCCESS


# ---- the requests of docs/control-plane.md §2.4-2.7 ----

def test_1_magic_echo_and_wrong_magic(tracker):
    port, _ = tracker()
    with TrackerClient("127.0.0.1", port, handshake=False) as c:
        c.send_raw(b"\x71\xf2\x02\x00")
        assert c.recv_exact(4) == b"\x71\xf2\x02\x00"
    with TrackerClient("127.0.0.1", port, handshake=False) as c:
        c.send_raw(b"\x00\x00\x00\x00")
        assert c.closed_without_reply()
    still_serves(port)


def test_2_ping_bytes(tracker):
    port, _ = tracker()
    with TrackerClient("127.0.0.1", port) as c:
        c.send_raw(bytes.fromhex("030000005b315d"))
        assert c.recv_exact(5) == bytes.fromhex("0100000030")


@pytest.mark.parametrize("payload", [
    struct.pack("<i", 0),
    struct.pack("<i", 0x7FFFFFFF),
    struct.pack("<i", -5),
    struct.pack("<i", 2) + b"[1",
    frame([42]),
    frame({"code": 1}),
    frame("just a string"),
    frame([]),
    frame(["1"]),
    frame([1.5]),
    struct.pack("<i", 11) + b"[1]trailing",
], ids=["len0", "len_max", "len_negative", "truncated_json", "unknown_code", "object",
        "string", "empty_array", "code_string", "code_float", "garbage_after"])
def test_3_bad_frames_close_without_reply(tracker, payload):
    port, p = tracker()
    with TrackerClient("127.0.0.1", port) as c:
        c.send_raw(payload)
        assert c.closed_without_reply()
    still_serves(port)


def test_3_frame_over_max_message(tracker):
    port, _ = tracker("--max-message", "1024")
    with TrackerClient("127.0.0.1", port) as c:
        c.send_raw(struct.pack("<i", 1025))  # no payload needed: refused on the length
        assert c.closed_without_reply()
    with TrackerClient("127.0.0.1", port) as c:  # exactly the limit is fine
        body = b"[1]"
        body = body + b" " * (1024 - len(body))
        c.send_raw(struct.pack("<i", 1024) + body)
        assert c.recv_json() == 0


def test_4_stop_with_wrong_key(tracker):
    port, p = tracker()
    with TrackerClient("127.0.0.1", port) as c:
        c.send_json([STOP, "nope"])
        assert c.recv_text() == "-1"
        assert c.call([PING]) == 0  # same connection still served
    still_serves(port)
    assert p.p.poll() is None


def test_5_6_7_put_summary_pending_request(tracker):
    port, _ = tracker()
    a = register(port, "k", 9090, "k:0.1")
    b = TrackerClient("127.0.0.1", port)
    ip = a.local[0]
    b.send_json([SUMMARY])
    assert b.recv_text() == (
        '[0, {"queue_info": {"k": {"free": 1, "pending": 0}}, "server_info": '
        '[{"key": "server:k", "addr": ["%s", 9090]}]}]' % ip)
    assert a.call([GET_PENDING_MATCHKEYS]) == ["k:0.1"]
    assert b.call([GET_PENDING_MATCHKEYS]) == []
    b.send_json([REQUEST, "k", "", 1])
    assert b.recv_text() == '[0, ["%s", 9090, "k:0.1"]]' % ip
    assert a.call([GET_PENDING_MATCHKEYS]) == []
    assert summary(port)["queue_info"]["k"] == {"free": 0, "pending": 0}
    a.close()
    b.close()


def test_8_custom_address(tracker):
    port, _ = tracker()
    a = register(port, "k", 9091, "k:0.2", addr="1.2.3.4")
    with TrackerClient("127.0.0.1", port) as b:
        assert b.call([REQUEST, "k", "", 1]) == [0, ["1.2.3.4", 9091, "k:0.2"]]
    a.close()


def test_9_deferred_request_and_ping_on_same_connection(tracker):
    port, _ = tracker()
    b = TrackerClient("127.0.0.1", port)
    b.send_json([REQUEST, "k", "", 1])
    assert not b.has_data(0.3)
    assert summary(port)["queue_info"]["k"] == {"free": 0, "pending": 1}
    assert b.call([PING]) == 0  # answered at once while the REQUEST waits
    a = register(port, "k", 9090, "k:0.1")
    assert b.recv_json() == [0, [a.local[0], 9090, "k:0.1"]]
    assert summary(port)["queue_info"]["k"] == {"free": 0, "pending": 0}
    a.close()
    b.close()


def test_10_priority_then_arrival(tracker):
    port, _ = tracker()
    clients = {}
    for name, prio in (("C1", 1), ("C2", 5), ("C3", 5)):
        c = TrackerClient("127.0.0.1", port)
        c.send_json([REQUEST, "k", "", prio])
        clients[name] = c
        wait_until(lambda: summary(port)["queue_info"]["k"]["pending"] == len(clients))
    server = TrackerClient("127.0.0.1", port)
    got = []
    for i in range(3):
        mk = "k:%d" % i
        assert server.call([PUT, "k", [9000 + i, mk], None]) == 0
        # Exactly one client got this one; find which.
        for name, c in clients.items():
            if name not in [g[0] for g in got] and c.has_data(0.5):
                got.append((name, c.recv_json()[1][2]))
                break
    assert got == [("C2", "k:0"), ("C3", "k:1"), ("C1", "k:2")]
    # With two free resources, the earlier PUT goes first.
    assert server.call([PUT, "k", [9100, "k:a"], None]) == 0
    assert server.call([PUT, "k", [9101, "k:b"], None]) == 0
    with TrackerClient("127.0.0.1", port) as c:
        assert c.call([REQUEST, "k", "", 0])[1][2] == "k:a"
    for c in clients.values():
        c.close()
    server.close()


def test_10_priorities_of_different_keys_do_not_interact(tracker):
    port, _ = tracker()
    low = TrackerClient("127.0.0.1", port)
    low.send_json([REQUEST, "a", "", 0])
    high = TrackerClient("127.0.0.1", port)
    high.send_json([REQUEST, "b", "", 100])
    wait_until(lambda: summary(port)["queue_info"].get("b", {}).get("pending") == 1)
    sa = register(port, "a", 9001, "a:1")
    assert low.recv_json() == [0, [sa.local[0], 9001, "a:1"]]
    assert not high.has_data(0.2)
    sb = register(port, "b", 9002, "b:1")
    assert high.recv_json()[1][2] == "b:1"
    for c in (low, high, sa, sb):
        c.close()


def test_11_dead_requester_is_forgotten_at_once(tracker):
    port, _ = tracker()
    c1 = TrackerClient("127.0.0.1", port)
    c1.send_json([REQUEST, "k", "", 1])
    wait_until(lambda: summary(port)["queue_info"]["k"]["pending"] == 1)
    c1.close()
    # Better than TVM: the dead request leaves the queue immediately.
    wait_until(lambda: "k" not in summary(port)["queue_info"], what="dead request removed")
    c2 = TrackerClient("127.0.0.1", port)
    c2.send_json([REQUEST, "k", "", 1])
    wait_until(lambda: summary(port)["queue_info"]["k"]["pending"] == 1)
    a = register(port, "k", 9090, "k:0.1")
    assert c2.recv_json()[1][2] == "k:0.1"
    assert summary(port)["queue_info"]["k"] == {"free": 0, "pending": 0}
    # Without a live requester the resource stays free.
    c3 = TrackerClient("127.0.0.1", port)
    c3.send_json([REQUEST, "k", "", 1])
    wait_until(lambda: summary(port)["queue_info"]["k"]["pending"] == 1)
    c3.close()
    wait_until(lambda: summary(port)["queue_info"]["k"]["pending"] == 0)
    assert a.call([PUT, "k", [9090, "k:0.2"], None]) == 0
    assert summary(port)["queue_info"]["k"] == {"free": 1, "pending": 0}
    assert a.call([GET_PENDING_MATCHKEYS]) == ["k:0.2"]
    for c in (c2, a):
        c.close()


def test_12_disconnect_removes_free_resources_even_without_update_info(tracker):
    port, _ = tracker()
    a = register(port, "k", 9090, "k:0.1")
    b = register(port, "k", 9091, "k:0.2", info=False)  # TVM would leave this one for ever
    assert summary(port)["queue_info"]["k"]["free"] == 2
    a.close()
    wait_until(lambda: summary(port)["queue_info"]["k"]["free"] == 1)
    with TrackerClient("127.0.0.1", port) as c:
        assert c.call([REQUEST, "k", "", 1])[1][1:] == [9091, "k:0.2"]
    b.close()
    wait_until(lambda: summary(port) == {"queue_info": {}, "server_info": []})


def test_server_disconnect_while_assigned(tracker):
    port, _ = tracker()
    a = register(port, "k", 9090, "k:0.1")
    with TrackerClient("127.0.0.1", port) as client:
        assert client.call([REQUEST, "k", "", 1])[1][2] == "k:0.1"
        s = summary(port)
        assert s["queue_info"]["k"] == {"free": 0, "pending": 0}
        assert len(s["server_info"]) == 1
        a.close()
        wait_until(lambda: summary(port) == {"queue_info": {}, "server_info": []})
        assert client.call([PING]) == 0


def test_server_comes_back_by_putting_again(tracker):
    port, _ = tracker()
    a = register(port, "k", 9090, "k:0.1")
    with TrackerClient("127.0.0.1", port) as client:
        assert client.call([REQUEST, "k", "", 1])[1][2] == "k:0.1"
        client.send_json([REQUEST, "k", "", 1])
        assert not client.has_data(0.2)
        assert a.call([PUT, "k", [9090, "k:0.2"], None]) == 0  # session over: a new key
        assert client.recv_json()[1][2] == "k:0.2"
    a.close()


def test_13_update_info_port_as_string_and_without_addr(tracker):
    port, _ = tracker()
    a = TrackerClient("127.0.0.1", port)
    assert a.call([UPDATE_INFO, {"key": "server:k", "addr": [None, "9090"]}]) == 0
    assert summary(port)["server_info"] == [{"key": "server:k", "addr": [a.local[0], "9090"]}]
    # A later UPDATE_INFO merges (dict.update), keeping key order.
    assert a.call([UPDATE_INFO, {"addr": ["10.1.1.1", 9999], "extra": [1, 2]}]) == 0
    assert summary(port)["server_info"] == [
        {"key": "server:k", "addr": ["10.1.1.1", 9999], "extra": [1, 2]}]
    with TrackerClient("127.0.0.1", port) as b:
        b.send_json([UPDATE_INFO, {"key": "server:x"}])
        assert b.closed_without_reply()
    a.close()
    still_serves(port)


def test_summary_lists_only_server_keys_and_every_queue(tracker):
    port, _ = tracker()
    s1 = register(port, "rasp", 9090, "rasp:0.5")
    other = TrackerClient("127.0.0.1", port)
    assert other.call([UPDATE_INFO, {"key": "client:foo", "addr": [None, 1]}]) == 0
    w = TrackerClient("127.0.0.1", port)
    w.send_json([REQUEST, "gpu", "", 0])
    wait_until(lambda: "gpu" in summary(port)["queue_info"])
    s = summary(port)
    assert s["queue_info"] == {"rasp": {"free": 1, "pending": 0},
                               "gpu": {"free": 0, "pending": 1}}
    assert [i["key"] for i in s["server_info"]] == ["server:rasp"]
    for c in (s1, other, w):
        c.close()


def test_several_keys_and_duplicate_put(tracker):
    port, _ = tracker()
    proxy = TrackerClient("127.0.0.1", port)
    for key in ("a", "b", "c"):
        assert proxy.call([PUT, key, [9090, key + ":1"], None]) == 0
    assert proxy.call([PUT, "a", [9090, "a:1"], None]) == 0  # repeated: a refresh, not a 2nd
    assert proxy.call([UPDATE_INFO, {"key": "server:proxy[a,b,c]", "addr": [None, 9090]}]) == 0
    q = summary(port)["queue_info"]
    assert q == {k: {"free": 1, "pending": 0} for k in ("a", "b", "c")}
    assert sorted(proxy.call([GET_PENDING_MATCHKEYS])) == ["a:1", "b:1", "c:1"]
    with TrackerClient("127.0.0.1", port) as c:
        assert c.call([REQUEST, "b", "", 1])[1][2] == "b:1"
        assert c.call([REQUEST, "a", "", 1])[1][2] == "a:1"
    assert proxy.call([GET_PENDING_MATCHKEYS]) == ["c:1"]
    proxy.close()


# ---- buffering of the handshake (docs/control-plane.md §2.1) ----

def test_23_magic_and_first_frame_in_one_segment(tracker):
    port, _ = tracker()
    with TrackerClient("127.0.0.1", port, handshake=False) as c:
        c.send_raw(struct.pack("<i", TRACKER_MAGIC) + frame([PING]) + frame([SUMMARY]))
        assert c.recv_exact(4) == struct.pack("<i", TRACKER_MAGIC)
        assert c.recv_json() == 0
        assert c.recv_json() == [0, {"queue_info": {}, "server_info": []}]


def test_23_one_byte_per_segment(tracker):
    port, _ = tracker()
    with TrackerClient("127.0.0.1", port, handshake=False) as c:
        data = struct.pack("<i", TRACKER_MAGIC) + frame([PUT, "k", [1, "k:1"], None])
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])
            time.sleep(0.002)  # the subject: each byte in its own segment
        assert c.recv_exact(4) == struct.pack("<i", TRACKER_MAGIC)
        assert c.recv_json() == 0
        assert summary(port)["queue_info"]["k"]["free"] == 1


def test_pipelined_requests_are_answered_in_order(tracker):
    port, _ = tracker()
    with TrackerClient("127.0.0.1", port) as c:
        c.send_raw(b"".join(frame([PING]) for _ in range(50)) + frame([GET_PENDING_MATCHKEYS]))
        for _ in range(50):
            assert c.recv_json() == 0
        assert c.recv_json() == []


# ---- bad input and limits: each closed and logged, the tracker keeps serving ----

@pytest.mark.parametrize("msg", [
    [PUT, "k"],
    [PUT, "k", [9090], None],
    [PUT, "k", ["nope", "k:1"], None],
    [PUT, "k", [70000, "k:1"], None],
    [PUT, "k", [9090, 5], None],
    [PUT, 5, [9090, "k:1"], None],
    [PUT, "k", [9090, "k:1"], 42],
    [REQUEST, "k", ""],
    [REQUEST, "k", "", "high"],
    [REQUEST, None, "", 1],
    [UPDATE_INFO, []],
    [UPDATE_INFO, {"addr": [1, 2]}],
    [UPDATE_INFO, {"addr": []}],
    [-1],
    [8],
    [PUT, "k" * 300, [9090, "k:1"], None],
], ids=lambda m: json.dumps(m)[:40])
def test_wrong_shape_closes_and_logs(tracker, msg):
    port, p = tracker()
    c = TrackerClient("127.0.0.1", port)
    local = "%s:%d" % c.local
    c.send_json(msg)
    assert c.closed_without_reply()
    c.close()
    still_serves(port)
    _, _, err = p.stop()
    lines = [l for l in err.splitlines() if local in l and "closing" in l]
    assert len(lines) == 1, err


def test_vanish_mid_message_is_logged_once(tracker):
    port, p = tracker()
    c = TrackerClient("127.0.0.1", port)
    local = "%s:%d" % c.local
    c.send_raw(frame([SUMMARY])[:5])
    c.close()
    p.wait_log(local)
    still_serves(port)
    _, _, err = p.stop()
    lines = [l for l in err.splitlines() if local in l]
    assert len(lines) == 1 and "middle of a message" in lines[0], err


def test_handshake_timeout(tracker):
    port, p = tracker("--handshake-timeout", "0.3")
    silent = TrackerClient("127.0.0.1", port, handshake=False)
    partial = TrackerClient("127.0.0.1", port, handshake=False)
    partial.send_raw(b"\x71\xf2")
    t0 = time.time()
    assert silent.closed_without_reply(5)
    assert partial.closed_without_reply(5)
    assert time.time() - t0 < 4
    still_serves(port)
    _, _, err = p.stop()
    assert err.count("no magic within 0.3 s") == 2, err


def test_stalled_frame_times_out_but_idle_connections_do_not(tracker):
    port, p = tracker("--handshake-timeout", "0.3")
    idle = TrackerClient("127.0.0.1", port)
    stalled = TrackerClient("127.0.0.1", port)
    stalled.send_raw(struct.pack("<i", 100) + b"[1, ")  # never finished
    assert stalled.closed_without_reply(5)
    time.sleep(0.4)  # the subject: an idle gap longer than the 0.3 s frame timeout
    assert idle.call([PING]) == 0  # 0.7 s idle between frames is fine
    slow = TrackerClient("127.0.0.1", port)
    for part in (frame([PING])[:3], frame([PING])[3:]):  # finished in time, in pieces
        slow.send_raw(part)
        time.sleep(0.1)  # the subject: a frame in pieces, finished within its 0.3 s
    assert slow.recv_json() == 0
    _, _, err = p.stop()
    assert err.count("message not completed within 0.3 s") == 1, err


def test_max_connections(tracker):
    port, p = tracker("--max-connections", "2")
    a = TrackerClient("127.0.0.1", port)
    b = TrackerClient("127.0.0.1", port)
    c = TrackerClient("127.0.0.1", port, handshake=False)
    c.send_raw(struct.pack("<i", TRACKER_MAGIC))
    assert c.closed_without_reply()
    c.close()
    a.close()
    wait_until(lambda: _try_ping(port), what="a slot after a close")
    b.close()
    _, _, err = p.stop()
    assert "max_connections" in err


def _try_ping(port):
    try:
        with TrackerClient("127.0.0.1", port, timeout=1) as c:
            return c.call([PING]) == 0
    except (ConnectionError, OSError, AssertionError):
        return False


def test_allow_list_refuses_and_logs(tracker):
    port, p = tracker("--allow", "127.0.0.2/32")
    c = TrackerClient("127.0.0.1", port, handshake=False)  # from 127.0.0.1
    local = "%s:%d" % c.local
    c.send_raw(struct.pack("<i", TRACKER_MAGIC))
    assert c.closed_without_reply()
    c.close()
    with TrackerClient("127.0.0.1", port, source="127.0.0.2") as ok:  # allowed
        assert ok.call([PING]) == 0
    _, _, err = p.stop()
    refused = [l for l in err.splitlines() if local in l]
    assert len(refused) == 1 and "refused" in refused[0] and "allow" in refused[0], err


def test_request_limit_per_connection(tracker):
    port, p = tracker()
    c = TrackerClient("127.0.0.1", port)
    for i in range(64):
        c.send_json([REQUEST, "k%d" % i, "", 0])
    wait_until(lambda: len(summary(port)["queue_info"]) == 64)
    c.send_json([REQUEST, "one-too-many", "", 0])
    assert c.closed_without_reply()
    c.close()
    # Everything it held went with it.
    wait_until(lambda: summary(port)["queue_info"] == {})


def test_stop_key_is_not_guessable(tracker):
    port, p = tracker()
    with TrackerClient("127.0.0.1", port) as c:
        for guess in ("", "tracker:", "tracker:0.5", None, 0):
            c.send_json([STOP, guess])
            assert c.recv_json() == FAIL
    still_serves(port)


def test_many_servers_and_requests(tracker):
    """Scale smoke test: 300 server connections, 300 waiting clients, all matched."""
    port, _ = tracker()
    n = 300
    clients = []
    for i in range(n):
        c = TrackerClient("127.0.0.1", port)
        c.send_json([REQUEST, "big", "", i % 5])
        clients.append(c)
    wait_until(lambda: summary(port)["queue_info"]["big"]["pending"] == n, timeout=20)
    servers = [register(port, "big", 10000 + i, "big:%d" % i) for i in range(n)]
    got = set()
    for c in clients:
        got.add(c.recv_json()[1][2])
    assert got == {"big:%d" % i for i in range(n)}
    s = summary(port)
    assert s["queue_info"]["big"] == {"free": 0, "pending": 0}
    assert len(s["server_info"]) == n
    for c in clients + servers:
        c.close()
    wait_until(lambda: summary(port) == {"queue_info": {}, "server_info": []}, timeout=20)


def test_ten_thousand_requests_and_servers(tracker):
    """Scale: 10,000 waiting requests (200 connections, pipelined, 7 priorities) and 10,000
    PUTs (10 connections); every request gets exactly one resource and the state drains."""
    port, _ = tracker()
    clients = []
    for i in range(200):
        c = TrackerClient("127.0.0.1", port, timeout=60)
        c.send_raw(b"".join(frame([REQUEST, "big", "", (i + j) % 7]) for j in range(50)))
        clients.append(c)
    wait_until(lambda: summary(port)["queue_info"]["big"]["pending"] == 10000, timeout=60)
    servers = []
    for s in range(10):
        c = TrackerClient("127.0.0.1", port, timeout=60)
        c.send_raw(b"".join(frame([PUT, "big", [9000 + s, "big:%d.%d" % (s, j)], None])
                            for j in range(1000)))
        servers.append(c)
    for c in servers:
        for _ in range(1000):
            assert c.recv_json() == 0
    got = []
    for c in clients:
        for _ in range(50):
            got.append(c.recv_json()[1][2])
    assert len(set(got)) == 10000
    assert summary(port)["queue_info"]["big"] == {"free": 0, "pending": 0}
    for c in clients + servers:
        c.close()
    wait_until(lambda: summary(port) == {"queue_info": {}, "server_info": []}, timeout=60)
