"""The proxy in tracker mode (docs/control-plane.md §4.4-4.5, §6.4) against a
recording fake tracker: PUT/UPDATE_INFO shapes, private unguessable match keys, clients paired
only on a current key, reconnect with fresh keys, stale offers replaced, regeneration."""
import json
import os
import re
import time

import pytest

from conftest import free_port, wait_port, wait_until
from fake_tracker import FakeTracker
from proxy_peer import (CODE_MISMATCH, CODE_SUCCESS, closed_soon, connect, handshake_bytes,
                        open_peer, read_reply, recv_exact)

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")
MATCHKEY = re.compile(r"^(.*):([0-9a-f]{32})$")


@pytest.fixture
def tracker():
    t = FakeTracker()
    yield t
    t.close()


@pytest.fixture
def proxy(spawn, tracker):
    procs = []

    def start(*flags):
        port = free_port()
        p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
                  "--port-end", str(port + 1), "--tracker", "127.0.0.1:%d" % tracker.port,
                  *flags)
        wait_port(port)
        procs.append(p)
        return port

    yield start
    for p in procs:
        rc, _, err = p.stop()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, err


def puts_for(tracker, key, conn=-1):
    return [f for f in tracker.frames(conn, 3) if f[1] == key]


def wait_puts(tracker, key, n, conn=-1):
    return tracker.wait_for(lambda: len(puts_for(tracker, key, conn)) >= n and
                            puts_for(tracker, key, conn))


def test_register_shapes_and_pairing(proxy, tracker):
    port = proxy()
    server = open_peer(port, "server:k")
    put = wait_puts(tracker, "k", 1)[0]
    # [3, "k", [<proxy port>, "k:<random>"], null]
    assert put[0] == 3 and put[2][0] == port and put[3] is None and len(put) == 4
    m = MATCHKEY.match(put[2][1])
    assert m and m.group(1) == "k"
    infos = tracker.frames(code=5)
    assert infos == [[5, {"key": "server:proxy[k]", "addr": [None, port]}]]

    # The plain device key is refused: clients never wait in tracker mode.
    plain = open_peer(port, "client:k")
    plain.settimeout(5)
    assert read_reply(plain) == (CODE_MISMATCH, None)

    client = open_peer(port, "client:%s -timeout=5" % put[2][1])
    assert read_reply(client) == (CODE_SUCCESS, "server:k")
    assert read_reply(server) == (CODE_SUCCESS, "client:%s -timeout=5" % put[2][1])
    client.sendall(b"hello")
    assert recv_exact(server, 5) == b"hello"
    server.sendall(b"world")
    assert recv_exact(client, 5) == b"world"

    # The key was used: a second client with it gets MISMATCH.
    again = open_peer(port, "client:%s" % put[2][1])
    again.settimeout(5)
    assert read_reply(again) == (CODE_MISMATCH, None)
    client.close()
    server.close()


def test_two_servers_two_resources(proxy, tracker):
    port = proxy()
    s1 = open_peer(port, "server:k2")
    wait_puts(tracker, "k2", 1)
    s2 = open_peer(port, "server:k2")
    puts = wait_puts(tracker, "k2", 2)
    keys = [p[2][1] for p in puts]
    assert len(set(keys)) == 2
    # The key set did not grow with the second server: one UPDATE_INFO only.
    assert len(tracker.frames(code=5)) == 1
    # Another device key grows the set.
    s3 = open_peer(port, "server:other")
    wait_puts(tracker, "other", 1)
    info = tracker.wait_for(lambda: len(tracker.frames(code=5)) >= 2 and tracker.frames(code=5))
    assert info[-1] == [5, {"key": "server:proxy[k2,other]", "addr": [None, port]}]

    c2 = open_peer(port, "client:" + keys[1])
    c1 = open_peer(port, "client:" + keys[0])
    assert read_reply(c1) == (CODE_SUCCESS, "server:k2")
    assert read_reply(c2) == (CODE_SUCCESS, "server:k2")
    assert read_reply(s1) == (CODE_SUCCESS, "client:" + keys[0])
    assert read_reply(s2) == (CODE_SUCCESS, "client:" + keys[1])
    for s in (c1, c2, s1, s2, s3):
        s.close()


def test_tracker_loss_reregisters_with_fresh_keys(proxy, tracker):
    port = proxy()
    server = open_peer(port, "server:rk")
    old = wait_puts(tracker, "rk", 1)[0][2][1]
    assert tracker.connections() == 1
    tracker.drop(0)
    tracker.wait_for(lambda: tracker.connections() >= 2)
    new_put = wait_puts(tracker, "rk", 1, conn=1)[0]
    new = new_put[2][1]
    assert new != old and MATCHKEY.match(new)
    # UPDATE_INFO is sent again on the new connection, before the PUT.
    frames = tracker.frames(1)
    assert frames.index([5, {"key": "server:proxy[rk]", "addr": [None, port]}]) < \
        frames.index(new_put)
    stale = open_peer(port, "client:" + old)
    stale.settimeout(5)
    assert read_reply(stale) == (CODE_MISMATCH, None)
    client = open_peer(port, "client:" + new)
    assert read_reply(client) == (CODE_SUCCESS, "server:rk")
    assert read_reply(server) == (CODE_SUCCESS, "client:" + new)
    client.close()
    server.close()


def test_tracker_down_at_start(spawn):
    """Servers are pooled while the tracker is unreachable and offered once it comes up."""
    tport = free_port()
    port = free_port()
    p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1), "--tracker", "127.0.0.1:%d" % tport)
    wait_port(port)
    server = open_peer(port, "server:late")
    p.wait_log("proxy: %s:%d pooled as server for key late" % server.getsockname()[:2])
    late = FakeTracker(tport)
    try:
        put = wait_puts(late, "late", 1)[0]
        assert late.frames(code=5) == [[5, {"key": "server:proxy[late]", "addr": [None, port]}]]
        client = open_peer(port, "client:" + put[2][1])
        assert read_reply(client) == (CODE_SUCCESS, "server:late")
        assert read_reply(server) == (CODE_SUCCESS, "client:" + put[2][1])
        client.close()
        server.close()
        rc, _, err = p.stop()
        assert rc == 0, err
    finally:
        late.close()


def test_server_that_leaves_is_no_longer_offered(proxy, tracker):
    port = proxy()
    stay = open_peer(port, "server:lk")
    wait_puts(tracker, "lk", 1)
    leave = open_peer(port, "server:lk")
    puts = wait_puts(tracker, "lk", 2)
    leave.close()
    # The proxy re-registers on a new connection: the tracker forgets the old offers, and
    # only the server still waiting is offered again, under a fresh key.
    tracker.wait_for(lambda: tracker.connections() >= 2, timeout=10)
    fresh = wait_puts(tracker, "lk", 1, conn=1)
    time.sleep(0.5)  # an observation window: no second offer follows (an absence)
    assert len(puts_for(tracker, "lk", 1)) == 1
    key = fresh[0][2][1]
    assert key not in [p[2][1] for p in puts]
    client = open_peer(port, "client:" + key)
    assert read_reply(client) == (CODE_SUCCESS, "server:lk")
    assert read_reply(stay) == (CODE_SUCCESS, "client:" + key)
    client.close()
    stay.close()


def test_unclaimed_key_is_regenerated(proxy, tracker):
    port = proxy()
    server = open_peer(port, "server:gk")
    first = wait_puts(tracker, "gk", 1)[0][2][1]
    tracker.hand_out(first)  # a REQUEST took it, but no client ever comes
    puts = tracker.wait_for(lambda: len(puts_for(tracker, "gk")) >= 2 and
                            puts_for(tracker, "gk"), timeout=15)
    second = puts[1][2][1]
    assert second != first
    late = open_peer(port, "client:" + first)
    late.settimeout(5)
    assert read_reply(late) == (CODE_MISMATCH, None)
    client = open_peer(port, "client:" + second)
    assert read_reply(client) == (CODE_SUCCESS, "server:gk")
    client.close()
    server.close()


def test_bad_peers_in_tracker_mode(proxy, tracker):
    port = proxy("--handshake-timeout", "0.3")
    silent = connect(port)
    assert closed_soon(silent)
    empty = open_peer(port, "server:")
    empty.settimeout(5)
    assert read_reply(empty) == (CODE_MISMATCH, None)
    other = open_peer(port, "nobody:k")
    other.settimeout(5)
    assert read_reply(other) == (CODE_MISMATCH, None)
    assert tracker.frames(code=3) == []


def test_replay_server_half_tracker_mode(proxy, tracker):
    """tests/vectors/proxy_server_side_tracker_mode.json: the server receives SUCCESS + the
    client's key (ours has our own random suffix), then exactly the recorded session bytes."""
    with open(os.path.join(VECTORS, "proxy_server_side_tracker_mode.json")) as f:
        ex = [(e["dir"], bytes.fromhex(e["hex"])) for e in json.load(f)["exchanges"]]
    assert ex[0][1].endswith(b"server:vecproxy")
    port = proxy()
    server = connect(port)
    server.sendall(ex[0][1])
    key = wait_puts(tracker, "vecproxy", 1)[0][2][1]
    # The recorded reply starts with SUCCESS + "client:vecproxy:<their random>".
    rec_to_server = b"".join(b for d, b in ex if d == "s2c")
    rec_key_len = int.from_bytes(rec_to_server[4:8], "little")
    rec_key = rec_to_server[8:8 + rec_key_len].decode()
    assert rec_key.startswith("client:vecproxy:")
    session_to_server = rec_to_server[8 + rec_key_len:]
    session_to_client = b"".join(b for d, b in ex[1:] if d == "c2s")

    client = connect(port)
    client.sendall(handshake_bytes("client:" + key))
    assert read_reply(client) == (CODE_SUCCESS, "server:vecproxy")
    assert read_reply(server) == (CODE_SUCCESS, "client:" + key)
    client.sendall(session_to_server)
    server.sendall(session_to_client)
    assert recv_exact(server, len(session_to_server)) == session_to_server
    assert recv_exact(client, len(session_to_client)) == session_to_client
    client.close()
    server.close()


# ---- against our own tracker ----------------------------------------------------------------

def _summary_when(tracker_port, pred, timeout=10.0):
    from tvm_wire import TrackerClient
    with TrackerClient("127.0.0.1", tracker_port) as tc:
        def matching():
            s = tc.summary()
            return s if pred(s) else None
        return wait_until(matching, timeout, "a tracker summary that matches")


def _free(summary, key):
    return summary["queue_info"].get(key, {}).get("free", 0)


def _start_pair(spawn):
    tport = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport),
          "--port-end", str(tport + 1))
    wait_port(tport)
    pport = free_port()
    proxy = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(pport),
                  "--port-end", str(pport + 1), "--tracker", "127.0.0.1:%d" % tport)
    wait_port(pport)
    return tport, pport, proxy


def _request_and_pair(tport, pport, key, server):
    from tvm_wire import TrackerClient
    with TrackerClient("127.0.0.1", tport) as tc:
        tc.settimeout(10)
        addr, port, matchkey = tc.request(key)
    assert (addr, port) == ("127.0.0.1", pport)
    client = open_peer(pport, "client:%s -timeout=60" % matchkey)
    assert read_reply(client) == (CODE_SUCCESS, "server:" + key)
    assert read_reply(server) == (CODE_SUCCESS, "client:%s -timeout=60" % matchkey)
    return client


def test_with_our_tracker_request_lands_on_proxy(spawn):
    tport, pport, proxy = _start_pair(spawn)
    server = open_peer(pport, "server:rasp")
    s = _summary_when(tport, lambda s: _free(s, "rasp") == 1)
    assert {"key": "server:proxy[rasp]", "addr": ["127.0.0.1", pport]} in s["server_info"]
    client = _request_and_pair(tport, pport, "rasp", server)
    client.sendall(b"x" * 1000)
    assert recv_exact(server, 1000) == b"x" * 1000
    server.sendall(b"done")
    assert recv_exact(client, 4) == b"done"
    client.close()
    assert closed_soon(server)
    rc, _, err = proxy.stop()
    assert rc == 0, err


def test_with_our_tracker_departed_server_is_withdrawn(spawn):
    tport, pport, _ = _start_pair(spawn)
    stay = open_peer(pport, "server:lv")
    leave = open_peer(pport, "server:lv")
    _summary_when(tport, lambda s: _free(s, "lv") == 2)
    leave.close()
    # The proxy re-registers: the tracker drops both offers, then gets the live one again.
    _summary_when(tport, lambda s: _free(s, "lv") == 1)
    time.sleep(0.3)  # an observation window: the count stays at 1 (an absence of more)
    assert _free(_summary_when(tport, lambda s: True), "lv") == 1
    client = _request_and_pair(tport, pport, "lv", stay)
    client.close()
    stay.close()


def test_tracker_and_proxy_on_one_loop(spawn, tmp_path):
    """[tracker] and [proxy] in one INI: both services share the console's libuv loop."""
    tport, pport = free_port(), free_port()
    ini = tmp_path / "both.ini"
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n\n"
                   "[proxy]\nhost = 127.0.0.1\nport = %d\nport_end = %d\ntracker = 127.0.0.1:%d\n"
                   % (tport, tport + 1, pport, pport + 1, tport))
    p = spawn("--headless", "--config", str(ini))
    wait_port(tport)
    wait_port(pport)
    server = open_peer(pport, "server:one")
    _summary_when(tport, lambda s: _free(s, "one") == 1)
    client = _request_and_pair(tport, pport, "one", server)
    client.sendall(b"same loop")
    assert recv_exact(server, 9) == b"same loop"
    client.close()
    server.close()
    rc, _, err = p.stop()
    assert rc == 0, err
