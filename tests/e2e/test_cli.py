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


def test_conf_examples_validate():
    conf = os.path.join(os.path.dirname(__file__), "..", "..", "conf")
    inis = sorted(f for f in os.listdir(conf) if f.endswith(".ini"))
    assert {"lab.ini", "board.ini", "board-proxy.ini"} <= set(inis)
    for f in inis:
        r = run("--check-config", os.path.join(conf, f))
        assert r.returncode == 0, (f, r.stderr)


def test_man_pages_render():
    import shutil
    import subprocess
    man = shutil.which("man")
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    for page in ("man/tvmrpc-console.1", "man/tvmrpc.ini.5"):
        path = os.path.join(root, page)
        text = open(path).read()
        assert text.startswith(".TH ")
        if man:  # man-db is optional on a build machine; the source check above always runs
            r = subprocess.run([man, "--warnings", "-l", path], capture_output=True, text=True,
                               env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
            assert r.returncode == 0 and "SYNOPSIS" in r.stdout or "DESCRIPTION" in r.stdout
            assert r.stderr.strip() == "", r.stderr


def test_make_install_destdir(tmp_path):
    import subprocess
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    r = subprocess.run(["make", "-s", "-C", root, "install", "DESTDIR=%s" % tmp_path,
                        "PREFIX=/usr"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "usr/bin/tvmrpc-console").exists()
    assert (tmp_path / "usr/share/man/man1/tvmrpc-console.1").exists()
    assert (tmp_path / "usr/share/man/man5/tvmrpc.ini.5").exists()
    assert (tmp_path / "usr/share/doc/tvmrpc/conf/board.ini").exists()
