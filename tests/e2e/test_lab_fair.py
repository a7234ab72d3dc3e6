"""Fair scheduling between users (docs/lab-operations.md): within one priority users take
turns, FIFO within a user; higher priority still goes first; `scheduling = fifo` keeps TVM's
order; SIGHUP switches the mode of a running tracker, waiting requests included."""
import signal

import pytest

from conftest import free_port, wait_port, wait_until
from tvm_wire import TrackerClient
from tvm_wire import tracker_summary as summary


def start_tracker(spawn, tmp_path, mode):
    port = free_port()
    ini = tmp_path / "t.ini"
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nscheduling = %s\n"
                   % (port, port + 1, mode))
    p = spawn("--headless", "--config", str(ini))
    wait_port(port)
    return port, p, ini


def pending(port, key="k"):
    return summary(port)["queue_info"].get(key, {}).get("pending", 0)


def queue_a_then_b_then_c(port):
    """A queues 100 (two connections: 64 is the per-connection limit), then B 1, then C 1 at
    a higher priority. Returns the connections."""
    a = [TrackerClient("127.0.0.1", port) for _ in range(2)]
    for i in range(100):
        a[i % 2].send_request("k", priority=1, user="A")
    wait_until(lambda: pending(port) == 100, what="A's 100 requests queued")
    b = TrackerClient("127.0.0.1", port)
    b.send_request("k", priority=1, user="B")
    wait_until(lambda: pending(port) == 101, what="B's request queued")
    c = TrackerClient("127.0.0.1", port)
    c.send_request("k", priority=2, user="C")
    wait_until(lambda: pending(port) == 102, what="C's request queued")
    return a, b, c


def serve_all(port, n):
    """One server PUTs n matchkeys k:000.. one by one; each is assigned at once to the best
    request, so the number in a client's matchkey is its place in the order served."""
    s = TrackerClient("127.0.0.1", port)
    s.update_info({"key": "server:k", "addr": [None, 9090]})
    for i in range(n):
        s.put("k", 9090, "k:%03d" % i)
    return s


def place(client):
    return int(client.recv_assignment()[2].split(":")[1])


@pytest.mark.parametrize("mode", ["fair", "fifo"])
def test_b_is_not_starved_by_a(spawn, tmp_path, mode):
    port, p, _ = start_tracker(spawn, tmp_path, mode)
    p.wait_log("tracker scheduling: %s" % mode)
    a, b, c = queue_a_then_b_then_c(port)
    s = serve_all(port, 102)
    assert place(c) == 0  # priority wins in both modes
    b_place = place(b)
    a_places = sorted(place(a[i % 2]) for i in range(100))
    if mode == "fair":
        assert b_place in (1, 2)  # within the next 2 assignments
    else:
        assert b_place == 101     # after all of A's 100, as TVM orders them
    assert sorted(a_places + [b_place, 0]) == list(range(102))
    # FIFO within a user: each of A's connections got its requests' places in order.
    for conn in (s, b, c, *a):
        conn.close()
    p.stop_clean()


def test_sighup_switches_fifo_to_fair_with_requests_waiting(spawn, tmp_path):
    port, p, ini = start_tracker(spawn, tmp_path, "fifo")
    a, b, c = queue_a_then_b_then_c(port)
    ini.write_text(ini.read_text().replace("scheduling = fifo", "scheduling = fair"))
    p.p.send_signal(signal.SIGHUP)
    log = p.wait_log("reload done")
    assert "[tracker] scheduling changed" in log and "scheduling fair" in log
    s = serve_all(port, 3)
    assert place(c) == 0
    assert place(b) in (1, 2)
    for conn in (s, b, c, *a):
        conn.close()
    p.stop_clean()


def test_anonymous_users_are_one_per_address(spawn, tmp_path):
    """Without a user, connections from one address are one user: a second anonymous client
    from the same address waits behind the first's requests under fair as under fifo, while
    a named user is served in turn."""
    port, p, _ = start_tracker(spawn, tmp_path, "fair")
    first = TrackerClient("127.0.0.1", port)
    for _ in range(5):
        first.send_request("k")
    wait_until(lambda: pending(port) == 5, what="5 anonymous requests")
    second = TrackerClient("127.0.0.1", port)
    second.send_request("k")
    wait_until(lambda: pending(port) == 6, what="the second anonymous request")
    named = TrackerClient("127.0.0.1", port)
    named.send_request("k", user="dev")
    wait_until(lambda: pending(port) == 7, what="the named request")
    s = serve_all(port, 7)
    assert place(named) in (0, 1)
    assert place(second) == 6
    for conn in (s, first, second, named):
        conn.close()
    p.stop_clean()
