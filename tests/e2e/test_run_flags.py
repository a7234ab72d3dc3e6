"""`--run`/`--connect` take their settings through the same config table as every other mode
(console/config.c, section [run]): `--flag=value` works as `--flag value` does, and values are
range-checked with the table's messages (usage errors exit 2, nothing contacted)."""
from conftest import free_port, run


def test_tracker_with_equals_sign(tmp_path):
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    port = free_port()
    r = run("--run", "k", "--tracker=127.0.0.1:%d" % port, "--retries=2", str(mod), "f")
    assert r.returncode == 1, r.stderr
    assert "tracker 127.0.0.1:%d" % port in r.stderr and "2 attempt" in r.stderr


def test_connect_flags_with_equals_sign(tmp_path):
    mod = tmp_path / "m.so"
    mod.write_bytes(b"\x7fELF")
    port = free_port()
    r = run("--connect", "127.0.0.1:%d" % port, "--connect-timeout=2", "--key=k", str(mod), "f")
    assert r.returncode == 1, r.stderr
    assert "cannot connect to 127.0.0.1:%d" % port in r.stderr


def test_table_errors_are_usage_errors():
    for args, needle in [
        (["--tracker=nohost"], "HOST:PORT"),
        (["--repeat=0"], "--repeat"),
        (["--number", "x"], "--number"),
        (["--wait"], "needs a value"),
        (["--port-end=3"], "unknown option"),
    ]:
        r = run("--run", "k", "m.so", "f", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
