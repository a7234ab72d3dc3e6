"""The Prometheus endpoint ([metrics] listen, docs/lab-operations.md): a real scrape over HTTP,
parsed with prometheus_client's text-format parser, checked against a scripted scenario on a
tracker and a proxy; the endpoint's allow list and connection limit; other paths and methods."""
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, wait_port, wait_until
from tvm_wire import TrackerClient


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def lab(spawn, tmp_path):
    tport, pport, mport = free_port(), free_port(), free_port()
    ini = tmp_path / "lab.ini"
    ini.write_text(
        "[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nallow = 127.0.0.1/32\n"
        "[proxy]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
        "[metrics]\nlisten = 127.0.0.1:%d\nallow = 127.0.0.1/32\nmax_connections = 2\n"
        "timeout = 30\n" % (tport, tport + 1, pport, pport + 1, mport))
    p = spawn("--headless", "--config", str(ini))
    wait_port(tport)
    wait_port(mport)
    yield tport, pport, mport, p
    rc, _, err = p.stop()
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert rc == 0, err


def test_scrape_matches_a_scripted_scenario(lab):
    tport, pport, mport, _ = lab
    # Two boards of key rasp; one is handed out (busy), then comes back (a released session).
    s1 = TrackerClient("127.0.0.1", tport)
    s1.register_server("rasp", 9001, "rasp:0.1")
    s2 = TrackerClient("127.0.0.1", tport)
    s2.register_server("rasp", 9002, "rasp:0.2")
    c = TrackerClient("127.0.0.1", tport)
    c.request("rasp", user="alice")
    c.request("rasp", user="alice")  # both boards busy
    s1.put("rasp", 9001, "rasp:0.3")  # s1's session ends: released, s1 free again
    waiter = TrackerClient("127.0.0.1", tport)
    waiter.send_request("jetson", user="bob")  # nobody serves jetson: pending 1
    # Refusals: a peer outside the allow list, and one with a wrong magic.
    with socket.create_connection(("127.0.0.1", tport), source_address=("127.0.0.2", 0)) as r:
        r.settimeout(5)
        assert r.recv(1) == b""
    with socket.create_connection(("127.0.0.1", tport)) as bad:
        bad.sendall(b"\x00\x00\x00\x00")
        bad.settimeout(5)
        assert bad.recv(1) == b""
    m = wait_until(lambda: (lambda x: value(x, "tvmrpc_tracker_pending", key="jetson") == 1
                            and x)(scrape(mport)), what="the scenario in a scrape")
    assert value(m, "tvmrpc_tracker_servers", key="rasp", state="free") == 1
    assert value(m, "tvmrpc_tracker_servers", key="rasp", state="busy") == 1
    assert value(m, "tvmrpc_tracker_servers", key="rasp", state="drained") == 0
    assert value(m, "tvmrpc_tracker_pending", key="rasp") == 0
    assert value(m, "tvmrpc_tracker_assignments_total") == 2
    assert value(m, "tvmrpc_tracker_sessions_total", end="released") == 1
    assert value(m, "tvmrpc_tracker_sessions_total", end="dropped") == 0
    assert value(m, "tvmrpc_tracker_refusals_total", cause="allow") == 1
    assert value(m, "tvmrpc_tracker_refusals_total", cause="protocol_error") == 1
    assert value(m, "tvmrpc_tracker_queue_wait_seconds_count", key="rasp") == 2
    assert value(m, "tvmrpc_tracker_queue_wait_seconds_bucket", key="rasp", le="+Inf") == 2
    assert value(m, "tvmrpc_tracker_queue_wait_seconds_bucket", key="rasp", le="1") == 2
    assert value(m, "tvmrpc_proxy_links") == 0
    assert value(m, "tvmrpc_proxy_bytes_relayed_total", direction="client_to_server") == 0
    assert value(m, "process_open_fds") > 5
    assert value(m, "process_resident_memory_bytes") > 1e6
    assert value(m, "process_cpu_seconds_total") >= 0
    # s2 goes away during its session: dropped.
    s2.close()
    m = wait_until(lambda: (lambda x: value(x, "tvmrpc_tracker_sessions_total", end="dropped")
                            == 1 and x)(scrape(mport)), what="the dropped session")
    assert value(m, "tvmrpc_tracker_servers", key="rasp", state="busy") == 0
    for t in (s1, c, waiter):
        t.close()


def test_paths_methods_allow_and_connection_limit(lab):
    _, _, mport, p = lab
    wait_until(lambda: scrape(mport), what="the endpoint serving")
    # max_connections = 2: with two idle connections open, a third waits unanswered in the
    # listen backlog (libmicrohttpd stops accepting at the limit); it is served once they go.
    idle = [socket.create_connection(("127.0.0.1", mport)) for _ in range(2)]
    for s in idle:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # a request never finished
    third = socket.create_connection(("127.0.0.1", mport))
    third.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    third.settimeout(0.5)
    with pytest.raises(socket.timeout):
        third.recv(100)
    for s in idle:
        s.close()
    third.settimeout(5)
    assert third.recv(100).startswith(b"HTTP/1.1 200")
    third.close()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % mport, timeout=5)
    assert e.value.code == 404
    e.value.close()  # an HTTPError holds its connection (and a slot of the limit) open
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    e.value.close()
    # Outside [metrics] allow: closed without an answer, and counted.
    with socket.create_connection(("127.0.0.1", mport), source_address=("127.0.0.2", 0)) as r:
        r.settimeout(5)
        try:
            r.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert r.recv(100) == b""
        except ConnectionResetError:
            pass  # closed at once: the reset can overtake our request
    assert value(scrape(mport), "tvmrpc_metrics_refusals_total") == 1


def test_proxy_link_and_bytes_in_a_scrape(lab, spawn):
    """A device server behind the lab's proxy and a client through it: one link while the
    session runs, the bytes of a 1 MiB copy each way counted."""
    import numpy as np

    import tvm_wire as w
    _, pport, mport, _ = lab
    board = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(pport),
                  "--port-end", str(pport + 1), "--through-proxy", "--key", "pm")
    x = np.arange(1 << 20, dtype=np.uint8)
    with w.Session.connect("127.0.0.1", pport, key="pm", timeout=60, sock_timeout=60) as s:
        t = s.tensor(x)
        np.testing.assert_array_equal(t.numpy(), x)
        m = wait_until(lambda: (lambda v: value(v, "tvmrpc_proxy_bytes_relayed_total",
                                                direction="server_to_client") >= 1 << 20 and v)(
            scrape(mport)), what="the copy's bytes counted")
        assert value(m, "tvmrpc_proxy_links") == 1
        assert value(m, "tvmrpc_proxy_links_total") == 1
        assert value(m, "tvmrpc_proxy_bytes_relayed_total", direction="client_to_server") >= 1 << 20
        t.free()
        s.shutdown()
    wait_until(lambda: value(scrape(mport), "tvmrpc_proxy_links") == 0, what="the link closed")
    board.stop_clean()


def test_flags_alone_configure_metrics_and_health(spawn):
    """--metrics H:P, --metrics-KEY and --health-KEY set [metrics] and [health] without a file;
    a bad value is refused with the flag's name."""
    from conftest import run
    port, mport = free_port(), free_port()
    p = spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
              str(port + 1), "--metrics", "127.0.0.1:%d" % mport, "--metrics-allow",
              "127.0.0.1/32", "--metrics-max-connections=4", "--health-interval", "30",
              "--health-failures-to-drain", "5")
    wait_port(mport)
    assert value(scrape(mport), "tvmrpc_tracker_health_drains_total") == 0
    p.wait_log("health checks every 30 s; 5 failed probes in a row drain a board")
    r = run("--headless", "tracker", "--health-failures-to-drain", "0")
    assert r.returncode == 2 and "--health-failures-to-drain" in r.stderr
    p.stop_clean()
