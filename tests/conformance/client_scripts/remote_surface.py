"""Real TVM Python client scripts beyond the basics: the calls issue 13 names, written as a
user writes them with the stock `tvm.rpc` client (no tvmrpc code). Run against TVM's own
tvm_rpc through tests/conformance/record_relay.py it produced tests/vectors/
python_remote_surface.json, which tests/e2e/test_client_scripts.py replays on our server.

  python3 remote_surface.py HOST PORT KEY CONTRIB_CALLS_SO FAR_PORT

CONTRIB_CALLS_SO: tests/models/contrib_calls.c built as a shared library (kernels that call
tvm.contrib.sort/random by name at run time). FAR_PORT: a second server on HOST with key KEY,
which the board reaches with rpc.Connect (a multi-hop session)."""
import sys

import numpy as np
import tvm
import tvm_ffi
from tvm import rpc


def main():
    host, port, key, so_path, far_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], int(sys.argv[5])
    remote = rpc.connect(host, port, key=key)
    dev = remote.cpu()
    g = remote.get_function

    # Printing remote objects, as TVM's C++ client code does.
    arr = g("ffi.Array")(1, 2.5, "text")
    print("repr array:", g("ffi.ReprPrint")(arr))
    print("repr shape:", g("ffi.ReprPrint")(g("ffi.Shape")(2, 3, 4)))

    # Kernels that call tvm.contrib.sort / tvm.contrib.random by name inside the session.
    remote.upload(so_path, "contrib_calls.so")
    mod = remote.load_module("contrib_calls.so")
    data = np.array([0.5, 3.0, -1.0, 2.0, 3.0, 7.5, 0.0], dtype="float32")
    x = tvm.runtime.tensor(data, dev)
    order = tvm.runtime.empty((7,), "int32", dev)
    mod["argsort_desc"](x, order)
    print("argsort:", order.numpy().tolist())
    values = tvm.runtime.empty((3,), "float32", dev)
    indices = tvm.runtime.empty((3,), "int32", dev)
    mod["topk3"](x, values, indices)
    print("topk:", values.numpy().tolist(), indices.numpy().tolist())
    u = tvm.runtime.empty((5,), "float32", dev)
    mod["uniform_seeded"](u)
    print("uniform:", u.numpy().tolist())
    nrm = tvm.runtime.empty((5,), "float32", dev)
    mod["normal_seeded"](nrm)
    print("normal:", nrm.numpy().tolist())
    # The same contrib functions called directly.
    out = tvm.runtime.empty((7,), "float32", dev)
    g("tvm.contrib.sort.sort")(x, out, 0, True)
    print("sort:", out.numpy().tolist())
    ri = tvm.runtime.empty((64,), "int32", dev)
    g("tvm.contrib.random.randint")(0, 10, ri)
    print("randint in range:", bool(((ri.numpy() >= 0) & (ri.numpy() < 10)).all()))

    # Parameter files: saved on the host, loaded and saved again on the board.
    params = {"w": np.arange(6, dtype="float32").reshape(2, 3), "b": np.array([1, 2], "int64")}
    blob = tvm.runtime.save_param_dict({k: tvm.runtime.tensor(v) for k, v in params.items()})
    loaded = g("runtime.LoadParams")(blob)
    print("loaded:", g("ffi.MapSize")(loaded), g("ffi.ReprPrint")(g("ffi.MapGetItem")(loaded, "b")))
    print("saved on the board:", bytes(g("runtime.SaveParams")(loaded)) == bytes(blob))
    remote.upload(bytearray(blob), "params.bin")
    from_file = g("runtime.LoadParamsFromFile")(g("tvm.rpc.server.workpath")("params.bin"))
    print("from file:", g("ffi.MapSize")(from_file))

    # Thread control and timers, as tuning scripts use them.
    print("threads:", g("runtime.NumThreads")())
    g("runtime.config_threadpool")(0, 1)
    print("threads after config:", g("runtime.NumThreads")())
    timer = g("runtime.timer.cpu")(dev)
    print("timer:", type(timer).__name__)

    # Containers built on the board.
    m = g("ffi.Map")("a", 1, "b", "two")
    print("map:", g("ffi.MapSize")(m), g("ffi.MapGetItem")(m, "b"), g("ffi.MapCount")(m, "z"))
    d = g("ffi.Dict")("k", 1)
    g("ffi.DictSetItem")(d, "k2", 2.5)
    print("dict:", g("ffi.DictSize")(d), g("ffi.DictGetItem")(d, "k2"))
    lst = g("ffi.List")(1, 2)
    g("ffi.ListAppend")(lst, 3)
    print("list:", g("ffi.ListSize")(lst), g("ffi.ListGetItem")(lst, 2),
          g("ffi.ListContains")(lst, 2))
    print("array contains:", g("ffi.ArrayContains")(arr, "text"))

    # JSON and structural helpers.
    parsed = g("ffi.json.Parse")('{"name": "mlp", "layers": [64, 32, 10], "lr": 0.1}')
    print("json:", g("ffi.json.Stringify")(parsed, None))
    print("json indent:", g("ffi.json.Stringify")(parsed, 2))
    again = g("ffi.json.Parse")(g("ffi.json.Stringify")(parsed, None))
    print("structural equal:", g("ffi.StructuralEqual")(parsed, again, False, False))
    print("structural hash equal:", g("ffi.StructuralHash")(parsed, False, False) ==
          g("ffi.StructuralHash")(again, False, False))
    print("recursive eq:", g("ffi.RecursiveEq")(parsed, again))
    graph = g("ffi.ToJSONGraph")(arr, None)
    print("graph:", g("ffi.json.Stringify")(graph, None))
    print("graph round trip:", g("ffi.ReprPrint")(g("ffi.FromJSONGraph")(graph)))

    # Module introspection.
    print("kind:", g("ffi.ModuleGetKind")(mod))
    print("implements:", g("ffi.ModuleImplementsFunction")(mod, "topk3", True),
          g("ffi.ModuleImplementsFunction")(mod, "nope", True))
    print("write formats:", g("ffi.ReprPrint")(g("ffi.ModuleGetWriteFormats")(mod)))

    # What the server offers.
    names = g("ffi.FunctionListGlobalNamesFunctor")()
    print("globals listed:", names(-1) > 100)

    # Tensor helpers.
    t = g("runtime.TVMTensorAllocWithScope")(g("ffi.Shape")(2, 2), tvm_ffi.dtype("float32"),
                                               dev, None)
    print("alloc with scope:", type(t).__name__)
    print("device api cpu:", g("device_api.cpu")() is not None)

    # A board reaching another board: a multi-hop session.
    far = g("rpc.Connect")(host, far_port, key, False)
    far_string = g("tvm.rpc.server.ModuleGetFunction")(far, "ffi.String", False)
    print("far:", far_string("hello from the far board"))

    # The VM's builtins as globals.
    print("vm shape_of:", g("ffi.ReprPrint")(g("vm.builtin.shape_of")(t)))
    print("vm tuple:", g("ffi.ReprPrint")(g("vm.builtin.make_tuple")(1, "a", 2.0)))
    print("vm null:", g("vm.builtin.null_value")())
    print("done")


if __name__ == "__main__":
    main()
