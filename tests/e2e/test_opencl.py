"""OpenCL devices on the device server (docs/devices.md), on POCL's CPU device: attributes,
allocations and copies of device type 4 (0 B, 1 B and 64 MiB, with offsets, chunked and
whole), handles that were freed or never allocated, a server without an OpenCL loader or
platform, and the TVM-compiled OpenCL fixtures of tests/fixtures/opencl (kernels, the build
error of an fp16 kernel, the Relax VM on device 4, the time evaluator)."""
import json
import os
import re

import numpy as np
import pytest

import live_replay
import tvm_wire as w
from conftest import BIN, BUILD, ROOT, free_port, run, wait_port, wait_until

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "opencl")
KEY = "opencl"
CL0 = w.Device(4, 0)
CL1 = w.Device(4, 1)
ASAN = "build-asan" in BUILD or "build-asan" in BIN


def fixture(name):
    path = os.path.join(FIXTURES, name)
    if name.endswith(".npy"):
        return np.load(path)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def pocl_cache(tmp_path_factory):
    """One POCL kernel cache for this module's servers: each kernel is compiled once per run
    (about a second each on a cold cache), not once per test."""
    return str(tmp_path_factory.mktemp("pocl"))


@pytest.fixture
def server(spawn, pocl_cache):
    """Start a device server (forking a child per session, as on a board)."""
    def start(*extra, env=None):
        port = free_port()
        e = {"POCL_CACHE_DIR": pocl_cache}
        if ASAN:
            # POCL's first kernel build in a process (cold cache) loads its compiler, whose
            # dynamic TLS crashes LeakSanitizer's thread scan ("Tracer caught signal 11",
            # DTLS of the session thread). Not scanning TLS avoids it; the leak check of our
            # code still runs on every session (docs/devices.md §6).
            e["LSAN_OPTIONS"] = "use_tls=0"
        e.update(env or {})
        proc = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port),
                     "--port-end", str(port + 1), "--key", KEY, *extra, env=e)
        wait_port(port)
        return port, proc
    return start


def connect(port):
    return w.Session.connect("127.0.0.1", port, key=KEY, timeout=60)


def finish(s, proc):
    """End the session; on the ASan build the session child's leak check must be clean
    (OpenCL objects of POCL and ours included)."""
    s.shutdown()
    if ASAN:
        text = proc.wait_log("leak check:", timeout=30)
        assert "Sanitizer" not in text and "leak check: clean" in proc.log(), text


def test_attributes_come_from_the_device(server):
    port, proc = server()
    s = connect(port)
    assert s.dev_get_attr(CL0, 0) == 1
    assert s.dev_get_attr(CL1, 0) == 0
    name = s.dev_get_attr(CL0, 5)
    assert isinstance(name, str) and name             # e.g. "pthread-<cpu>"
    assert len(json.loads(s.dev_get_attr(CL0, 8))) == 3
    assert re.fullmatch(r"\d+\.\d+", s.dev_get_attr(CL0, 4))
    assert s.dev_get_attr(CL0, 11) == 120  # CL_TARGET_OPENCL_VERSION
    assert s.dev_get_attr(CL0, 1) >= 1             # max work-group size
    assert s.dev_get_attr(CL0, 2) == 1    # warp size
    assert s.dev_get_attr(CL0, 14) > 0
    assert s.dev_get_attr(CL0, 15) is None   # not implementable
    with pytest.raises(w.RPCError, match="Invalid device id 1"):
        s.dev_get_attr(CL1, 5)
    finish(s, proc)


def test_copies_both_ways_with_offsets(server):
    port, proc = server()
    s = connect(port)
    n = 64 << 20
    big = np.resize(np.arange(251, dtype=np.uint8), n + 64)
    t = w.RemoteTensor.empty(s, (n + 64,), "uint8", CL0)
    h = t.header
    # 64 MiB + 64 B in the stock client's chunks (each packet at its chunk's offset), read
    # back as one 64 MiB packet at byte offset 64.
    s.copy_to_remote(h, big.tobytes(), chunked=True)
    s.dev_stream_sync(CL0)
    assert s.copy_from_remote(h.replace(byte_offset=64), n, chunked=False) == big[64:].tobytes()
    # 0 B and 1 B at byte offsets, both ways.
    for off, data in ((5, b""), (17, b"\xab"), (n + 63, b"\x01")):
        s.copy_to_remote(h.replace(byte_offset=off), data, chunked=False)
        big[off:off + len(data)] = np.frombuffer(data, np.uint8)
        assert s.copy_from_remote(h.replace(byte_offset=off), len(data), chunked=False) == data
    assert s.copy_from_remote(h, 4096, chunked=False) == big[:4096].tobytes()
    # Device to device (CopyAmongRemote) with offsets, and device <-> CPU tensors.
    u = w.RemoteTensor.empty(s, (1000,), "uint8", CL0)
    s.copy_among_remote(h.replace(shape=(1000,), byte_offset=100), u.header)
    assert u.numpy().tobytes() == big[100:1100].tobytes()
    c = w.RemoteTensor.empty(s, (1000,), "uint8", w.CPU)
    s.copy_among_remote(u.header, c.header)
    assert c.numpy().tobytes() == big[100:1100].tobytes()
    c.copyfrom(np.arange(1000, dtype=np.uint8) % 251)
    s.copy_among_remote(c.header, u.header.replace(byte_offset=0))
    assert np.array_equal(u.numpy(), np.arange(1000, dtype=np.uint8) % 251)
    # DevAllocData (flat) and a zero-byte tensor.
    p = s.dev_alloc_data(CL0, 0, 64, w.DataType.parse("uint8"))
    assert p
    s.dev_free_data(CL0, p)
    for x in (t, u, c):
        x.free()
    finish(s, proc)


def test_bad_handles_leave_the_session_usable(server):
    port, proc = server()
    s = connect(port)
    t = w.RemoteTensor.empty(s, (256,), "float32", CL0)
    h = t.header
    with pytest.raises(w.RPCError, match="exceed"):
        s.copy_to_remote(h.replace(byte_offset=1020), b"x" * 8, chunked=False)
    with pytest.raises(w.RPCError, match="exceed"):
        s.copy_from_remote(h.replace(byte_offset=1000), 100, chunked=False)
    with pytest.raises(w.RPCError, match="not a live opencl buffer"):
        s.copy_from_remote(h.replace(data=h.data + 8), 4, chunked=False)
    with pytest.raises(w.RPCError, match="not a live opencl buffer"):
        s.copy_to_remote(h.replace(data=0x1234), b"abcd", chunked=False)
    with pytest.raises(w.RPCError, match="not supported"):
        w.RemoteTensor.empty(s, (4,), "float32", CL0, scope="global.texture")
    cpu = w.RemoteTensor.empty(s, (256,), "float32", w.CPU)
    with pytest.raises(w.RPCError, match="freed or never allocated"):
        s.dev_free_data(CL0, cpu.header.data)
    with pytest.raises(w.RPCError, match="size mismatch"):
        s.copy_among_remote(h, cpu.header.replace(shape=(255,)))
    data = np.arange(256, dtype=np.float32)
    t.copyfrom(data)
    ptr = t.header.data
    t.free()
    with pytest.raises(w.RPCError, match="freed or never allocated"):
        s.dev_free_data(CL0, ptr)
    with pytest.raises(w.RPCError, match="not a live opencl buffer"):
        s.copy_from_remote(h, 1024, chunked=False)
    with pytest.raises(w.RPCError, match="Invalid device id 1"):
        w.RemoteTensor.empty(s, (4,), "float32", CL1)
    # A device tensor the session returned is no host memory: its handle used as a CPU
    # address is refused both ways.
    dev_t = s.get_function("runtime.TVMTensorAllocWithScope")(
        s.get_function("ffi.Shape")(64), w.DataType.parse("float32"), CL0, None)
    as_cpu = dev_t.header.replace(device=w.CPU)
    with pytest.raises(w.RPCError, match="not inside a block"):
        s.copy_from_remote(as_cpu, 256, chunked=False)
    with pytest.raises(w.RPCError, match="not inside a block"):
        s.copy_to_remote(as_cpu, b"x" * 256, chunked=False)
    assert not dev_t.numpy().any()   # zeroed, and readable as what it is
    dev_t.free()
    # Still usable.
    again = w.RemoteTensor.from_numpy(s, data, CL0)
    assert np.array_equal(again.numpy(), data)
    finish(s, proc)


@pytest.mark.parametrize("how", ["no-loader", "no-platform"])
def test_a_board_without_opencl(server, tmp_path, how):
    if how == "no-loader":
        env = {"TVMRPC_OPENCL_LIBRARY": str(tmp_path / "missing" / "libOpenCL.so.1")}
        why = "cannot open the OpenCL ICD loader"
    else:
        (tmp_path / "vendors").mkdir()
        env = {"OCL_ICD_VENDORS": str(tmp_path / "vendors")}
        why = "no OpenCL platform"
    port, proc = server(env=env)
    s = connect(port)
    assert s.dev_get_attr(CL0, 0) == 0
    with pytest.raises(w.RPCError, match=why):
        w.RemoteTensor.empty(s, (4,), "float32", CL0)
    with pytest.raises(w.RPCError, match=why):
        s.dev_get_attr(CL0, 5)
    # The CPU is unaffected.
    x = w.RemoteTensor.from_numpy(s, np.ones(4, np.float32))
    assert np.array_equal(x.numpy(), np.ones(4, np.float32))
    finish(s, proc)


def load(s, name):
    s.upload(name, fixture(name))
    return s.load_module(name)


def test_vadd_and_matmul_kernels(server):
    port, proc = server()
    s = connect(port)
    f = s.module_get_function(load(s, "vadd_cl.so"), "vadd")
    a = s.tensor(fixture("vadd_cl_a.npy"), CL0)
    b = s.tensor(fixture("vadd_cl_b.npy"), CL0)
    c = s.empty((1024,), "float32", CL0)
    assert f(a, b, c) is None
    assert np.array_equal(c.numpy(), fixture("vadd_cl_expected.npy"))   # exact
    # A CPU tensor is refused by the host wrapper's own device check.
    x = s.tensor(fixture("vadd_cl_a.npy"))
    with pytest.raises(w.RPCError, match="device_type"):
        f(x, b, c)
    # matmul: two kernels, __local memory, and a device workspace from the host wrapper.
    mm = load(s, "matmul_cl.so")
    g = s.module_get_function(mm, "matmul")
    A = s.tensor(fixture("matmul_cl_a.npy"), CL0)
    B = s.tensor(fixture("matmul_cl_b.npy"), CL0)
    C = s.empty((64, 64), "float32", CL0)
    g(A, B, C)
    np.testing.assert_allclose(C.numpy(), fixture("matmul_cl_expected.npy"), rtol=1e-5,
                               atol=1e-5)
    # The time evaluator uses TVM's OpenCL timer: the summed execution time of the kernels
    # launched (profiling events), not the host clock around them.
    timer = s.time_evaluator(mm, "matmul", CL0, number=3, repeat=2)
    times = timer(A, B, C)
    assert len(times) == 2 and all(t > 0 for t in times)
    # A function that launches no kernel takes no kernel time on device 4 (TVM: 0.0), even
    # though the call itself takes host time; on the CPU the host clock measures it.
    idle = s.time_evaluator(None, "ffi.FunctionListGlobalNamesFunctor", CL0, number=5,
                            repeat=2, limit_zero_time_iterations=1)
    assert list(idle()) == [0.0, 0.0]
    host = s.time_evaluator(None, "ffi.FunctionListGlobalNamesFunctor", w.CPU, number=5,
                            repeat=2)
    assert all(t > 0 for t in host())
    np.testing.assert_allclose(C.numpy(), fixture("matmul_cl_expected.npy"), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(w.RPCError, match="Invalid device id 3"):
        s.time_evaluator(mm, "matmul", w.Device(4, 3))
    # MetaSchedule's runner fills device inputs with random_fill_for_measure.
    fill = s.get_function("tvm.contrib.random.random_fill_for_measure")
    fill(A)
    filled = A.numpy()
    assert ((filled >= 1) & (filled < 10)).all() and len(np.unique(filled)) > 100
    finish(s, proc)


def test_build_error_is_repeated_and_the_session_goes_on(server):
    port, proc = server()
    s = connect(port)
    f = s.module_get_function(load(s, "fp16_fail_cl.so"), "fp16_add")
    a = s.tensor(fixture("fp16_fail_cl_a.npy"), CL0)
    b = s.tensor(fixture("fp16_fail_cl_b.npy"), CL0)
    c = s.empty((64,), "float16", CL0)
    assert np.array_equal(a.numpy(), fixture("fp16_fail_cl_a.npy"))  # fp16 data copies fine
    texts = []
    for _ in range(2):
        with pytest.raises(w.RPCError) as e:
            f(a, b, c)
        texts.append(str(e.value))
    # TVM's first text (tests/fixtures/opencl/fp16_fail_cl_error.txt), with its run-specific
    # device pointer and temp file; our second call repeats it instead of TVM's -45.
    tvm = fixture("fp16_fail_cl_error.txt").decode()
    assert tvm.startswith("OpenCL build error for device=0x")
    pattern = (r"InternalError: OpenCL build error for device=0x[0-9a-f]+\nError: "
               r"CL_BUILD_PROGRAM_FAILURE\n.*Half precision floating point not supported by "
               r"OpenCL implementation on your device\.")
    assert re.search(pattern, texts[0], re.S), texts[0]
    assert texts[1] == texts[0]
    assert "code=-45" in fixture("fp16_fail_cl_error_second_call.txt").decode()
    # The session is still usable: vadd loads and runs.
    g = s.module_get_function(load(s, "vadd_cl.so"), "vadd")
    x = s.tensor(fixture("vadd_cl_a.npy"), CL0)
    y = s.tensor(fixture("vadd_cl_b.npy"), CL0)
    z = s.empty((1024,), "float32", CL0)
    g(x, y, z)
    assert np.array_equal(z.numpy(), fixture("vadd_cl_expected.npy"))
    finish(s, proc)


VM_METHODS = ("vm_initialization", "main")


def test_relax_mlp_on_device_4(server):
    """What VirtualMachine(rlib, remote.cl(0)) and vm["main"](x) send."""
    port, proc = server()
    s = connect(port)
    mod = load(s, "mlp_digits_cl.so")
    load_exec = s.module_get_function(mod, "vm_load_executable")
    vm = load_exec()
    init = s.module_get_function(vm, "vm_initialization")
    assert init(4, 0, 2, 1, 0, 2) is None
    main = s.module_get_function(vm, "main")
    x = s.tensor(fixture("mlp_digits_cl_input.npy"), CL0)
    out = main(x)
    assert isinstance(out, w.ReturnedTensor) and out.header.device == CL0
    logits = out.numpy()
    np.testing.assert_allclose(logits, fixture("mlp_digits_cl_expected.npy"), rtol=1e-5,
                               atol=1e-5)
    assert np.array_equal(logits.argmax(axis=1), fixture("mlp_digits_cl_labels.npy"))
    # set_input copies a CPU tensor to the device; invoke_stateful runs it there.
    set_input = s.module_get_function(vm, "set_input")
    set_input("main", s.tensor(fixture("mlp_digits_cl_input.npy")))
    s.module_get_function(vm, "invoke_stateful")("main")
    again = s.module_get_function(vm, "get_output")("main")
    assert np.array_equal(again.numpy(), logits)
    # The VM's timer on device 4.
    timer = s.time_evaluator(vm, "invoke_stateful", CL0, number=2, repeat=1)
    assert timer("main")[0] > 0
    # A device the server lacks, or OpenCL as the host device, is refused.
    with pytest.raises(w.RPCError, match="Invalid device id 5"):
        init(4, 5, 2, 1, 0, 2)
    with pytest.raises(w.RPCError, match="not supported"):
        init(1, 0, 2, 4, 0, 2)
    finish(s, proc)


def patched_vadd(edit):
    """vadd_cl.so with its opencl payload changed by edit(bytearray payload) in place."""
    lib = bytearray(fixture("vadd_cl.so"))
    kind = b"\x06\x00\x00\x00\x00\x00\x00\x00opencl"
    at = lib.index(kind) + len(kind)
    size = int.from_bytes(lib[at:at + 8], "little")
    payload = lib[at + 8:at + 8 + size]
    edit(payload)
    assert len(payload) == size
    lib[at + 8:at + 8 + size] = payload
    return bytes(lib)


def set_u64(buf, off, v):
    buf[off:off + 8] = v.to_bytes(8, "little")


@pytest.mark.parametrize("edit,error", [
    (lambda p: set_u64(p, 10, 1 << 60), "bad kernel count"),               # fmap count
    (lambda p: set_u64(p, 56, 1 << 40), "bad argument count"),             # arg_types count
    (lambda p: set_u64(p, 18, 1 << 62), "bad kernel name"),                # key length
    (lambda p: set_u64(p, 141, 1 << 50), "bad code"),                      # code length
    (lambda p: p.__setitem__(slice(162, 166), b"kern"), "no kernel in the function map"),
    (lambda p: p.__setitem__(slice(92, 102), b"blockIdx.q"), "unknown or misplaced launch tag"),
    (lambda p: p.__setitem__(slice(0, 10), b"\x02" + b"\x00" * 7 + b"xx"), "format 'xx'"),
])
def test_bad_payloads_are_refused_at_load(server, edit, error):
    port, proc = server()
    s = connect(port)
    s.upload("bad.so", patched_vadd(edit))
    with pytest.raises(w.RPCError, match=error):
        s.load_module("bad.so")
    f = s.module_get_function(load(s, "vadd_cl.so"), "vadd")   # the session goes on
    assert f is not None
    finish(s, proc)


def test_kernel_calls_are_checked(server):
    port, proc = server()
    s = connect(port)
    mod = load(s, "vadd_cl.so")
    k = s.module_get_function(mod, "vadd_kernel")   # the kernel itself, through the imports
    a = s.tensor(fixture("vadd_cl_a.npy"), CL0)
    b = s.tensor(fixture("vadd_cl_b.npy"), CL0)
    c = s.empty((1024,), "float32", CL0)
    pa, pb, pc = (w.OpaquePtr(t.header.data) for t in (a, b, c))
    with pytest.raises(w.RPCError, match="expects 5 arguments"):
        k(pa, pb, pc, 16)
    with pytest.raises(w.RPCError, match="out of range"):
        k(pa, pb, pc, 16, -1)
    with pytest.raises(w.RPCError, match="out of range"):
        k(pa, pb, pc, 1 << 40, 64)
    with pytest.raises(w.RPCError, match="not a live opencl buffer"):
        k(pa, w.OpaquePtr(0x1234), pc, 16, 64)
    with pytest.raises(w.RPCError, match="TypeError"):
        k(pa, pb, 2.5, 16, 64)
    with pytest.raises(w.RPCError, match="CL_INVALID_WORK_GROUP_SIZE"):
        k(pa, pb, pc, 1, 1 << 30)   # more work items per group than the device allows
    # Zero extents launch one work item, as TVM's launcher does: only C[0] is written.
    k(pa, pb, pc, 0, 0)
    out = c.numpy()
    expected = fixture("vadd_cl_expected.npy")
    assert out[0] == expected[0] and not out[1:].any()
    k(pa, pb, pc, 16, 64)
    assert np.array_equal(c.numpy(), expected)
    finish(s, proc)


def test_recorded_stock_client_session_replays(server):
    """tests/vectors/python_opencl_fixtures.json: the stock Python client running
    tests/conformance/client_scripts/opencl_fixtures.py against TVM's tvm_rpc built with
    USE_OPENCL (POCL). Every request goes to our server; replies must have the recorded shape,
    and every result read back (vadd, matmul, the MLP's logits) must equal TVM's bit for
    bit. By design two replies differ: the build error names another device pointer and POCL
    temp file, and the second call repeats it where TVM says CL_INVALID_PROGRAM_EXECUTABLE."""
    rec = w.RecordedSession(w.load_vector(os.path.join(ROOT, "tests", "vectors",
                                                       "python_opencl_fixtures.json")))
    differing = []

    def equivalent(i, req, rep, live):
        recorded, ours = rep.args[0], live.args[0]
        if rep.code == w.RPCCode.EXCEPTION and "OpenCL build error" in ours and (
                "OpenCL build error" in recorded or "CL_INVALID_PROGRAM_EXECUTABLE" in recorded):
            differing.append(i)
            return True
        return False

    port, proc = server()
    s = connect(port)
    pairs = live_replay.replay(s, rec, equivalent=equivalent)
    assert len(differing) == 2
    reads = [(req, live) for req, live in pairs if req.code == w.RPCCode.COPY_FROM_REMOTE]
    recorded = [rep for req, rep in rec.pairs if req.code == w.RPCCode.COPY_FROM_REMOTE]
    assert len(reads) == len(recorded) >= 3
    for (req, live), rep in zip(reads, recorded):
        assert live.data == rep.data, req
    if ASAN:
        assert "leak check: clean" in proc.wait_log("leak check:", timeout=30)


@pytest.mark.parametrize("opencl", [True, False])
def test_server_reports_its_devices_to_the_tracker(spawn, server, tmp_path, opencl):
    """UPDATE_INFO carries "devices" (shown in the console's server details); the OpenCL
    probe runs in a child, and a board without OpenCL reports the CPU alone."""
    tport = free_port()
    spawn("--headless", "tracker", "--host", "127.0.0.1", "--port", str(tport),
          "--port-end", str(tport + 1))
    wait_port(tport)
    env = None if opencl else {"TVMRPC_OPENCL_LIBRARY": str(tmp_path / "none.so")}
    port, proc = server("--tracker", "127.0.0.1:%d" % tport, env=env)

    def devices():
        info = w.tracker_summary(tport).get("server_info", [])
        return info and info[0].get("devices")
    text = wait_until(devices, what="the server's devices in SUMMARY")
    if opencl:
        assert re.fullmatch(r"cpu; opencl0: .+", text), text
        with w.TrackerClient("127.0.0.1", tport) as t:
            _, got, matchkey = t.request(KEY)
        assert got == port
        # The probe left the server able to serve OpenCL sessions.
        s = w.Session.connect("127.0.0.1", port, key=matchkey, timeout=60)
        assert s.dev_get_attr(CL0, 5) == text.split("opencl0: ", 1)[1]
        finish(s, proc)
    else:
        assert text == "cpu"


def test_run_command_on_device_4(server, tmp_path):
    """Our own C client (--connect ... --device opencl) runs a kernel with the time
    evaluator, and the Relax MLP on a VM initialised for OpenCL."""
    port, proc = server()
    out = tmp_path / "vadd.npy"
    fx = lambda name: os.path.join(FIXTURES, name)   # noqa: E731
    r = run("--connect", "127.0.0.1:%d" % port, "--key", KEY, fx("vadd_cl.so"), "vadd",
            "--device", "opencl", "--in", fx("vadd_cl_a.npy"), "--in", fx("vadd_cl_b.npy"),
            "--out", str(out), "--like", fx("vadd_cl_expected.npy"), "--time", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Execution time summary" in r.stdout + r.stderr
    assert np.array_equal(np.load(out), fixture("vadd_cl_expected.npy"))
    r = run("--connect", "127.0.0.1:%d" % port, "--key", KEY, fx("mlp_digits_cl.so"), "main",
            "--device", "opencl", "--in", fx("mlp_digits_cl_input.npy"), "--out", str(out),
            timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(out), fixture("mlp_digits_cl_expected.npy"), rtol=1e-5,
                               atol=1e-5)


def test_session_memory_cap_counts_device_buffers(server):
    port, proc = server("--session-memory", "1M")
    s = connect(port)
    a = w.RemoteTensor.empty(s, (768 << 10,), "uint8", CL0)
    with pytest.raises(w.RPCError, match="MemoryError: cannot allocate 524288 bytes"):
        w.RemoteTensor.empty(s, (512 << 10,), "uint8", CL0)
    with pytest.raises(w.RPCError, match="MemoryError"):
        w.RemoteTensor.empty(s, (512 << 10,), "uint8", w.CPU)
    a.free()
    b = w.RemoteTensor.empty(s, (512 << 10,), "uint8", CL0)
    b.free()
    finish(s, proc)
