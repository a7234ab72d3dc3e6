"""Whole chains through the proxy with our device server (--through-proxy) and the independent
Python client tests/e2e/tvm_wire.py: standalone with 64 MiB tensor copies both ways, and
tracker mode (client REQUEST -> proxy -> server, then the server's fresh registration)."""

import numpy as np

import tvm_wire as w
from conftest import free_port, wait_port, wait_until

HOST = "127.0.0.1"


def _clean_stop(p):
    rc, _, err = p.stop()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert rc == 0, err


def _start(spawn, service, port, *flags):
    return spawn("--headless", service, "--host", HOST, "--port", str(port),
                 "--port-end", str(port + 1), *flags)


def test_standalone_chain_64mib_tensor_copies(spawn):
    pport = free_port()
    proxy = _start(spawn, "proxy", pport)
    wait_port(pport)
    server = _start(spawn, "server", pport, "--through-proxy", "--key", "pk")
    # In standalone mode the client simply waits at the proxy until the server registers.
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, size=64 << 20, dtype=np.uint8)
    with w.Session.connect(HOST, pport, key="pk", timeout=60, sock_timeout=60) as s:
        assert s.server_key == "server:pk"
        t = s.tensor(x)
        np.testing.assert_array_equal(t.numpy(), x)
        y = x[::-1].copy()
        t.copyfrom(y)
        np.testing.assert_array_equal(t.numpy(), y)
        t.free()
        s.shutdown()
    _clean_stop(server)
    _clean_stop(proxy)


def test_tracker_chain_request_session_and_reregistration(spawn):
    tport, pport = free_port(), free_port()
    tracker = _start(spawn, "tracker", tport)
    wait_port(tport)
    proxy = _start(spawn, "proxy", pport, "--tracker", "%s:%d" % (HOST, tport))
    wait_port(pport)
    server = _start(spawn, "server", pport, "--through-proxy", "--key", "board")

    def session_once():
        with w.TrackerClient(HOST, tport) as tc:
            tc.settimeout(20)
            addr, port, matchkey = tc.request("board")
        assert (addr, port) == (HOST, pport)
        assert matchkey.startswith("board:")
        with w.Session.connect(HOST, port, full_key="client:%s -timeout=30" % matchkey,
                               sock_timeout=30) as s:
            assert s.server_key == "server:board"
            data = np.arange(1 << 20, dtype="float32")
            t = s.tensor(data)
            np.testing.assert_array_equal(t.numpy(), data)
            t.free()
            s.upload("probe", b"through the proxy")
            assert s.download("probe") == b"through the proxy"
            s.shutdown()

    session_once()
    # After the session the server registers with the proxy again, which offers it to the
    # tracker under a fresh key: a second REQUEST finds it.
    session_once()
    # The tracker lists the proxy, not the server, as the resource owner.
    with w.TrackerClient(HOST, tport) as tc:
        wait_until(lambda: {"key": "server:proxy[board]", "addr": [HOST, pport]} in
                   tc.summary()["server_info"], 10, "the proxy listed as the owner")
    _clean_stop(server)
    _clean_stop(proxy)
    _clean_stop(tracker)
