"""Automatic health checks ([health], docs/lab-operations.md): probes of free boards; N
failures in a row drain a board (log, events, usage log, metrics and the console say why);
it is undrained when a probe passes again; the admin's drain wins."""
import json
import signal
import urllib.request

from conftest import free_port, wait_port, wait_until
from tvm_wire import TrackerClient
from tvm_wire import tracker_summary as summary


def start_tracker(spawn, tmp_path, failures, extra="", interval=0.1):
    port, mport = free_port(), free_port()
    ini = tmp_path / "t.ini"
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nusage_log = %s\n"
                   "[health]\ninterval = %g\nfailures_to_drain = %d\ntimeout = 1\n"
                   "copy_bytes = 4K\n[metrics]\nlisten = 127.0.0.1:%d\n%s"
                   % (port, port + 1, tmp_path / "usage.jsonl", interval, failures, mport,
                      extra))
    p = spawn("--headless", "--config", str(ini))
    wait_port(port)
    wait_port(mport)  # the metrics endpoint starts after the tracker
    return port, mport, p


def metrics_text(mport):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
        return r.read().decode()


def notes(tmp_path):
    path = tmp_path / "usage.jsonl"
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if '"event"' in l]


def test_failed_probes_drain_a_dead_board(spawn, tmp_path):
    """A board that registers but does not answer (nothing listens on its port): each probe
    consumes its matchkey, it registers a fresh one (as a stock server's regeneration
    would), and the second failure in a row drains it."""
    port, mport, p = start_tracker(spawn, tmp_path, failures=2)
    dead = free_port()
    s = TrackerClient("127.0.0.1", port)
    s.update_info({"key": "server:dead", "addr": [None, dead]})
    n = 0

    def reregister():
        nonlocal n
        if not s.get_pending_matchkeys():
            n += 1
            s.put("dead", dead, "dead:%d" % n)
        return "drained by health check" in p.log()
    wait_until(reregister, what="the board drained by the health check")
    log = p.log()
    assert log.count("failed (1 in a row)") >= 1 and "failed (2 in a row)" in log
    assert "2 probes failed in a row: connect:" in log
    s.put("dead", dead, "dead:%d" % (n + 1))  # held now: never handed out, never free
    q = summary(port)["queue_info"]["dead"]
    assert q["free"] == 0
    rec = wait_until(lambda: notes(tmp_path), what="the drain in the usage log")
    assert rec[0]["event"] == "health_drain" and rec[0]["key"] == "dead"
    assert "2 probes failed in a row" in rec[0]["reason"]
    text = metrics_text(mport)
    assert 'tvmrpc_tracker_unhealthy{key="dead"' in text
    assert 'tvmrpc_tracker_servers{key="dead",state="drained"} 1' in text
    assert "tvmrpc_tracker_health_drains_total 1" in text
    s.close()
    p.stop_clean()


def test_hung_board_is_drained_then_undrained_when_it_answers(spawn, tmp_path):
    port, mport, p = start_tracker(spawn, tmp_path, failures=1, interval=0.5)
    sport = free_port()
    board = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(sport),
                  "--port-end", str(sport + 1), "--key", "rasp", "--tracker",
                  "127.0.0.1:%d" % port)
    wait_until(lambda: 'tvmrpc_tracker_probes_total{result="passed"} 0' not in
               metrics_text(mport), timeout=20, what="a passed probe of the healthy board")
    # Stop it while it is free (not between a probe's session and its next PUT, when a
    # stopped server would hold nothing to probe): hung, the kernel still accepts, nothing
    # answers, so the next probe (or the one under way) fails.
    wait_until(lambda: summary(port)["queue_info"]["rasp"]["free"] == 1, timeout=20,
               what="the board free between probes")
    board.p.send_signal(signal.SIGSTOP)
    try:
        p.wait_log("drained by health check", timeout=20)
    finally:
        board.p.send_signal(signal.SIGCONT)
    assert 'tvmrpc_tracker_unhealthy{key="rasp"' in metrics_text(mport)
    p.wait_log("undrained by health check: probe passed", timeout=30)
    wait_until(lambda: summary(port)["queue_info"]["rasp"]["free"] == 1, timeout=20,
               what="the board free again")
    assert "tvmrpc_tracker_unhealthy{" not in metrics_text(mport)
    assert [r["event"] for r in notes(tmp_path)] == ["health_drain", "health_undrain"]
    # And it serves clients again.
    c = TrackerClient("127.0.0.1", port)
    assert c.request("rasp")[1] == sport
    c.close()
    p.stop_clean()


def test_sessions_ending_with_the_server_gone_drain_the_board(spawn, tmp_path):
    """A board whose server vanishes during 2 sessions in a row (it crashed and came back) is
    drained when it registers again; a released session in between resets the count. Probes
    are far apart here (interval 3600), so only sessions count."""
    port, mport, p = start_tracker(spawn, tmp_path, failures=2, interval=3600)
    client = TrackerClient("127.0.0.1", port)

    def session(n, crash):
        board = TrackerClient("127.0.0.1", port)
        board.update_info({"key": "server:k", "addr": [None, 9700]})
        board.put("k", 9700, "k:%d" % n)
        client.request("k", user="u")
        if crash:
            board.close()  # gone during the session
        else:
            board.put("k", 9700, "k:%d.next" % n)  # released
            board.close()
    session(1, crash=True)
    session(2, crash=False)  # resets
    session(3, crash=True)
    board = TrackerClient("127.0.0.1", port)
    board.update_info({"key": "server:k", "addr": [None, 9700]})
    board.put("k", 9700, "k:4")
    assert summary(port)["queue_info"]["k"]["free"] == 1  # 1 crash in a row: still serves
    client.request("k", user="u")
    board.close()  # 2nd crash in a row
    board = TrackerClient("127.0.0.1", port)
    board.update_info({"key": "server:k", "addr": [None, 9700]})
    board.put("k", 9700, "k:5")
    assert summary(port)["queue_info"]["k"]["free"] == 0  # drained on arrival
    p.wait_log("drained by health check: 2 sessions in a row ended badly")
    rec = [r for r in notes(tmp_path) if r["event"] == "health_drain"]
    assert rec and rec[-1]["server"] == "127.0.0.1:9700"
    board.close()
    client.close()
    p.stop_clean()
