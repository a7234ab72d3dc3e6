"""Boards of other CPUs (docs/boards.md): a cross-built tvmrpc-console (aarch64, armhf or
riscv64) runs under qemu-user as a device server registered with a native tracker. On it, a
kernel cross-compiled for that CPU with the tvm-ffi ABI, the digits classifier of
tests/models and the time evaluator run on remote tensors, and the results are checked.

Run by the `cross` stage of `make check`, once per architecture, which builds the binary and
its kernels and sets TVMRPC_CROSS_BIN / TVMRPC_CROSS_BUILD. The server forks a session child
per client, as on a board: fork and threads work under qemu-user for these three targets as
long as qemu runs the target's multiarch C library when one is installed (mixing it with the
cross toolchain's copy crashes threads and fork, which once forced --no-fork here)."""
import os
import shutil

import numpy as np
import pytest

import digits_check
from conftest import free_port, wait_port, wait_until
from tvm_wire import Session, TrackerClient

CROSS_BIN = os.environ.get("TVMRPC_CROSS_BIN")
CROSS_BUILD = os.environ.get("TVMRPC_CROSS_BUILD")

# ELF e_machine -> (qemu's name, Debian triplet, ELF class)
ARCHES = {183: ("aarch64", "aarch64-linux-gnu", 2), 40: ("arm", "arm-linux-gnueabihf", 1),
          243: ("riscv64", "riscv64-linux-gnu", 2)}

# A legitimate skip: only the cross stage of make check builds for another CPU.
pytestmark = pytest.mark.skipif(
    not (CROSS_BIN and CROSS_BUILD),
    reason="needs a cross build: run by the cross stage of make check")


def elf_arch(path):
    with open(path, "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF", "%s is not an ELF file" % path
    machine = head[18] | head[19] << 8
    assert machine in ARCHES, "%s: unexpected ELF machine %d" % (path, machine)
    assert head[4] == ARCHES[machine][2], "%s: wrong ELF class" % path
    return machine


def qemu_command():
    name, triplet, _ = ARCHES[elf_arch(CROSS_BIN)]
    qemu = shutil.which("qemu-" + name)
    assert qemu, "qemu-%s is missing (make cross-deps installs qemu-user)" % name
    # The target's multiarch C library when it is installed, else the cross toolchain's.
    if os.path.exists("/lib/%s/libc.so.6" % triplet):
        return [qemu, CROSS_BIN]
    return [qemu, "-L", "/usr/" + triplet, CROSS_BIN]


def kernel(name):
    path = os.path.join(CROSS_BUILD, "models", name + ".so")
    assert elf_arch(path) == elf_arch(CROSS_BIN), "%s is not built for the board's CPU" % path
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def board(spawn, tmp_path):
    """A native tracker and the cross-built server under qemu, registered with it."""
    tport, sport = free_port(), free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport), "--port-end",
          str(tport + 1))
    wait_port(tport)
    key = "board-" + ARCHES[elf_arch(CROSS_BIN)][0]
    server = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(sport),
                   "--port-end", str(sport + 1), "--tracker", "127.0.0.1:%d" % tport,
                   "--key", key, "--work-dir", str(tmp_path), cmd=qemu_command())
    tracker = TrackerClient("127.0.0.1", tport)

    def free():
        q = tracker.summary()["queue_info"].get(key)
        return q and q["free"] == 1
    wait_until(free, timeout=60, what="the emulated server registering")
    yield tracker, key, server
    tracker.close()


def session(board):
    tracker, key, _ = board
    addr, port, matchkey = tracker.request(key)
    return Session.connect(addr, port, key=matchkey, timeout=120)


def test_cross_kernel_exact_bytes(board):
    with session(board) as s:
        s.upload("argecho.so", kernel("argecho"))
        add_one = s.module_get_function(s.load_module("argecho.so"), "add_one")
        x = (np.arange(1024, dtype=np.float32) * 0.25) - 128
        a, b = s.tensor(x), s.empty((1024,), "float32")
        add_one(a, b)
        assert b.numpy().tobytes() == (x + 1).tobytes()


def test_cross_digits_classifier_and_time_evaluator(board):
    with session(board) as s:
        s.upload("digits.so", kernel("digits_mlp"))
        mod = s.load_module("digits.so")
        fn = s.module_get_function(mod, "digits_mlp")
        x, logits = digits_check.run_and_check(s, fn)
        times = s.time_evaluator(mod, "digits_mlp", number=3, repeat=2)(x, logits)
        assert len(times) == 2 and all(t > 0 for t in times)


def test_cross_server_forks_a_session_per_client(board):
    """Two sessions one after the other: each in its own forked child, the server lives on."""
    _, _, server = board
    for _ in range(2):
        with session(board) as s:
            s.upload("argecho.so", kernel("argecho"))
            s.load_module("argecho.so")
    assert server.p.poll() is None
    assert "--no-fork" not in server.args
