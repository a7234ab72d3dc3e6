"""Conformance cases: __tvm_set_device and tvm.runtime.threading.set_current_thread_affinity.
See harness.py for the runner API."""
import os


def case_set_device(r):
    r.call("__tvm_set_device", 1, 0)
    r.call("__tvm_set_device", 1, 0)
    r.call("__tvm_set_device", 2, 0, kind="RuntimeError")  # CUDA: no such device API here
    r.call("__tvm_set_device", "cpu", 0, kind="TypeError")


def case_thread_affinity(r):
    cpus = r.call("ffi.Shape", 0)
    r.call("tvm.runtime.threading.set_current_thread_affinity", cpus)
    all_cpus = r.call("ffi.Shape", *range(os.cpu_count() or 1))
    r.call("tvm.runtime.threading.set_current_thread_affinity", all_cpus)
    r.call("tvm.runtime.threading.set_current_thread_affinity", 3, kind="TypeError")
