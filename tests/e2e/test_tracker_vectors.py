"""Replay of real TVM tracker traffic (tests/vectors/tracker_*.json, python_tracker.json,
proxy_tracker_register.json, recorded against TVM's Python tracker): our tracker gets the
recorded client bytes and must answer with replies of the same structure. Random match keys,
IP addresses and, in SUMMARY, queues that only TVM keeps (empty ones) are compared by shape."""
import json
import os
import re
import struct

import pytest

from conftest import free_port, wait_port
from tvm_wire import TRACKER_MAGIC, TrackerClient, TrackerCode

PUT, REQUEST, UPDATE_INFO = TrackerCode.PUT, TrackerCode.REQUEST, TrackerCode.UPDATE_INFO
GET_PENDING_MATCHKEYS = TrackerCode.GET_PENDING_MATCHKEYS

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")
MAGIC = struct.pack("<i", TRACKER_MAGIC)


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return [(e["dir"], bytes.fromhex(e["hex"])) for e in json.load(f)["exchanges"]]


def split_frames(data):
    """A recorded chunk as a list of items: b'magic' or decoded JSON frames."""
    items = []
    if data.startswith(MAGIC):  # as a frame length it would be far over any real message
        items.append("magic")
        data = data[4:]
    while data:
        (n,) = struct.unpack("<i", data[:4])
        items.append(json.loads(data[4:4 + n]))
        data = data[4 + n:]
    return items


IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
MATCHKEY = re.compile(r"^(.+):0\.\d+$")


def shape(v):
    """Values that change from run to run replaced by their shape."""
    if isinstance(v, str):
        if IP.match(v):
            return "<ip>"
        m = MATCHKEY.match(v)
        return m.group(1) + ":<rand>" if m else v
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, dict):
        out = {k: shape(x) for k, x in v.items()}
        if "queue_info" in out:
            # TVM never forgets a key; we drop a queue once nothing refers to it.
            out["queue_info"] = {k: q for k, q in out["queue_info"].items()
                                 if q != {"free": 0, "pending": 0}}
        return out
    return v


def replay(conn, exchanges, before_send=None):
    """Send each c2s chunk; read and compare each s2c chunk. before_send(i) runs before
    chunk i is sent, to create what other (unrecorded) peers did at that time."""
    for i, (direction, data) in enumerate(exchanges):
        if direction == "c2s":
            if before_send:
                before_send(i)
            conn.send_raw(data)
            continue
        for item in split_frames(data):
            if item == "magic":
                assert conn.recv_exact(4) == MAGIC
            else:
                got = conn.recv_json()
                assert shape(got) == shape(item), (i, got, item)


def recorded_reply_after(exchanges, i):
    for direction, data in exchanges[i + 1:]:
        if direction == "s2c":
            return split_frames(data)[-1]
    return None


def consume_taken_keys(port, exchanges, conn_keys):
    """A hook for server-side files: when the recorded [7] reply no longer lists a matchkey the
    server PUT, a client took it in the recording; make a client take it here too."""
    def before(i):
        direction, data = exchanges[i]
        msg = split_frames(data)[-1] if data != MAGIC else None
        if isinstance(msg, list) and msg and msg[0] == PUT:
            conn_keys.append((msg[1], msg[2][1]))
        if msg == [GET_PENDING_MATCHKEYS]:
            expected = recorded_reply_after(exchanges, i)
            for key, mk in list(conn_keys):
                if mk not in expected:
                    with TrackerClient("127.0.0.1", port) as client:
                        assert client.call([REQUEST, key, "", 1])[1][2] == mk
                    conn_keys.remove((key, mk))
    return before


@pytest.fixture
def tracker_port(spawn):
    port = free_port()
    p = spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1))
    wait_port(port)
    yield port
    rc, _, err = p.stop()
    assert rc == 0 and "Sanitizer" not in err and "runtime error" not in err, err


def fake_server(port, key, port_field, matchkey):
    """What the recorded tvm_rpc server did on its own tracker connection."""
    s = TrackerClient("127.0.0.1", port)
    assert s.call([UPDATE_INFO, {"key": "server:" + key, "addr": [None, port_field]}]) == 0
    assert s.call([PUT, key, [int(port_field), matchkey], None]) == 0
    return s


def test_all_codes(tracker_port):
    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as c:
        replay(c, load("tracker_all_codes.json"))


def test_summary(tracker_port):
    server = fake_server(tracker_port, "vec", "9420", "vec:0.567022")
    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as c:
        replay(c, load("tracker_summary.json"))
    server.close()


def test_client_request(tracker_port):
    server = fake_server(tracker_port, "vec", "9420", "vec:0.123")
    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as c:
        replay(c, load("tracker_client_request.json"))
    server.close()


def test_python_client_session(tracker_port):
    server = fake_server(tracker_port, "vecpy", "9740", "vecpy:0.1")
    ex = load("python_tracker.json")
    requests_seen = []

    def before(i):
        # After the session the server PUT a fresh key (the second SUMMARY shows it free).
        if requests_seen:
            assert server.call([PUT, "vecpy", [9740, "vecpy:0.2"], None]) == 0
            requests_seen.clear()
        if split_frames(ex[i][1])[-1] == [REQUEST, "vecpy", "", 1]:
            requests_seen.append(i)

    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as c:
        replay(c, ex, before)
    server.close()


def test_request_waits_for_a_server(tracker_port):
    client_ex = load("tracker_request_wait_client.json")
    server_ex = load("tracker_request_wait_server.json")
    # The client's magic and REQUEST; no reply may come yet.
    cut = max(i for i, (d, _) in enumerate(client_ex) if d == "c2s") + 1
    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as client:
        replay(client, client_ex[:cut])
        assert not client.has_data(0.3)
        with TrackerClient("127.0.0.1", tracker_port, handshake=False) as server:
            replay(server, server_ex)
            replay(client, client_ex[cut:])


@pytest.mark.parametrize("name", ["tracker_server_register.json", "proxy_tracker_register.json"])
def test_server_and_proxy_registration(tracker_port, name):
    ex = load(name)
    with TrackerClient("127.0.0.1", tracker_port, handshake=False) as c:
        replay(c, ex, consume_taken_keys(tracker_port, ex, []))
