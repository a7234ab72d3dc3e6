"""tvm_wire posing as a device server behind the real proxy (`--headless proxy`, standalone
mode): server-side handshake, pairing with a tvm_wire client, the client's full key (with
-timeout) delivered to the server, packets relayed verbatim both ways, DUPLICATE for a second
server on the same key (docs/control-plane.md §4.3, §4.5)."""
import threading

import pytest

import tvm_wire as w
from test_server_session import services  # noqa: F401


@pytest.fixture
def proxy(services):  # noqa: F811
    return services.start("the proxy", "proxy", [])


def test_scripted_server_behind_proxy(proxy):
    payload = bytes(range(256)) * 256           # 64 KiB CopyAck through the relay
    hdr = w.TensorHeader(0x1000, w.CPU, (len(payload),), w.DataType(1, 8))
    seen = {}

    def serve():
        try:
            sock, peer = w.server_handshake("127.0.0.1", proxy.port, "px", timeout=30)
            seen["peer"] = peer
            ep = w.ServerEndpoint(sock)
            p = ep.recv_request()
            assert p.code == w.RPCCode.INIT_SERVER and p.version == "0.8.0" and p.args == []
            ep.send_return([None])
            p = ep.recv_request()
            assert p.code == w.RPCCode.GET_GLOBAL_FUNC and p.args == ["echo.me"]
            ep.send_return([w.OpaquePtr(0x77)])
            p = ep.recv_request()
            assert p.code == w.RPCCode.CALL_FUNC and p.handle == 0x77
            seen["args"] = p.args
            ep.send_return([1, 42])
            p = ep.recv_request()
            assert p.code == w.RPCCode.COPY_FROM_REMOTE and p.header == hdr
            ep.send_copy_ack(payload[:p.nbytes])
            p = ep.recv_request()
            assert p.code == w.RPCCode.CALL_FUNC
            ep.send_exception("ValueError: scripted failure")
            p = ep.recv_request()
            assert p.code == w.RPCCode.SHUTDOWN
            sock.close()                        # like a server: close after Shutdown
            seen["done"] = True
        except Exception as e:  # reported by the main thread
            seen["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    # the client may arrive before the server registered: retry on MISMATCH for a bounded time
    s = None
    for _ in range(50):
        try:
            s = w.Session.connect("127.0.0.1", proxy.port, key="px", timeout=5, sock_timeout=30)
            break
        except w.KeyMismatchError:
            t.join(0.1)
    assert s is not None, seen
    assert s.server_key == "server:px"
    assert s.get_global_func("echo.me") == 0x77
    assert s.call(0x77, "a", b"bytes", 2.5, w.CPU) == 42
    assert s.copy_from_remote(hdr, len(payload), chunked=False) == payload
    with pytest.raises(w.RPCError, match="scripted failure"):
        s.call(0x77)
    s.shutdown()
    t.join(30)
    assert "error" not in seen, seen["error"]
    assert seen.get("done") and seen["peer"] == "client:px -timeout=5"
    assert seen["args"] == ["a", b"bytes", 2.5, w.CPU]


def test_servers_on_one_key_queue_instead_of_duplicate(proxy):
    """Our proxy queues any number of servers per key (README: no DUPLICATE, unlike TVM's):
    two scripted servers on one key are both paired, one client each."""
    peers = []

    def wait():
        try:
            sock, peer = w.server_handshake("127.0.0.1", proxy.port, "dup", timeout=30)
            peers.append(peer)
            sock.close()
        except Exception as e:  # reported below
            peers.append(e)

    threads = [threading.Thread(target=wait, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    got = []
    for key in ("client:dup -timeout=11", "client:dup -timeout=22"):
        for _ in range(50):       # until a server is registered (a lone client waits anyway)
            sock = w.connect("127.0.0.1", proxy.port, timeout=30)
            w.send_handshake(sock, key)
            try:
                got.append(w.read_handshake_reply(sock))
                break
            except w.KeyMismatchError:
                threads[0].join(0.1)
            finally:
                sock.close()
    for t in threads:
        t.join(30)
    assert got == ["server:dup", "server:dup"]
    assert sorted(peers) == ["client:dup -timeout=11", "client:dup -timeout=22"], peers
