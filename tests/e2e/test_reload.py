"""SIGHUP on a headless process: settings that can change while running (allow lists, limits,
timeouts, log level) take effect at once; others (ports, addresses) are reported as needing a
restart; a broken file is refused and the running settings are kept."""
import signal
import socket
import struct

from conftest import free_port, wait_port

MAGIC = struct.pack("<i", 0x2F271)


def tracker_answers(port):
    """True if the tracker completes the magic exchange with us (127.0.0.1)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(MAGIC)
            return s.recv(4) == MAGIC
    except OSError:
        return False


def test_sighup_applies_allow_list_and_reports_restart_keys(spawn, tmp_path):
    port = free_port()
    ini = tmp_path / "host.ini"
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nallow = 10.9.9.9\n"
                   % (port, port + 1))
    p = spawn("--headless", "--config", str(ini))
    wait_port(port)
    assert not tracker_answers(port)  # 127.0.0.1 is not allowed
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nallow = 127.0.0.0/8\n"
                   "handshake_timeout = 3\n" % (port, port + 1))
    p.p.send_signal(signal.SIGHUP)
    log = p.wait_log("reload done")
    assert "[tracker] allow changed" in log
    assert tracker_answers(port)
    # A port change cannot be applied live: it is named, and the tracker stays where it is.
    ini.write_text("[tracker]\nhost = 127.0.0.1\nport = %d\nport_end = %d\nallow = 127.0.0.0/8\n"
                   % (port + 5, port + 6))
    p.p.send_signal(signal.SIGHUP)
    log = p.wait_log("reload done")
    assert "[tracker] port changed, but needs a restart" in log
    assert tracker_answers(port)
    # A broken file is refused; the running settings stay.
    ini.write_text("[tracker]\nport = not-a-number\n")
    p.p.send_signal(signal.SIGHUP)
    log = p.wait_log("reload failed")
    assert "%s:2" % ini in log
    assert tracker_answers(port)
    assert p.p.poll() is None
