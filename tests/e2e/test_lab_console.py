"""The console's usage overlay ('u', docs/lab-operations.md) under tmux at 80x24 with NO_COLOR:
per key and per user, sessions, busy time and wait p50/p95 over the last hour / day."""
import subprocess

from conftest import free_port, wait_port
from test_console import TMUX, console, lab_config, pytestmark  # noqa: F401 (fixture, skip)
from tvm_wire import TrackerClient


def test_usage_overlay_at_80x24_no_color(tmp_path, console):  # noqa: F811
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)], width=80, height=24,
                env={"NO_COLOR": "1"})
    wait_port(port)
    c.wait_for(lambda s: "Servers" in s and "q quit" in s, what="dashboard")
    s = TrackerClient("127.0.0.1", port)
    s.register_server("rasp", 9501, "rasp:0.1")
    alice = TrackerClient("127.0.0.1", port)
    assert alice.request("rasp", user="alice")[2] == "rasp:0.1"
    s.put("rasp", 9501, "rasp:0.2")  # alice's session ends with the server's next PUT
    bob = TrackerClient("127.0.0.1", port)
    assert bob.request("rasp", user="bob")[2] == "rasp:0.2"
    s.put("rasp", 9501, "rasp:0.3")
    c.keys("u")
    text = c.wait_for(lambda t: "last hour / last day" in t and "bob" in t, what="usage overlay")
    lines = text.splitlines()
    assert len(lines) <= 24 and all(len(l) <= 80 for l in lines)
    key_row = [l for l in lines if "key" in l and "rasp" in l][0]
    assert "2/2" in key_row.split()
    assert any("user" in l and "alice" in l and "1/1" in l.split() for l in lines)
    r = subprocess.run([TMUX, "capture-pane", "-e", "-t", c.name, "-p"], capture_output=True,
                       text=True)
    assert "\x1b[3" not in r.stdout.replace("\x1b[39m", "")
    c.keys("x")  # any key closes the overlay
    c.wait_for(lambda t: "last hour / last day" not in t and "Servers" in t, what="dashboard")
    for t in (s, alice, bob):
        t.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_admin_cancel_and_kick_are_recorded_as_cancelled(tmp_path, console):  # noqa: F811
    """A request cancelled from the console, and a session whose server the admin kicks, end
    'cancelled' in the usage log."""
    import json

    from conftest import wait_until
    log = tmp_path / "usage.jsonl"
    port = free_port()
    ini = lab_config(tmp_path, port)
    with open(ini) as f:
        text = f.read().replace("[console]", "usage_log = %s\n[console]" % log)
    with open(ini, "w") as f:
        f.write(text)
    c = console(["--config", ini])
    wait_port(port)
    s = TrackerClient("127.0.0.1", port)
    s.register_server("board", 9601, "board:0.1")
    user = TrackerClient("127.0.0.1", port)
    assert user.request("board", user="carol")[2] == "board:0.1"  # a session, still open
    waiter = TrackerClient("127.0.0.1", port)
    waiter.send_request("nothing-here", user="bob")
    c.wait_for(lambda t: "server:board" in t and "bob" in t, what="rows")
    c.keys("Tab", "Tab")  # Pending
    c.keys("x")
    c.wait_for(lambda t: "Cancel the pending request" in t, what="confirmation")
    c.keys("y")
    waiter.settimeout(5)
    assert waiter.recv_json()[0] == -1
    c.keys("Tab", "Tab", "Tab")  # Servers
    c.keys("x")
    c.wait_for(lambda t: "Kick server" in t, what="kick confirmation")
    c.keys("y")

    def recs():
        return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    rec = wait_until(lambda: len(recs()) == 2 and recs(), what="two records")
    by_user = {r["user"]: r for r in rec}
    assert by_user["bob"]["end"] == "cancelled" and by_user["bob"]["assign_time"] is None
    assert by_user["bob"]["key"] == "nothing-here"
    assert by_user["carol"]["end"] == "cancelled" and by_user["carol"]["matchkey"] == "board:0.1"
    for t in (s, user, waiter):
        t.close()
    c.keys("q")
    assert c.exit_status() == 0


def test_history_sparklines_and_board_details(tmp_path, console):  # noqa: F811
    """'g' shows per key the last hour's pending and busy/total as sparklines (UTF-8 blocks);
    Enter on a board lists its recent sessions. 80x24, NO_COLOR."""
    port = free_port()
    c = console(["--config", lab_config(tmp_path, port)], width=80, height=24,
                env={"NO_COLOR": "1", "LANG": "C.UTF-8"})
    wait_port(port)
    c.wait_for(lambda s: "Servers" in s and "q quit" in s, what="dashboard")
    s = TrackerClient("127.0.0.1", port)
    s.register_server("rasp", 9501, "rasp:0.1")
    alice = TrackerClient("127.0.0.1", port)
    assert alice.request("rasp", user="alice")[2] == "rasp:0.1"
    s.put("rasp", 9501, "rasp:0.2")  # alice's session ends (released)
    hog = TrackerClient("127.0.0.1", port)
    assert hog.request("rasp", user="hog")[2] == "rasp:0.2"  # busy 1/1 now
    waiter = TrackerClient("127.0.0.1", port)
    waiter.send_request("rasp", user="carol")  # and one waiting
    c.wait_for(lambda t: "carol" in t, what="the waiting request")
    c.keys("g")
    text = c.wait_for(lambda t: "last hour" in t and "pending" in t, what="history overlay")
    lines = text.splitlines()
    assert len(lines) <= 24 and all(len(l) <= 80 for l in lines)
    pend = [l for l in lines if "rasp" in l and "pending" in l][0]
    busy = lines[lines.index(pend) + 1]
    assert "busy" in busy
    assert pend.split("pending", 1)[1].strip().startswith("\u2588")  # the max: a full block
    assert "\u2588" in busy  # 1 of 1 busy
    c.keys("x")  # close
    c.wait_for(lambda t: "last hour" not in t, what="overlay closed")
    c.keys("Enter")  # details of the selected (only) server
    text = c.wait_for(lambda t: "recent sessions" in t, what="board details")
    assert any("alice" in l and "released" in l for l in text.splitlines())
    for t in (s, alice, hog, waiter):
        t.close()
    c.keys("x")
    c.keys("q")
    assert c.exit_status() == 0


def test_usage_overlay_under_attach(tmp_path, spawn, console):  # noqa: F811
    """--attach: 'u' asks the remote tracker for its usage statistics (request code 100)."""
    port = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(port), "--port-end",
          str(port + 1))
    wait_port(port)
    s = TrackerClient("127.0.0.1", port)
    s.register_server("rasp", 9501, "rasp:0.1")
    dana = TrackerClient("127.0.0.1", port)
    assert dana.request("rasp", user="dana")[2] == "rasp:0.1"
    s.put("rasp", 9501, "rasp:0.2")  # dana's session ends
    c = console(["--attach", "127.0.0.1:%d" % port], width=80, height=24)
    c.wait_for(lambda t: "server:rasp" in t, what="attached summary")
    c.keys("u")
    text = c.wait_for(lambda t: "dana" in t, what="the remote usage")
    assert any("user" in l and "dana" in l and "1/1" in l.split() for l in text.splitlines())
    c.keys("x")
    for t in (s, dana):
        t.close()
    c.keys("q")
    assert c.exit_status() == 0
