"""Replay of recorded TVM proxy traffic (tests/vectors/proxy_client_side.json and
proxy_server_side.json: the two halves of one session relayed by TVM's Python proxy). We play
both halves through our proxy and check each side receives exactly the recorded bytes."""
import json
import os

from conftest import free_port, wait_port
from proxy_peer import connect, recv_exact

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return [(e["dir"], bytes.fromhex(e["hex"])) for e in json.load(f)["exchanges"]]


def stream(exchanges, direction, skip_first=False):
    parts = [b for d, b in exchanges if d == direction]
    return b"".join(parts[1:] if skip_first else parts)


def test_replay_plain_proxy_session(spawn):
    client_side = load("proxy_client_side.json")
    server_side = load("proxy_server_side.json")
    # The recording itself: what the client sent after its handshake is what the server got
    # after the handshake reply, and the other way round.
    client_hs = client_side[0][1]
    server_hs = server_side[0][1]
    assert client_hs.endswith(b"client:vecp") and server_hs.endswith(b"server:vecp")

    port = free_port()
    p = spawn("--headless", "proxy", "--host", "127.0.0.1", "--port", str(port),
              "--port-end", str(port + 1))
    wait_port(port)
    server = connect(port)
    server.sendall(server_hs)
    p.wait_log("proxy: %s:%d waits as server for key vecp" % server.getsockname()[:2])
    client = connect(port)
    client.sendall(client_hs)

    got_client = bytearray()
    got_server = bytearray()
    to_client = iter(b for d, b in server_side[1:] if d == "c2s")
    # Follow the client's recording: its c2s go out from the client and must reach the server;
    # its s2c are the server's c2s, sent by the server and checked at the client.
    for i, (direction, data) in enumerate(client_side):
        if direction == "c2s":
            if i:
                client.sendall(data)
            continue
        if i > 1:
            server_data = next(to_client)
            server.sendall(server_data)
        got_client += recv_exact(client, len(data))
        assert bytes(got_client[-len(data):]) == data, "exchange %d" % i
    for direction, data in server_side[1:]:
        if direction == "s2c":
            got_server += recv_exact(server, len(data))
    assert bytes(got_client) == stream(client_side, "s2c")
    assert bytes(got_server) == stream(server_side, "s2c")
    client.close()
    server.close()
    rc, _, err = p.stop()
    assert rc == 0, err
