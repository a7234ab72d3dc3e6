"""A board of another CPU: the aarch64 build of tvmrpc-console runs under qemu-aarch64 as a
device server registered with a native tracker; an aarch64-compiled kernel is uploaded to it,
run on remote tensors and checked. Run by the `cross` stage of `make check`, which builds
the aarch64 binary and kernels and sets TVMRPC_CROSS_BIN / TVMRPC_CROSS_BUILD.

The server runs with --no-fork: qemu-user on this kind of machine hangs in fork() and
pthread_create() of the emulated program (a plain C program that forks hangs the same way),
so the session runs in the server process, as on a real board where fork works it would not
need to."""
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from conftest import free_port, wait_port
from tvm_wire import Session, TrackerClient

CROSS_BIN = os.environ.get("TVMRPC_CROSS_BIN")
CROSS_BUILD = os.environ.get("TVMRPC_CROSS_BUILD")
QEMU = shutil.which("qemu-aarch64")
SYSROOT = "/usr/aarch64-linux-gnu"

# A legitimate skip: only the cross stage of make check builds for aarch64 and has qemu.
pytestmark = pytest.mark.skipif(
    not (CROSS_BIN and CROSS_BUILD and QEMU),
    reason="needs the aarch64 build and qemu-aarch64: run by the cross stage of make check")


def test_aarch64_server_under_qemu_runs_an_aarch64_kernel(spawn, tmp_path):
    head = open(CROSS_BIN, "rb").read(20)
    assert head[:4] == b"\x7fELF" and head[18] == 183, "not an aarch64 ELF: %s" % CROSS_BIN
    tport, sport = free_port(), free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport), "--port-end",
          str(tport + 1))
    wait_port(tport)
    env = dict(os.environ, QEMU_LD_PREFIX=SYSROOT)
    server = subprocess.Popen([QEMU, "-L", SYSROOT, CROSS_BIN, "--headless", "server", "--host",
                               "127.0.0.1", "--port", str(sport), "--port-end", str(sport + 1),
                               "--tracker", "127.0.0.1:%d" % tport, "--key", "arm64",
                               "--work-dir", str(tmp_path), "--no-fork"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        tracker = TrackerClient("127.0.0.1", tport)
        deadline = time.time() + 60
        while time.time() < deadline:
            q = tracker.summary()["queue_info"].get("arm64")
            if q and q["free"] == 1:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the aarch64 server never registered")
        addr, port, matchkey = tracker.request("arm64")
        kernel = open(os.path.join(CROSS_BUILD, "models", "argecho.so"), "rb").read()
        assert kernel[:4] == b"\x7fELF" and kernel[18] == 183  # EM_AARCH64
        with Session.connect(addr, port, key=matchkey, timeout=60) as s:
            s.upload("argecho.so", kernel)
            mod = s.load_module("argecho.so")
            add_one = s.module_get_function(mod, "add_one")
            x = (np.arange(1024, dtype=np.float32) * 0.25) - 128
            a = s.tensor(x)
            b = s.empty((1024,), "float32")
            add_one(a, b)
            np.testing.assert_array_equal(b.numpy(), x + 1)
        tracker.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
