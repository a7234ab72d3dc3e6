"""The test kernels of tests/models run on the device server over RPC: a .tar of objects linked
by --compiler, the digits classifier on every held-out image, parallel kernels with workspaces
and barriers, a packed call from a kernel, the time evaluator, and load errors that leave the
session usable."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import digits_check
import tvm_wire as w
from conftest import BUILD, ROOT, free_port, wait_port

MODELS = os.path.join(BUILD, "models")
KEY = "models"


def model_bytes(name):
    path = os.path.join(MODELS, name + ".so")
    if not os.path.exists(path):
        pytest.fail("%s is not built (make models)" % path)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def server(spawn):
    def start(*extra):
        port = free_port()
        proc = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port),
                     "--port-end", str(port + 1), "--key", KEY, *extra)
        wait_port(port)
        return port, proc
    return start


def connect(port):
    return w.Session.connect("127.0.0.1", port, key=KEY, timeout=60)


def test_linked_tar_runs_the_digits_classifier(server, tmp_path):
    cc = shutil.which("cc")
    if not cc:  # a legitimate skip: the tool this test drives is absent on this host
        pytest.skip("no C compiler")
    obj = tmp_path / "digits.o"
    subprocess.run([cc, "-c", "-fPIC", "-O2", "-I", os.path.join(ROOT, "tests", "models"), "-o",
                    str(obj), os.path.join(ROOT, "tests", "models", "digits_mlp.c")], check=True)
    tar = tmp_path / "digits.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(tmp_path), "digits.o"], check=True)
    port, _ = server("--compiler", cc)
    s = connect(port)
    s.upload("tvm_tmp_mod.tar", tar.read_bytes())
    mod = s.load_module("tvm_tmp_mod.tar")
    fn = s.module_get_function(mod, "digits_mlp")
    x, logits = digits_check.run_and_check(s, fn)
    # The linked library is served back, and the time evaluator measures the kernel.
    linked = s.call(s.get_global_func("tvm.rpc.server.download_linked_module"),
                    "tvm_tmp_mod.tar")
    assert bytes(linked)[:4] == b"\x7fELF"
    times = s.time_evaluator(mod, "digits_mlp", number=3, repeat=2)(x, logits)
    assert len(times) == 2 and all(t > 0 for t in times)
    s.shutdown()


def test_parallel_kernels_packed_calls_and_timer(server):
    port, _ = server()
    s = connect(port)
    s.upload("matmul.so", model_bytes("matmul_parallel"))
    s.upload("fill.so", model_bytes("fill_random"))
    s.upload("sleep.so", model_bytes("sleep_kernel"))
    matmul = s.module_get_function(s.load_module("matmul.so"), "matmul")
    rng = np.random.RandomState(3)
    a = rng.randint(-4, 5, size=(40, 24)).astype(np.float32)
    b = rng.randint(-4, 5, size=(24, 56)).astype(np.float32)
    c = s.empty((40, 56))
    for _ in range(5):
        matmul(s.tensor(a), s.tensor(b), c)
        assert np.array_equal(c.numpy(), a @ b)

    fill = s.module_get_function(s.load_module("fill.so"), "fill")
    t = s.empty((1000,))
    fill(t)  # the kernel looks up tvm.contrib.random.random_fill through the host
    values = t.numpy()
    assert values.min() >= 1.0 and values.max() < 10.0 and values.std() > 0

    sleep = s.load_module("sleep.so")
    times = s.time_evaluator(sleep, "sleep_ms", number=2, repeat=2)(20)
    assert len(times) == 2 and min(times) >= 0.019  # nanosleep never returns early
    s.shutdown()


def test_load_errors_leave_the_session_usable(server):
    port, _ = server("--compiler", "none")
    s = connect(port)
    s.upload("text.so", b"this is not a shared library\n")
    with pytest.raises(w.RPCError, match="not a shared library"):
        s.load_module("text.so")
    s.upload("broken.so", model_bytes("unresolved_symbol"))
    with pytest.raises(w.RPCError, match="tvmrpc_test_symbol_nobody_defines"):
        s.load_module("broken.so")
    s.upload("bin.so", model_bytes("library_bin"))
    with pytest.raises(w.RPCError, match="const_loader"):
        s.load_module("bin.so")
    s.upload("mod.tar", b"\0" * 1024)
    with pytest.raises(w.RPCError, match="switched off on this server"):
        s.load_module("mod.tar")
    # Still fine afterwards.
    s.upload("add.so", model_bytes("vector_add"))
    mod = s.load_module("add.so")
    assert s.module_get_function(mod, "no_such_kernel") is None
    x = np.arange(8, dtype=np.float32)
    out = s.empty((8,))
    s.module_get_function(mod, "add")(s.tensor(x), s.tensor(x), out)
    assert np.array_equal(out.numpy(), 2 * x)
    s.shutdown()
