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

import tvm_wire as w
from conftest import ROOT, free_port, wait_port

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "opencl")
KEY = "opencl"
CL0 = w.Device(4, 0)
CL1 = w.Device(4, 1)


def fixture(name):
    path = os.path.join(FIXTURES, name)
    if name.endswith(".npy"):
        return np.load(path)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def server(spawn, tmp_path):
    """Start a device server; POCL's kernel cache goes to a per-test directory."""
    def start(*extra, env=None):
        port = free_port()
        e = {"POCL_CACHE_DIR": str(tmp_path / "pocl")}
        e.update(env or {})
        proc = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port),
                     "--port-end", str(port + 1), "--key", KEY, *extra, env=e)
        wait_port(port)
        return port, proc
    return start


def connect(port):
    return w.Session.connect("127.0.0.1", port, key=KEY, timeout=60)


def test_attributes_come_from_the_device(server):
    port, _ = server()
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
    s.shutdown()


def test_copies_both_ways_with_offsets(server):
    port, _ = server()
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
    s.shutdown()


def test_bad_handles_leave_the_session_usable(server):
    port, _ = server()
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
    # Still usable.
    again = w.RemoteTensor.from_numpy(s, data, CL0)
    assert np.array_equal(again.numpy(), data)
    s.shutdown()


@pytest.mark.parametrize("how", ["no-loader", "no-platform"])
def test_a_board_without_opencl(server, tmp_path, how):
    if how == "no-loader":
        env = {"TVMRPC_OPENCL_LIBRARY": str(tmp_path / "missing" / "libOpenCL.so.1")}
        why = "cannot open the OpenCL ICD loader"
    else:
        (tmp_path / "vendors").mkdir()
        env = {"OCL_ICD_VENDORS": str(tmp_path / "vendors")}
        why = "no OpenCL platform"
    port, _ = server(env=env)
    s = connect(port)
    assert s.dev_get_attr(CL0, 0) == 0
    with pytest.raises(w.RPCError, match=why):
        w.RemoteTensor.empty(s, (4,), "float32", CL0)
    with pytest.raises(w.RPCError, match=why):
        s.dev_get_attr(CL0, 5)
    # The CPU is unaffected.
    x = w.RemoteTensor.from_numpy(s, np.ones(4, np.float32))
    assert np.array_equal(x.numpy(), np.ones(4, np.float32))
    s.shutdown()
