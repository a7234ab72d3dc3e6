"""The command line: help, version, usage errors and settings errors give the documented exit
status and a message that names the problem."""
import os

from conftest import run


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    assert "--headless" in r.stdout and "--query" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("tvmrpc-console ")


def test_unknown_flag_is_usage_error():
    r = run("--headless", "tracker", "--no-such-flag")
    assert r.returncode == 2
    assert "--no-such-flag" in r.stderr


def test_headless_needs_a_service():
    r = run("--headless")
    assert r.returncode == 2
    assert "needs a service" in r.stderr


def test_bad_ini_names_file_and_line(tmp_path):
    p = tmp_path / "bad.ini"
    p.write_text("[tracker]\nport = 9190\nport_end = nope\n")
    r = run("--check-config", str(p))
    assert r.returncode == 2
    assert "%s:3:" % p in r.stderr and "port_end" in r.stderr


def test_missing_config_file(tmp_path):
    r = run("--headless", "--config", str(tmp_path / "none.ini"))
    assert r.returncode == 2
    assert "cannot open" in r.stderr


def test_check_config_ok(tmp_path):
    p = tmp_path / "ok.ini"
    p.write_text("[server]\nkey = board\ntracker = 127.0.0.1:9190\n")
    r = run("--check-config", str(p))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_server_with_tracker_needs_key(tmp_path):
    p = tmp_path / "nokey.ini"
    p.write_text("[server]\ntracker = 127.0.0.1:9190\n")
    r = run("--check-config", str(p))
    assert r.returncode == 2 and "key" in r.stderr


def test_console_without_terminal_suggests_headless():
    r = run()
    assert r.returncode == 2
    assert "--headless" in r.stderr
