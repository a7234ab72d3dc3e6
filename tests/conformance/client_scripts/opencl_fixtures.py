"""The OpenCL fixtures (tests/fixtures/opencl) run by the stock TVM Python client on
remote.cl(0), as a user writes it (no tvmrpc code). Run against TVM's own tvm_rpc built with
USE_OPENCL through tests/conformance/record_relay.py it produced tests/vectors/
python_opencl_fixtures.json, which tests/e2e/test_opencl.py replays on our server. Prints one
line per result, so runs against two servers can be compared with diff; writes the outputs
to OUT_DIR/*.npy.

  python3 opencl_fixtures.py (HOST PORT KEY | --tracker HOST PORT KEY) FIXTURES OUT_DIR"""
import os
import sys

import numpy as np
import tvm
from tvm import rpc
from tvm.runtime import vm as relax_vm


def connect(argv):
    if argv[0] == "--tracker":
        tracker = rpc.connect_tracker(argv[1], int(argv[2]))
        return tracker.request(argv[3], priority=1, session_timeout=120), argv[4:]
    return rpc.connect(argv[0], int(argv[1]), key=argv[2]), argv[3:]


def main():
    remote, (fixtures, out_dir) = connect(sys.argv[1:])
    dev = remote.cl(0)
    fx = lambda name: os.path.join(fixtures, name)   # noqa: E731
    print("exist:", dev.exist, remote.cl(1).exist)
    print("max_threads_per_block:", dev.max_threads_per_block > 0)
    print("warp_size:", dev.warp_size)
    print("api_version:", remote.get_function("runtime.GetDeviceAttr")(4, 0, 11))

    remote.upload(fx("vadd_cl.so"))
    vadd = remote.load_module("vadd_cl.so")
    a = tvm.runtime.tensor(np.load(fx("vadd_cl_a.npy")), dev)
    b = tvm.runtime.tensor(np.load(fx("vadd_cl_b.npy")), dev)
    c = tvm.runtime.empty((1024,), "float32", dev)
    vadd["vadd"](a, b, c)
    out = c.numpy()
    np.save(os.path.join(out_dir, "vadd.npy"), out)
    print("vadd exact:", np.array_equal(out, np.load(fx("vadd_cl_expected.npy"))))

    remote.upload(fx("matmul_cl.so"))
    mm = remote.load_module("matmul_cl.so")
    A = tvm.runtime.tensor(np.load(fx("matmul_cl_a.npy")), dev)
    B = tvm.runtime.tensor(np.load(fx("matmul_cl_b.npy")), dev)
    C = tvm.runtime.empty((64, 64), "float32", dev)
    mm["matmul"](A, B, C)
    out = C.numpy()
    np.save(os.path.join(out_dir, "matmul.npy"), out)
    print("matmul close:", np.allclose(out, np.load(fx("matmul_cl_expected.npy")), 1e-5, 1e-5))
    timer = mm.time_evaluator("matmul", dev, number=3, repeat=2)
    print("matmul timed:", len(timer(A, B, C).results))

    remote.upload(fx("fp16_fail_cl.so"))
    fp16 = remote.load_module("fp16_fail_cl.so")
    x = tvm.runtime.tensor(np.load(fx("fp16_fail_cl_a.npy")), dev)
    y = tvm.runtime.tensor(np.load(fx("fp16_fail_cl_b.npy")), dev)
    z = tvm.runtime.empty((64,), "float16", dev)
    for call in (1, 2):
        try:
            fp16["fp16_add"](x, y, z)
            print("fp16 call %d: no error" % call)
        except tvm.error.RPCError as e:
            print("fp16 call %d: RPCError, build error in text:" % call,
                  "CL_BUILD_PROGRAM_FAILURE" in str(e))

    remote.upload(fx("mlp_digits_cl.so"))
    lib = remote.load_module("mlp_digits_cl.so")
    vm = relax_vm.VirtualMachine(lib, dev)
    inp = tvm.runtime.tensor(np.load(fx("mlp_digits_cl_input.npy")), dev)
    logits = vm["main"](inp).numpy()
    np.save(os.path.join(out_dir, "mlp.npy"), logits)
    print("mlp close:", np.allclose(logits, np.load(fx("mlp_digits_cl_expected.npy")), 1e-5, 1e-5))
    print("mlp argmax:", logits.argmax(axis=1).tolist())


if __name__ == "__main__":
    main()
