"""What MetaSchedule's stock RPCRunner does with one built candidate, written with the real TVM
Python client (its default_upload_module, default_alloc_argument, run_evaluator_common and
default_cleanup from tvm/s_tir/meta_schedule/runner): upload the builder's .tar, load_module
(the server links it), random_fill_for_measure on every argument, time_evaluator of "main"
with the CPU cache flush, then remove the artifact, its .so and "".

  python3 metaschedule_runner.py HOST PORT KEY ARTIFACT.tar N

ARTIFACT.tar holds object files of a module whose `main(A, B, C: float32[N])` adds A and B
(tests/models/vector_add.c compiled with `cc -c -fPIC`). Prints the costs and the check."""
import os
import sys

import numpy as np
import tvm
from tvm import rpc


def main():
    host, port, key, artifact, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \
        int(sys.argv[5])
    session = rpc.connect(host, port, key=key)
    device = session.device("cpu", 0)
    remote_path = os.path.basename(artifact)
    try:
        session.upload(artifact, remote_path)
        rt_mod = session.load_module(remote_path)
        f_random_fill = session.get_function("tvm.contrib.random.random_fill_for_measure")
        args = []
        for _ in range(3):
            arg = tvm.runtime.empty(shape=(n,), dtype="float32", device=device)
            f_random_fill(arg)
            args.append(arg)
        evaluator = rt_mod.time_evaluator(func_name="main", dev=device, number=3, repeat=2,
                                          min_repeat_ms=0,
                                          f_preproc="cache_flush_cpu_non_first_arg")
        device.sync()
        costs = [float(c) for c in evaluator(*args).results]
        a, b, c = (x.numpy() for x in args)
        ok = bool(np.array_equal(c, a + b))
        print("costs", len(costs), all(x > 0 for x in costs), "check", ok)
    finally:
        session.remove(remote_path)
        session.remove(remote_path + ".so")
        session.remove("")


if __name__ == "__main__":
    main()
