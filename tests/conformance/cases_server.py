"""Conformance cases: the server's own globals (file service, modules, device attributes, time
evaluator). See harness.py for the runner API."""
import os

import numpy as np

import harness as h

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def case_file_service(r):
    r.call("tvm.rpc.server.upload", "notes.txt", b"hello, board 0123456789")
    r.call("tvm.rpc.server.download", "notes.txt")
    r.call("tvm.rpc.server.listdir", ".", volatile=True)  # absolute paths in the work dir
    r.call("tvm.rpc.server.workpath", "notes.txt", volatile=True)
    r.call("tvm.rpc.server.remove", "notes.txt")
    r.call("tvm.rpc.server.listdir", ".")
    r.call("tvm.rpc.server.download", "notes.txt", kind="FileNotFoundError")
    r.call("tvm.rpc.server.upload", "x.bin", kind="TypeError")


def case_load_and_run_add_one(r):
    r.upload("add_one.so", fixture("add_one.so"))
    mod = r.load_module("add_one.so")
    f = r.call("tvm.rpc.server.ModuleGetFunction", mod, "add_one", True)
    r.call("tvm.rpc.server.ModuleGetFunction", mod, "no_such_function", True)
    x = r.tensor(np.arange(1024, dtype="float32"))
    y = r.empty((1024,), "float32")
    r.call_ref(f, x, y)
    r.numpy(y)
    r.call("tvm.rpc.server.load_module", "missing.so", kind="FileNotFoundError")


def case_device_attributes(r):
    for kind in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13):
        r.call("runtime.GetDeviceAttr", 1, 0, kind)
    r.call("runtime.GetDeviceAttr", 1, 0, 14, volatile=True)
    r.call("runtime.GetDeviceAttr", 1, 0, kind="TypeError")
