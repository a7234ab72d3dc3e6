"""The proxy in standalone mode (docs/control-plane.md §4.2-4.5): pairing by
key, SUCCESS + the partner's key to each side, verbatim relay both ways with large transfers,
timeouts, forgotten waiters and malformed handshakes. Peers are plain Python sockets."""
import hashlib
import os
import socket
import struct
import threading

import pytest

from conftest import free_port
from proxy_peer import (CODE_MISMATCH, CODE_SUCCESS, RPC_MAGIC, closed_soon, connect,
                        handshake_bytes, open_peer, read_reply, recv_exact)


@pytest.fixture
def proxy(spawn):
    """Start a standalone proxy; returns (port, process). Extra flags via proxy.start(...)."""
    started = []

    def start(*flags):
        port = free_port()
        p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
                  "--port-end", str(port + 1), *flags)
        # The log line, not a probe connection: a probe would take a slot of its own.
        p.wait_log("proxy: listening on 127.0.0.1:%d" % port)
        started.append(p)
        return port, p

    yield start
    for p in started:
        rc, _, err = p.stop()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, err


def peer_name(sock):
    return "%s:%d" % sock.getsockname()[:2]


def waits(p, sock, role, key):
    """Wait until the proxy logs that this peer waits (its handshake is done)."""
    p.wait_log("proxy: %s waits as %s for key %s" % (peer_name(sock), role, key))


def close_and_forget(p, sock):
    """Close a waiting peer; wait until the proxy logs that it left and was forgotten."""
    name = peer_name(sock)
    sock.close()
    p.wait_log("proxy: %s: left while waiting (forgotten), closed" % name)


def pair(p, port, key="x1", client_key=None):
    server = open_peer(port, "server:" + key)
    waits(p, server, "server", key)  # the server registers first
    client = open_peer(port, client_key or "client:" + key)
    return client, server


def test_pairing_and_relay(proxy):
    port, p = proxy()
    client, server = pair(p, port, "x1", "client:x1 -timeout=5")
    assert read_reply(client) == (CODE_SUCCESS, "server:x1")
    # The server learns the client's full key, -timeout included.
    assert read_reply(server) == (CODE_SUCCESS, "client:x1 -timeout=5")
    client.sendall(b"ping from client")
    assert recv_exact(server, 16) == b"ping from client"
    server.sendall(b"pong from server!")
    assert recv_exact(client, 17) == b"pong from server!"
    client.close()
    assert closed_soon(server)
    server.close()


def test_client_first_then_server(proxy):
    port, p = proxy()
    client = open_peer(port, "client:later")
    waits(p, client, "client", "later")
    server = open_peer(port, "server:later")
    assert read_reply(client) == (CODE_SUCCESS, "server:later")
    assert read_reply(server) == (CODE_SUCCESS, "client:later")
    server.sendall(b"abc")
    assert recv_exact(client, 3) == b"abc"
    client.close()
    server.close()


def test_handshake_one_byte_per_segment(proxy):
    port, p = proxy()
    server = open_peer(port, "server:slow", chunk=1)
    waits(p, server, "server", "slow")
    client = open_peer(port, "client:slow -timeout=7", chunk=1)
    assert read_reply(client) == (CODE_SUCCESS, "server:slow")
    assert read_reply(server) == (CODE_SUCCESS, "client:slow -timeout=7")
    client.close()
    server.close()


def test_bytes_sent_before_pairing_are_kept(proxy):
    port, p = proxy()
    server = connect(port)
    server.sendall(handshake_bytes("server:early") + b"server-early")
    waits(p, server, "server", "early")
    client = connect(port)
    client.sendall(handshake_bytes("client:early") + b"client-early")
    assert read_reply(client) == (CODE_SUCCESS, "server:early")
    assert recv_exact(client, 12) == b"server-early"
    assert read_reply(server) == (CODE_SUCCESS, "client:early")
    assert recv_exact(server, 12) == b"client-early"
    client.close()
    server.close()


def test_lone_client_gets_mismatch(proxy):
    port, _ = proxy("--timeout-client", "0.3")
    client = open_peer(port, "client:nobody")
    client.settimeout(5)
    assert read_reply(client) == (CODE_MISMATCH, None)
    assert closed_soon(client)


def test_lone_server_gets_mismatch(proxy):
    port, _ = proxy("--timeout-server", "0.3")
    server = open_peer(port, "server:alone")
    server.settimeout(5)
    assert read_reply(server) == (CODE_MISMATCH, None)
    assert closed_soon(server)


def test_waiting_server_that_leaves_is_forgotten(proxy):
    port, p = proxy("--timeout-client", "0.5")
    gone = open_peer(port, "server:fk")
    waits(p, gone, "server", "fk")
    close_and_forget(p, gone)
    client = open_peer(port, "client:fk")
    client.settimeout(5)
    assert read_reply(client) == (CODE_MISMATCH, None)
    # A live server on the same key is paired normally afterwards.
    client, server = pair(p, port, "fk")
    assert read_reply(client) == (CODE_SUCCESS, "server:fk")
    assert read_reply(server) == (CODE_SUCCESS, "client:fk")
    client.close()
    server.close()


def test_two_servers_one_key_fifo(proxy):
    port, p = proxy()
    s1 = open_peer(port, "server:shared")
    waits(p, s1, "server", "shared")
    s2 = open_peer(port, "server:shared")  # no DUPLICATE: it queues behind s1
    waits(p, s2, "server", "shared")
    c1 = open_peer(port, "client:shared -timeout=1")
    c2 = open_peer(port, "client:shared -timeout=2")
    for c in (c1, c2):
        assert read_reply(c) == (CODE_SUCCESS, "server:shared")
    assert read_reply(s1) == (CODE_SUCCESS, "client:shared -timeout=1")
    assert read_reply(s2) == (CODE_SUCCESS, "client:shared -timeout=2")
    c1.sendall(b"one")
    c2.sendall(b"two")
    assert recv_exact(s1, 3) == b"one"
    assert recv_exact(s2, 3) == b"two"
    s2.sendall(b"to-c2")
    assert recv_exact(c2, 5) == b"to-c2"
    for s in (c1, c2, s1, s2):
        s.close()


def test_keys_do_not_cross(proxy):
    port, p = proxy("--timeout-client", "0.4")
    server = open_peer(port, "server:a")
    waits(p, server, "server", "a")
    client = open_peer(port, "client:b")
    client.settimeout(5)
    assert read_reply(client) == (CODE_MISMATCH, None)
    server.close()


def _pump(sock, payload, results, name):
    try:
        sock.sendall(payload)
        results[name] = True
    except OSError as e:
        results[name] = e


def _drain(sock, n, results, name):
    h = hashlib.sha256()
    got = 0
    view = bytearray(1 << 20)
    try:
        while got < n:
            k = sock.recv_into(view, min(len(view), n - got))
            if not k:
                break
            h.update(memoryview(view)[:k])
            got += k
    except OSError as e:
        results[name + "_error"] = e
    results[name] = (got, h.hexdigest())


def test_64mib_both_ways(proxy):
    port, p = proxy()
    client, server = pair(p, port, "bulk")
    assert read_reply(client)[0] == CODE_SUCCESS
    assert read_reply(server)[0] == CODE_SUCCESS
    size = 64 << 20
    up = os.urandom(size)
    down = os.urandom(size)
    for s in (client, server):
        s.settimeout(60)
    res = {}
    threads = [
        threading.Thread(target=_pump, args=(client, up, res, "send_up")),
        threading.Thread(target=_pump, args=(server, down, res, "send_down")),
        threading.Thread(target=_drain, args=(server, size, res, "recv_up")),
        threading.Thread(target=_drain, args=(client, size, res, "recv_down")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert res["send_up"] is True and res["send_down"] is True
    assert res["recv_up"] == (size, hashlib.sha256(up).hexdigest())
    assert res["recv_down"] == (size, hashlib.sha256(down).hexdigest())
    client.close()
    server.close()


def test_server_drop_mid_transfer(proxy):
    port, p = proxy()
    client, server = pair(p, port, "drop")
    other_c, other_s = pair(p, port, "other")
    for s in (client, server, other_c, other_s):
        assert read_reply(s)[0] == CODE_SUCCESS
    server.sendall(b"x" * 100000)
    assert recv_exact(client, 100000) == b"x" * 100000
    # The client keeps sending while the server vanishes.
    stop = threading.Event()

    def keep_sending():
        try:
            while not stop.is_set():
                client.sendall(b"y" * 65536)
        except OSError:
            pass

    t = threading.Thread(target=keep_sending)
    t.start()
    assert recv_exact(server, 65536) == b"y" * 65536  # the relay is mid transfer
    server.close()
    assert closed_soon(client, timeout=5)
    stop.set()
    t.join(10)
    # The other link is unaffected.
    other_c.sendall(b"still here")
    assert recv_exact(other_s, 10) == b"still here"
    other_s.sendall(b"yes")
    assert recv_exact(other_c, 3) == b"yes"
    for s in (client, other_c, other_s):
        s.close()


def test_bad_magic_is_closed(proxy):
    port, _ = proxy()
    s = connect(port)
    s.sendall(struct.pack("<ii", 0x1234, 4) + b"abcd")
    assert closed_soon(s)


def test_bad_key_length_is_closed(proxy):
    port, _ = proxy()
    for n in (-1, 1 << 30):
        s = connect(port)
        s.sendall(struct.pack("<ii", RPC_MAGIC, n))
        assert closed_soon(s)


def test_bad_role_gets_mismatch(proxy):
    port, _ = proxy()
    s = open_peer(port, "router:x1")
    s.settimeout(5)
    assert read_reply(s) == (CODE_MISMATCH, None)
    assert closed_soon(s)
    s = open_peer(port, "client:x1 -timeout=abc")
    s.settimeout(5)
    assert read_reply(s) == (CODE_MISMATCH, None)


def test_silent_peer_is_cut_off(proxy):
    port, p = proxy("--handshake-timeout", "0.3")
    silent = connect(port)
    partial = connect(port)
    partial.sendall(struct.pack("<i", RPC_MAGIC))  # magic, then nothing
    assert closed_soon(silent)
    assert closed_soon(partial)
    # The proxy still serves others.
    client, server = pair(p, port, "after")
    assert read_reply(client) == (CODE_SUCCESS, "server:after")
    server.close()
    client.close()


def test_allow_list_refuses(proxy):
    port, _ = proxy("--allow", "10.0.0.0/8")
    s = connect(port)
    assert closed_soon(s)


def test_sigterm_closes_everything(proxy):
    port, p = proxy()
    client, server = pair(p, port, "bye")
    assert read_reply(client)[0] == CODE_SUCCESS
    waiting = open_peer(port, "server:stays")
    waits(p, waiting, "server", "stays")
    rc, _, err = p.stop()
    assert rc == 0, err
    for s in (client, server, waiting):
        assert closed_soon(s)


def test_peer_keys_cannot_forge_log_lines(spawn):
    port = free_port()
    p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1), "--timeout-client", "0.2")
    p.wait_log("proxy: listening on 127.0.0.1:%d" % port)
    for key in ("router:x\nFAKE log line", "client:\x1b[2Jesc"):
        s = open_peer(port, key)
        s.settimeout(5)
        assert read_reply(s) == (CODE_MISMATCH, None)
        s.close()
    rc, _, err = p.stop()
    assert rc == 0
    assert "\x1b" not in err
    assert not any(line.startswith("FAKE") for line in err.splitlines())
    assert "router:x?FAKE log line" in err


def test_max_connections(proxy):
    port, p = proxy("--max-connections", "2")  # started without a probe connection
    s1 = open_peer(port, "server:m")
    waits(p, s1, "server", "m")
    s2 = open_peer(port, "server:m")
    waits(p, s2, "server", "m")
    third = connect(port)
    assert closed_soon(third)
    assert not closed_soon(s2, timeout=0.2)  # the two admitted ones stay
    close_and_forget(p, s2)
    # A slot is free again: a client is accepted and paired with the first server.
    c = open_peer(port, "client:m")
    assert read_reply(c) == (CODE_SUCCESS, "server:m")
    assert read_reply(s1) == (CODE_SUCCESS, "client:m")
    c.close()
    s1.close()
