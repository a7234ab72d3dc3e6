"""The ncurses console under tmux: panes show live tracker state, admin keys act on the
tracker, resizing works, and q exits 0 and frees the ports. The test speaks the tracker
protocol with the independent client in tvm_wire.py."""
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

from conftest import BIN, free_port, wait_port
from tvm_wire import TrackerClient

TMUX = shutil.which("tmux")
# A legitimate skip: these tests drive the console through tmux, a tool that may be absent.
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (scripts/deps.sh installs it)")


class Console:
    def __init__(self, tmp_path, args, width=100, height=30, env=None):
        self.name = "tvmrpc-%s" % uuid.uuid4().hex[:8]
        self.exit_file = tmp_path / "exit"
        cmd = "%s %s; echo $? > %s" % (BIN, " ".join(args), self.exit_file)
        e = dict(os.environ, TERM="xterm-256color")
        e.pop("TMUX", None)
        if env:
            e.update(env)
        # A tmux server that is already running gives new sessions its own environment, so
        # the extra variables are also passed explicitly.
        extra = [a for k, v in (env or {}).items() for a in ("-e", "%s=%s" % (k, v))]
        subprocess.run([TMUX, "new-session", "-d", "-s", self.name, "-x", str(width), "-y",
                        str(height)] + extra + [cmd], check=True, env=e)

    def screen(self):
        r = subprocess.run([TMUX, "capture-pane", "-t", self.name, "-p"], capture_output=True,
                           text=True)
        return r.stdout

    def wait_for(self, predicate, timeout=10.0, what="screen"):
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; screen:\n%s" % (what, text))

    def keys(self, *keys):
        """Type keys; callers then wait_for the screen they cause. Input is read in order, so
        only a trailing Escape needs a pause: ncurses tells a lone Escape from an Alt+key
        sequence by the gap after it (set_escdelay(25) in ui.c)."""
        subprocess.run([TMUX, "send-keys", "-t", self.name] + list(keys), check=True)
        if keys[-1] == "Escape":
            time.sleep(0.15)

    def exit_status(self, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.1)
        return None

    def kill(self):
        subprocess.run([TMUX, "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def console(tmp_path):
    made = []

    def start(args, **kw):
        c = Console(tmp_path, args, **kw)
        made.append(c)
        return c

    yield start
    for c in made:
        c.kill()


def lab_config(tmp_path, port, extra=""):
    p = tmp_path / "lab.ini"
    p.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n[console]\n"
                 "local_server = no\nrefresh = 0.1\n%s" % (port, port + 1, extra))
    return str(p)


def register(port, key, server_port, n):
    t = TrackerClient("127.0.0.1", port)
    t.register_server(key, server_port, "%s:0.%d" % (key, n))
    return t


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_panes_show_servers_queues_and_requests(tmp_path, console):
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)])
    c.wait_for(lambda s: "Servers" in s and "Events" in s, what="dashboard")
    wait_port(port)
    s1 = register(port, "rasp4b", 9501, 1)
    s2 = register(port, "jetson", 9502, 2)
    waiter = TrackerClient("127.0.0.1", port)
    waiter.send_request("v100", priority=7, user="alice")
    text = c.wait_for(lambda s: "server:rasp4b" in s and "server:jetson" in s and "alice" in s,
                      what="servers and the pending request")
    assert "127.0.0.1:9501" in text
    assert "v100" in text
    # The Queues pane: rasp4b total 1 free 1 pending 0.
    row = [l for l in text.splitlines() if l.strip().startswith("rasp4b")][0]
    assert row.split()[:4] == ["rasp4b", "1", "1", "0"]
    # An assignment shows up as busy within a refresh.
    client = TrackerClient("127.0.0.1", port)
    assert client.request("jetson")[2] == "jetson:0.2"
    c.wait_for(lambda s: any("server:jetson" in l and "busy" in l for l in s.splitlines()),
               what="jetson busy")
    for t in (s1, s2, waiter, client):
        t.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_drain_kick_and_cancel_act_on_the_tracker(tmp_path, console):
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)])
    wait_port(port)
    server = register(port, "board", 9601, 1)
    waiter = TrackerClient("127.0.0.1", port)
    waiter.send_request("nothing-here", user="bob")
    c.wait_for(lambda s: "server:board" in s and "bob" in s, what="rows")
    observer = TrackerClient("127.0.0.1", port)
    # d on the selected (only) server: drained, so the tracker no longer counts it free.
    c.keys("d")
    c.wait_for(lambda s: "drained" in s, what="drained state")
    assert observer.summary()["queue_info"]["board"]["free"] == 0
    c.keys("d")  # undrain
    c.wait_for(lambda s: any("server:board" in l and "free" in l for l in s.splitlines()))
    assert observer.summary()["queue_info"]["board"]["free"] == 1
    # x on Pending, confirmed: the waiting client gets a failure reply.
    c.keys("Tab", "Tab")
    c.keys("x")
    c.wait_for(lambda s: "Cancel the pending request" in s, what="confirmation")
    c.keys("y")
    waiter.settimeout(5)
    reply = waiter.recv_json()
    assert reply[0] == -1
    # x on Servers, confirmed: the server's tracker connection is closed.
    c.keys("Tab", "Tab", "Tab")  # back to Servers
    c.keys("x")
    c.wait_for(lambda s: "Kick server" in s, what="kick confirmation")
    c.keys("y")
    server.settimeout(5)
    assert server.sock.recv(1) == b""
    c.wait_for(lambda s: "server:board" not in s.split("Queues")[0], what="server gone")
    observer.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_help_filter_sort_and_details(tmp_path, console):
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)])
    wait_port(port)
    conns = [register(port, k, 9700 + i, i) for i, k in enumerate(["alpha", "beta", "gamma"])]
    c.wait_for(lambda s: "server:gamma" in s)
    c.keys("?")
    c.wait_for(lambda s: "drain / undrain" in s, what="help")
    c.keys("Escape")
    c.keys("/", "b", "e", "t", "Enter")
    text = c.wait_for(lambda s: "filter" in s and "server:alpha" not in s.split("Queues")[0],
                      what="filtered")
    assert "server:beta" in text.split("Queues")[0]
    c.keys("/", "Escape")
    c.wait_for(lambda s: "server:alpha" in s)
    c.keys("s", "s")  # address descending
    text = c.wait_for(lambda s: "server:gamma" in s and "server:alpha" in s and
                      s.index("server:gamma") < s.index("server:alpha"), what="sorted rows")
    top = text.index("server:gamma")
    assert top < text.index("server:alpha")
    c.keys("Enter")
    c.wait_for(lambda s: "details" in s and "registered:" in s, what="details box")
    c.keys("Escape")
    for t in conns:
        t.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_resize_to_80x24_and_quit_frees_ports(tmp_path, console):
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)], width=120, height=40)
    wait_port(port)
    t = register(port, "small-term", 9801, 1)
    c.wait_for(lambda s: "server:small-term" in s)
    subprocess.run([TMUX, "resize-window", "-t", c.name, "-x", "80", "-y", "24"], check=True)
    text = c.wait_for(lambda s: len(s.splitlines()) <= 24 and "server:small-term" in s
                      and "Queues" in s and "Events" in s and "q quit" in s,
                      what="redraw at 80x24")
    lines = text.splitlines()
    assert all(len(l) <= 80 for l in lines)
    assert any("Events" in l for l in lines) and any("Queues" in l for l in lines)
    t.close()
    c.keys("q")
    assert c.exit_status() == 0
    assert port_is_free(port)


def test_no_color_is_respected(tmp_path, console):
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)], env={"NO_COLOR": "1"})
    c.wait_for(lambda s: "Servers" in s and "q quit" in s, what="a complete first frame")
    r = subprocess.run([TMUX, "capture-pane", "-e", "-t", c.name, "-p"], capture_output=True,
                       text=True)
    # With NO_COLOR only attributes (reverse, bold) are used: no foreground colour codes.
    assert "\x1b[3" not in r.stdout.replace("\x1b[39m", "")
    c.keys("q")
    assert c.exit_status() == 0


def test_attach_watches_a_remote_tracker(tmp_path, spawn, console):
    port = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
          str(port + 1))
    wait_port(port)
    t = register(port, "remote-board", 9901, 1)
    c = console(["--attach", "127.0.0.1:%d" % port])
    text = c.wait_for(lambda s: "server:remote-board" in s, what="attached summary")
    assert "read-only" in text
    c.keys("d")
    c.wait_for(lambda s: "read-only (no drain" in s, what="read-only refusal")
    t.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_local_server_proxy_and_probe(tmp_path, console):
    """The lab set-up the console starts by default: tracker, proxy and a local CPU server
    (a child process) registered under 'local'; 'p' probes it through the RPC client."""
    tport, pport = free_port(), free_port()
    cfg = tmp_path / "lab.ini"
    cfg.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\n"
                   "[proxy]\nhost = 127.0.0.1\nport = %d\nport_end = %d\ntracker = 127.0.0.1:%d\n"
                   "[console]\nlocal_server = yes\nlocal_key = local\nrefresh = 0.1\n"
                   % (tport, tport + 1, pport, pport + 1, tport))
    c = console(["--config", str(cfg)])
    c.wait_for(lambda s: any("server:local" in l and "free" in l for l in s.splitlines()),
               timeout=20, what="local server registered and free")
    assert "proxy :%d" % pport in c.screen()
    c.keys("p")
    text = c.wait_for(lambda s: "round trip" in s and "MiB/s" in s, timeout=30, what="probe")
    assert "failed" not in text.splitlines()[-1]
    # The server registers again after the probe's session.
    c.wait_for(lambda s: any("server:local" in l and "free" in l and " 1 " in l
                             for l in s.splitlines()), timeout=20, what="re-registered")
    # Its details say how it links .o/.tar uploads (the compiler found on PATH).
    c.keys("/", "l", "o", "c", "a", "l", "Enter")
    c.keys("Enter")
    c.wait_for(lambda s: "links .o/.tar uploads with: /" in s, what="compiler in details")
    c.wait_for(lambda s: "devices:    cpu" in s, what="devices in details")
    c.keys("Escape", "/", "Escape")
    c.keys("q")
    assert c.exit_status(timeout=15) == 0
    assert port_is_free(tport) and port_is_free(pport)


def test_refused_connections_are_counted_in_the_title(tmp_path, console):
    port = free_port()
    cfg = tmp_path / "lab.ini"
    cfg.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nallow = 10.1.2.3\n"
                   "[console]\nlocal_server = no\nrefresh = 0.1\n" % (port, port + 1))
    c = console(["--config", str(cfg)])
    wait_port(port)
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.settimeout(5)
        assert s.recv(4) == b""  # refused: closed without a byte
        s.close()
    c.wait_for(lambda s: "refused" in s.splitlines()[0], what="refused count in the title")
    text = c.screen()
    assert "refused" in text.split("Events")[1]  # and the event log names the peer
    c.keys("q")
    assert c.exit_status() == 0
