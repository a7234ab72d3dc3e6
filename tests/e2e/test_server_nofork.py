"""--no-fork: sessions run in the server process (for platforms where fork is unavailable,
such as CPU emulators). Sessions still work one after another, the work directory is still
private and removed, and the server registers again after each session."""
import os

import numpy as np
import pytest

from conftest import BUILD, free_port, wait_port, wait_until
from tvm_wire import Session, TrackerClient

ARGECHO = os.path.join(BUILD, "models", "argecho.so")


def test_no_fork_sessions_in_process(spawn, tmp_path):
    assert os.path.exists(ARGECHO), "build the test kernels first (make models)"
    tport, sport = free_port(), free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport), "--port-end",
          str(tport + 1))
    wait_port(tport)
    work = tmp_path / "work"
    work.mkdir()
    server = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(sport),
                   "--port-end", str(sport + 1), "--tracker", "127.0.0.1:%d" % tport, "--key",
                   "nofork", "--work-dir", str(work), "--no-fork")
    tracker = TrackerClient("127.0.0.1", tport)
    kernel = open(ARGECHO, "rb").read()
    for round_ in range(2):
        wait_until(lambda: tracker.summary()["queue_info"].get("nofork", {}).get("free") == 1,
                   20, "the server's registration (round %d)" % round_)
        addr, port, matchkey = tracker.request("nofork")
        with Session.connect(addr, port, key=matchkey, timeout=20) as s:
            s.upload("argecho.so", kernel)
            mod = s.load_module("argecho.so")
            add_one = s.module_get_function(mod, "add_one")
            x = np.arange(256, dtype=np.float32)
            a, b = s.tensor(x), s.empty((256,), "float32")
            add_one(a, b)
            np.testing.assert_array_equal(b.numpy(), x + 1)
            assert len(os.listdir(work)) == 1  # this session's private directory
        wait_until(lambda: not os.listdir(work), 10, "the work directory's removal")
    tracker.close()
    rc, out, err = server.stop()
    assert "running in the server process" in err
