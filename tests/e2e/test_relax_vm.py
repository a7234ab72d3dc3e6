"""End-to-end tests of the Relax VM behind the device server: the request sequence of the
stock Python VirtualMachine on the real TVM-built mlp_digits.so (upload, load_module,
vm_load_executable, the nine method lookups, vm_initialization, main(x), .numpy()), the
set_input/invoke_stateful/get_output path, refusals that leave the session usable, and a
library whose executable was corrupted. Uses the independent client tvm_wire."""
import os
import socket
import subprocess
import time

import numpy as np
import pytest

import tvm_wire as w
from conftest import BIN, ROOT, free_port

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
KEY = "vm"
METHODS = ("invoke_closure", "save_function", "set_input", "invoke_stateful", "get_output",
           "get_output_arity", "get_function_arity", "get_function_param_name",
           "set_instrument")


def fixture(name):
    return os.path.join(FIXTURES, name)


@pytest.fixture
def server(tmp_path):
    port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    log = open(tmp_path / "server.log", "wb")
    p = subprocess.Popen([BIN, "--headless", "server", "--host", "127.0.0.1", "--port",
                          str(port), "--port-end", str(port + 1), "--key", KEY, "--work-dir",
                          str(work)], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    try:
        while True:
            if p.poll() is not None:
                text = (tmp_path / "server.log").read_text(errors="replace")
                pytest.fail("server exited with %s:\n%s" % (p.returncode, text))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("server does not listen")
                time.sleep(0.05)
        yield port
        assert p.poll() is None, "server died:\n" + (tmp_path / "server.log").read_text(
            errors="replace")
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def session(port):
    s = w.Session.connect("127.0.0.1", port, key=KEY, sock_timeout=30)
    loader = s.get_global_func("ffi.Module.load_from_file.so")
    if not loader:
        s.close()
        pytest.fail("no global ffi.Module.load_from_file.so: the .so loader was not linked in")
    s.free_handle(loader)
    return s


def load(s, name="mlp_digits.so", data=None):
    if data is None:
        with open(fixture("mlp_digits.so"), "rb") as f:
            data = f.read()
    s.upload(name, data)
    return s.load_module(name)


def new_vm(s, mod):
    """What tvm.runtime.vm.VirtualMachine(rexec, remote.cpu()) sends."""
    load_exec = s.module_get_function(mod, "vm_load_executable")
    assert load_exec is not None
    vm = load_exec()
    load_exec.free()
    assert isinstance(vm, w.RemoteModule)
    methods = {}
    for name in METHODS:
        methods[name] = s.module_get_function(vm, name)
        assert methods[name] is not None, name
    return vm, methods


def init(s, vm, *devices):
    f = s.module_get_function(vm, "vm_initialization")
    try:
        return f(*devices)
    finally:
        f.free()


def check_logits(out):
    expected = np.load(fixture("mlp_digits_expected.npy"))
    labels = np.load(fixture("mlp_digits_labels.npy"))
    assert out.shape == (16, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out.argmax(axis=1), labels)


def test_mlp_like_the_stock_client(server):
    s = session(server)
    mod = load(s)
    vm, methods = new_vm(s, mod)
    assert init(s, vm, 1, 0, 2) is None
    x = s.tensor(np.load(fixture("mlp_digits_input.npy")))
    main = s.module_get_function(vm, "main")
    out = main(x)
    main.free()
    assert isinstance(out, w.ReturnedTensor)
    check_logits(out.numpy())
    # The client frees handles in garbage-collection order: the library first.
    mod.free()
    main = s.module_get_function(vm, "main")
    again = main(x)
    check_logits(again.numpy())
    for f in methods.values():
        f.free()
    main.free()
    vm.free()
    check_logits(out.numpy())       # the returned tensor keeps its storage alive
    out.free()
    again.free()
    x.free()
    s.shutdown()


def test_stateful_path_and_function_info(server):
    s = session(server)
    mod = load(s)
    vm, m = new_vm(s, mod)
    init(s, vm, 1, 0, 1)
    assert m["get_function_arity"]("main") == 1
    assert m["get_function_param_name"]("main", 0) == "x"
    with pytest.raises(w.RPCError, match="out of range"):
        m["get_function_param_name"]("main", 1)
    data = np.load(fixture("mlp_digits_input.npy"))
    x = s.tensor(data)
    with pytest.raises(w.RPCError, match="set_input"):
        m["invoke_stateful"]("main")
    assert m["set_input"]("main", x) is None
    s.copy_to_remote(x.header, np.zeros_like(data).tobytes())   # set_input made a copy
    assert m["invoke_stateful"]("main") is None
    assert m["get_output_arity"]("main") == -1
    out = m["get_output"]("main")
    check_logits(out.numpy())
    out.free()
    with pytest.raises(w.RPCError, match="Unknown function"):
        m["invoke_stateful"]("nope")
    with pytest.raises(w.RPCError, match="not supported"):
        m["set_instrument"]("some.factory")
    # save_function sends include_return as Int; the saved name is a VM function.
    s.copy_to_remote(x.header, data.tobytes())
    assert m["save_function"]("main", "main_saved", 1, x) is None
    saved = s.module_get_function(vm, "main_saved")
    out = saved()
    check_logits(out.numpy())
    out.free()
    saved.free()
    # Kernels are not VM functions; unknown names are absent.
    assert s.module_get_function(vm, "vm.builtin.alloc_storage") is None
    x.free()
    s.shutdown()


def test_refusals_leave_the_session_usable(server):
    s = session(server)
    mod = load(s)
    vm, _ = new_vm(s, mod)
    x = s.tensor(np.load(fixture("mlp_digits_input.npy")))
    main = s.module_get_function(vm, "main")
    with pytest.raises(w.RPCError, match="not initialised"):
        main(x)
    with pytest.raises(w.RPCError, match="CPU"):
        init(s, vm, 2, 0, 2)
    with pytest.raises(w.RPCError, match="allocator"):
        init(s, vm, 1, 0, 7)
    init(s, vm, 1, 0, 2)
    # match_shape's kind, as TVM's VM raises it
    with pytest.raises(w.RPCError, match=r"RuntimeError.*ErrorContext\(fn=main"):
        main(s.tensor(np.zeros((16, 32), "float32")))
    check_logits(main(x).numpy())
    s.shutdown()


def test_corrupted_executable_is_refused(server):
    with open(fixture("mlp_digits.so"), "rb") as f:
        data = bytearray(f.read())
    at = data.find(b"relax.VMExecutable")
    assert at > 0
    version = data.find(b"0.14", at)
    assert 0 < version - at < 64
    data[version:version + 4] = b"0.99"
    s = session(server)
    with pytest.raises(w.RPCError, match="version '0.99'"):
        load(s, "bad.so", bytes(data))
    mod = load(s)                   # the session is still usable
    vm, _ = new_vm(s, mod)
    init(s, vm, 1, 0, 2)
    s.shutdown()


def test_time_evaluator_on_the_vm(server):
    """vm.time_evaluator("main_saved") and ("invoke_stateful")("main"), as the client does."""
    s = session(server)
    h = s.get_global_func("runtime.RPCTimeEvaluator")
    assert h, "no global runtime.RPCTimeEvaluator"
    s.free_handle(h)
    mod = load(s)
    vm, m = new_vm(s, mod)
    init(s, vm, 1, 0, 2)
    x = s.tensor(np.load(fixture("mlp_digits_input.npy")))
    m["save_function"]("main", "main_saved", 0, x)
    te = s.time_evaluator(vm, "main_saved", number=3, repeat=2)
    times = te()
    assert len(times) == 2 and all(t > 0 for t in times)
    te.free()
    m["set_input"]("main", x)
    te = s.time_evaluator(vm, "invoke_stateful", number=2, repeat=1)
    assert te("main")[0] > 0
    te.free()
    check_logits(m["get_output"]("main").numpy())
    s.shutdown()
