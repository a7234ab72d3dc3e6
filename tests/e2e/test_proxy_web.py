"""The proxy's WebSocket port (docs/control-plane.md §4.6): browser/WASM device servers register
through it and are paired like TCP peers. The conversation of TVM's own
websocket_proxy_server with the stock client (tests/vectors/python_websocket_server.json,
recorded through our proxy by tests/conformance/record_websocket.py) is replayed here by the
independent WebSocket client in ws_wire.py, in standalone and tracker mode; pairing the other
way round, back-pressure, and every way a WebSocket peer can misbehave are checked too."""
import json
import os
import random
import socket
import struct
import threading

import pytest

import ws_wire
from conftest import ROOT, free_port, wait_port, wait_until
from tvm_wire import TrackerClient

MAGIC = 0xFF271
SUCCESS, MISMATCH = 0xFF271, 0xFF272
VECTOR = os.path.join(ROOT, "tests", "vectors", "python_websocket_server.json")


def load_vector():
    with open(VECTOR) as f:
        v = json.load(f)
    return v["key"], [(e["peer"], e["dir"], bytes.fromhex(e["hex"])) for e in v["events"]]


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "closed after %d of %d bytes" % (len(buf), n)
        buf += chunk
    return buf


def handshake(key):
    k = key.encode()
    return struct.pack("<ii", MAGIC, len(k)) + k


@pytest.fixture
def proxy(spawn):
    """A proxy with its web port; at the end it must stop cleanly on SIGTERM (libwebsockets'
    teardown included) with no sanitizer report."""
    started = []

    def start(*extra):
        port, web = free_port(), free_port()
        p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
                  "--port-end", str(port + 1), "--web-port", str(web), *extra)
        wait_port(port)
        wait_port(web)
        started.append(p)
        return p, port, web
    yield start
    for p in started:
        p.stop_clean()


def replay(ws, tcp, events):
    """Play both recorded peers: send what each sent, check each receives what it received."""
    for peer, direction, data in events:
        if peer == "ws":
            if direction == "send":
                ws.send(data)
            else:
                assert ws.recv_bytes(len(data)) == data
        else:
            if direction == "send":
                tcp.sendall(data)
            else:
                assert read_exact(tcp, len(data)) == data


def test_replay_of_tvm_websocket_server_standalone(proxy):
    p, port, web = proxy()
    key, events = load_vector()
    ws = ws_wire.Client("127.0.0.1", web)
    assert ws.status == 101
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    # The server's three handshake frames first, then wait until the proxy holds it.
    first = [e for e in events[:3] if e[0] == "ws" and e[1] == "send"]
    assert len(first) == 3
    replay(ws, tcp, first)
    p.wait_log("ws:127.0.0.1:")
    p.wait_log("waits as server for key %s" % key)
    replay(ws, tcp, events[3:])
    tcp.close()
    assert ws.closed()
    log = p.wait_log("closed by the client")
    assert "ws:127.0.0.1" in log


def test_frame_boundaries_carry_no_meaning(proxy):
    """The same conversation with the server's bytes re-cut: its handshake one byte per
    frame, and every later message split into uneven frames."""
    p, port, web = proxy()
    key, events = load_vector()
    ws = ws_wire.Client("127.0.0.1", web)
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    hs = b"".join(d for _, _, d in events[:3])
    ws.send(hs, chunks=[1] * len(hs))
    p.wait_log("waits as server for key %s" % key)
    rng = random.Random(5)
    for peer, direction, data in events[3:]:
        if peer == "ws" and direction == "send":
            cuts = [rng.randint(1, max(1, len(data) // 3)) for _ in range(3)]
            ws.send(data, chunks=cuts)
        elif peer == "ws":
            assert ws.recv_bytes(len(data)) == data
        elif direction == "send":
            tcp.sendall(data)
        else:
            assert read_exact(tcp, len(data)) == data
    tcp.close()


def test_tracker_mode_registers_and_pairs_a_websocket_server(spawn, proxy):
    tport = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport),
          "--port-end", str(tport + 1))
    wait_port(tport)
    p, port, web = proxy("--tracker", "127.0.0.1:%d" % tport)
    key, events = load_vector()
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(b"".join(d for _, _, d in events[:3]))
    tracker = TrackerClient("127.0.0.1", tport)

    def free():
        q = tracker.summary()["queue_info"].get(key)
        return q and q["free"] == 1
    wait_until(free, what="the WebSocket server registered with the tracker")
    addr, pport, matchkey = tracker.request(key)
    assert pport == port
    tcp = socket.create_connection(("127.0.0.1", pport), timeout=10)
    tcp.sendall(handshake("client:" + matchkey))
    # The proxy answers both sides with SUCCESS and the partner's key.
    head = read_exact(tcp, 8)
    code, n = struct.unpack("<ii", head)
    assert code == SUCCESS
    assert read_exact(tcp, n).decode().startswith("server:")
    got = ws.recv_bytes(8)
    code, n = struct.unpack("<ii", got)
    assert code == SUCCESS and ws.recv_bytes(n) == ("client:" + matchkey).encode()
    # The session itself: everything after the recorded handshakes (the server's three
    # frames, the client's handshake and the proxy's two answers).
    assert sorted((e[0], e[1]) for e in events[:6]) == [
        ("tcp", "recv"), ("tcp", "send"), ("ws", "recv"), ("ws", "send"), ("ws", "send"),
        ("ws", "send")]
    replay(ws, tcp, events[6:])
    tracker.close()
    tcp.close()


def test_tcp_server_paired_with_a_websocket_client_under_back_pressure(proxy):
    """The WebSocket peer is the client here; 1 MiB each way, in frames and reads of uneven
    sizes, arrives intact."""
    p, port, web = proxy()
    srv = socket.create_connection(("127.0.0.1", port), timeout=20)
    srv.sendall(handshake("server:bp"))
    p.wait_log("waits as server for key bp")
    ws = ws_wire.Client("127.0.0.1", web, timeout=20)
    ws.send(handshake("client:bp"))
    code, n = struct.unpack("<ii", read_exact(srv, 8))
    assert code == SUCCESS and read_exact(srv, n) == b"client:bp"
    code, n = struct.unpack("<ii", ws.recv_bytes(8))
    assert code == SUCCESS and ws.recv_bytes(n) == b"server:bp"
    up = random.Random(1).randbytes(1 << 20)
    down = random.Random(2).randbytes(1 << 20)
    got = {}

    def server_side():
        got["up"] = read_exact(srv, len(up))
        srv.sendall(down)
    t = threading.Thread(target=server_side)
    t.start()
    ws.send(up, chunks=[1, 7, 65536, 300000, 3])
    got["down"] = ws.recv_bytes(len(down))
    t.join(30)
    assert got["up"] == up and got["down"] == down
    srv.close()
    assert ws.closed()


def test_misbehaving_websocket_peers_end_cleanly(proxy):
    p, port, web = proxy("--web-max-frame", "64K")
    # A text frame.
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send_raw(ws_wire.frame(ws_wire.OP_TEXT, b"hello"))
    assert ws.closed()
    p.wait_log("a text frame")
    # A frame over web_max_frame (only its header needs to arrive).
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send_raw(ws_wire.frame(ws_wire.OP_BINARY, b"x" * 70000))
    assert ws.closed()
    p.wait_log("web_max_frame")
    # An unmasked frame from a client breaks RFC 6455 §5.1: closed before lws reads it.
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(handshake("server:masked"))  # masked frames are fine
    p.wait_log("waits as server for key masked")
    ws.send_raw(ws_wire.frame(ws_wire.OP_BINARY, b"\0" * 8, mask=False))
    assert ws.closed()
    p.wait_log("an unmasked frame from a client")
    # A close frame.
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(handshake("server:leaving"))
    p.wait_log("waits as server for key leaving")
    ws.send_raw(ws_wire.frame(ws_wire.OP_CLOSE, struct.pack(">H", 1000)))
    assert ws.closed()
    p.wait_log("the peer sent a close frame")
    # A bad RPC handshake inside good frames is the proxy's own refusal.
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(struct.pack("<ii", 12345, 4) + b"abcd")
    assert ws.closed()
    # The wrong path, and plain HTTP: no upgrade.
    ws = ws_wire.Client("127.0.0.1", web, path="/other")
    assert ws.status != 101
    p.wait_log("a path other than /ws")
    with socket.create_connection(("127.0.0.1", web), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b" 404 " in s.recv(4096).split(b"\r\n")[0] + b" "
    # After all that, a good WebSocket server still registers and pairs.
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(handshake("server:good"))
    p.wait_log("waits as server for key good")
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    tcp.sendall(handshake("client:good"))
    assert struct.unpack("<i", read_exact(tcp, 4))[0] == SUCCESS


def test_allow_list_applies_to_the_web_port(proxy):
    p, port, web = proxy("--allow", "10.0.0.0/8")
    with pytest.raises((EOFError, ConnectionError, OSError)):
        ws = ws_wire.Client("127.0.0.1", web)
        ws.recv_frame()
    p.wait_log("not in the allow list")


def test_web_port_zero_is_off_and_a_taken_port_is_an_error(spawn):
    port = free_port()
    p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port), "--port-end",
              str(port + 1), "--web-port", "0")
    wait_port(port)
    p.wait_log("listening on")
    assert "WebSocket" not in p.log()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port2 = free_port()
    q = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port2),
              "--port-end", str(port2 + 1), "--web-port", str(busy.getsockname()[1]))
    q.wait_log("cannot listen for WebSockets")
    assert q.p.wait(10) != 0
    busy.close()


def test_console_marks_websocket_peers(tmp_path):
    """The dashboard (proxy in standalone mode, embedded): a server waiting on the web port
    shows as 'proxy/ws'."""
    from test_console import TMUX, Console
    if TMUX is None:  # a legitimate skip: the console tests need tmux
        pytest.skip("tmux is not installed")
    tport, pport, web = free_port(), free_port(), free_port()
    cfg = tmp_path / "lab.ini"
    cfg.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
                   "[proxy]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nweb_port = %d\n"
                   "[console]\nlocal_server = no\nrefresh = 0.1\n"
                   % (tport, tport + 1, pport, pport + 1, web))
    c = Console(tmp_path, ["--config", str(cfg)])
    try:
        wait_port(web)
        ws = ws_wire.Client("127.0.0.1", web)
        ws.send(handshake("server:browser-gpu"))
        c.wait_for(lambda s: any("server:browser-gpu" in l and "proxy/ws" in l
                                 for l in s.splitlines()), what="the WebSocket server row")
        ws.close()
        c.keys("q")
        assert c.exit_status(timeout=15) == 0
    finally:
        c.kill()


def test_websocket_peers_count_against_max_connections(proxy):
    p, port, web = proxy("--max-connections", "1", "--log-level", "debug")
    p.wait_log("closed without sending anything")  # the fixture's port probe is gone
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.sendall(handshake("server:first"))
    p.wait_log("waits as server for key first")
    ws = ws_wire.Client("127.0.0.1", web)
    assert ws.closed()
    p.wait_log("max_connections (1) reached")
    held.close()


def test_metrics_count_websocket_peers_and_frames(proxy):
    """The Prometheus endpoint (docs/lab-operations.md) reports the web port's peers and
    frames, parsed with prometheus_client as the metrics tests do."""
    from test_lab_metrics import scrape, value
    mport = free_port()
    p, port, web = proxy("--metrics", "127.0.0.1:%d" % mport)
    wait_port(mport)
    ws = ws_wire.Client("127.0.0.1", web)
    ws.send(handshake("server:scraped"), chunks=[4, 4])
    p.wait_log("waits as server for key scraped")
    s = scrape(mport)
    assert value(s, "tvmrpc_proxy_websocket_peers") == 1
    assert value(s, "tvmrpc_proxy_websocket_frames_total", direction="in") == 3
    ws.close()
