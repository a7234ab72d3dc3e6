"""End-to-end tests of the vm.builtin.* globals behind the device server that the recorded
conformance cases (tests/conformance/cases_vm.py) cannot show: the tensor cache counts against
the session memory cap, and hostile argument lists (every global, many shapes of garbage)
give errors while the session and the server go on."""
import itertools
import random

import numpy as np
import pytest

import tvm_wire as w
from conftest import free_port, wait_port

KEY = "cpu"
CAP = 1 << 20


@pytest.fixture
def server(spawn):
    port = free_port()
    p = spawn("--headless", "server", "--host", "127.0.0.1", "--port", str(port), "--port-end",
              str(port + 1), "--key", KEY, "--session-memory", str(CAP))
    wait_port(port)
    yield port
    assert p.p.poll() is None, "server died"


def session(port):
    return w.Session.connect("127.0.0.1", port, key=KEY, sock_timeout=30)


def call(s, name, *args):
    h = s.get_global_func(name)
    assert h, name
    try:
        return s.call(h, *args)
    finally:
        s.free_handle(h)


def test_tensor_cache_counts_against_the_session_memory_cap(server):
    s = session(server)
    t = s.tensor(np.ones(CAP // 4 * 6 // 10, "float32"))  # 60% of the cap
    call(s, "vm.builtin.tensor_cache.update", "w_0", t)
    with pytest.raises(w.RPCError, match="MemoryError.*cap"):
        call(s, "vm.builtin.tensor_cache.update", "w_1", t)
    # replacing a name frees its old bytes first
    call(s, "vm.builtin.tensor_cache.update", "w_0", t, True)
    call(s, "vm.builtin.tensor_cache.remove", "w_0")
    call(s, "vm.builtin.tensor_cache.update", "w_1", t)
    got = call(s, "vm.builtin.tensor_cache.get", "w_1")
    assert got is not None
    call(s, "vm.builtin.tensor_cache.clear")
    s.shutdown()


GLOBALS = [
    "vm.builtin.alloc_shape_heap", "vm.builtin.alloc_storage", "vm.builtin.alloc_tensor",
    "vm.builtin.call_tir_dyn", "vm.builtin.check_func_info", "vm.builtin.check_prim_value_info",
    "vm.builtin.check_shape_info", "vm.builtin.check_tensor_info", "vm.builtin.check_tuple_info",
    "vm.builtin.copy", "vm.builtin.ensure_zero_offset", "vm.builtin.invoke_closure",
    "vm.builtin.invoke_debug_func", "vm.builtin.make_closure", "vm.builtin.make_prim_value",
    "vm.builtin.make_shape", "vm.builtin.make_tuple", "vm.builtin.match_prim_value",
    "vm.builtin.match_shape", "vm.builtin.memory_manager.clear", "vm.builtin.null_value",
    "vm.builtin.param_array_from_cache", "vm.builtin.param_array_from_cache_by_name",
    "vm.builtin.param_array_from_cache_by_name_unpacked", "vm.builtin.param_module_from_cache",
    "vm.builtin.param_module_from_cache_by_name", "vm.builtin.read_if_cond",
    "vm.builtin.reshape", "vm.builtin.shape_of", "vm.builtin.tensor_cache.get",
    "vm.builtin.tensor_cache.load", "vm.builtin.tensor_cache.remove",
    "vm.builtin.tensor_cache.update", "vm.builtin.tensor_to_shape", "vm.builtin.to_device",
    "vm.builtin.tuple_getitem", "vm.builtin.tuple_reset_item",
]


def test_hostile_arguments_keep_the_session(server):
    """Seeded garbage: ints at the edges, heap indices past the heap, dims that overflow,
    tensors, shapes, strings, pointers. Every call answers (a value or an error)."""
    s = session(server)
    heap = s.tensor(np.zeros(2, "int64"))
    small = s.tensor(np.zeros((2, 2), "float32"))
    shape = call(s, "vm.builtin.make_shape", None, 2, 0, 2 ** 62, 0, 2 ** 62)
    arr = call(s, "ffi.Array", 1, -1, 2 ** 63 - 1)
    pool = [None, 0, 1, 2, 3, -1, 7, 2 ** 62, -2 ** 63, 2 ** 63 - 1, 1.5, True, "", "x",
            "float32", "int64x4", "../../etc", w.OpaquePtr(0x1000), w.DataType(2, 32),
            w.DataType(0, 0, 0), heap.header, small.header, w.ObjectRef(shape.handle),
            w.ObjectRef(arr.handle), w.ObjectRef(0xdeadbeef),
            w.FunctionHandle(s.get_global_func("ffi.Array"))]
    rng = random.Random(13)
    answered = errors = 0
    for name in GLOBALS:
        h = s.get_global_func(name)
        combos = [()] + [tuple(rng.choice(pool) for _ in range(n))
                         for n in itertools.chain.from_iterable([k] * 12 for k in range(1, 9))]
        for args in combos:
            try:
                s.call_raw(h, *args)
                answered += 1
            except w.RPCError:
                errors += 1
        s.free_handle(h)
    assert answered + errors == len(GLOBALS) * (1 + 12 * 8)
    assert errors > answered
    # the session is still usable, and the heap was never written out of bounds
    assert call(s, "vm.builtin.copy", "alive") == "alive"
    assert heap.numpy().shape == (2,)
    call(s, "vm.builtin.tensor_cache.clear")
    s.shutdown()
