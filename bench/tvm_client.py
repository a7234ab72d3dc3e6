"""Measurements with Apache TVM's own Python client, for `make bench TVM_PEER=DIR` (bench/run.py
runs it with the peer's package on PYTHONPATH; never needed by a test). Prints "name value" lines
as the C drivers do.

  tvm_client.py copies HOST PORT KEY BYTES SECONDS
      CopyToRemote (`tensor.copyfrom`) and CopyFromRemote (`tensor.numpy()`) of a uint8 tensor of
      BYTES, each repeated for SECONDS / 2 (at least 3 times after a warm-up); MB/s of the median.
  tvm_client.py vm HOST PORT KEY LIBRARY INPUT.npy NUMBER REPEAT
      Relax VM `main` through `VirtualMachine(...).time_evaluator` on the remote CPU: the median
      and the fastest of REPEAT averages over NUMBER calls, in microseconds.
  tvm_client.py tracker PORT ROUNDS SECONDS
      REQUEST latency as TVM's stock client sends it (tvm.rpc.base.sendjson: the length and the
      JSON in two writes, Nagle on): a server connection PUTs key "tvmbench", a client REQUESTs
      it, the server re-PUTs a fresh matchkey; median and p99 in microseconds and the slowest.
"""
import socket
import struct
import sys
import time

import numpy as np


def emit(name, value):
    print("%s %.6g" % (name, value))
    sys.stdout.flush()


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def copies(host, port, key, nbytes, seconds):
    import tvm
    from tvm import rpc
    remote = rpc.connect(host, port, key=key)
    dev = remote.cpu()
    src = (np.arange(nbytes, dtype=np.uint64) * 131 % 251).astype(np.uint8)
    t = tvm.runtime.empty((nbytes,), "uint8", dev)
    for name, op in (("copy_to", lambda: t.copyfrom(src)), ("copy_from", t.numpy)):
        times = []
        op()  # warm-up
        end = time.perf_counter() + seconds / 2
        while len(times) < 3 or time.perf_counter() < end:
            t0 = time.perf_counter()
            out = op()
            times.append(time.perf_counter() - t0)
        if name == "copy_from" and not np.array_equal(out, src):
            raise SystemExit("tvm_client: copied data differ")
        emit("%s_%d_mbps" % (name, nbytes), nbytes / median(times) / 1e6)


def vm(host, port, key, library, input_npy, number, repeat):
    import tvm
    import tvm.runtime.vm
    from tvm import rpc
    remote = rpc.connect(host, port, key=key)
    remote.upload(library, "bench_vm.so")
    lib = remote.load_module("bench_vm.so")
    dev = remote.cpu()
    machine = tvm.runtime.vm.VirtualMachine(lib, dev)
    x = tvm.runtime.tensor(np.load(input_npy), dev)
    machine["main"](x)  # warm-up
    res = machine.time_evaluator("main", dev, number=number, repeat=repeat)(x)
    emit("vm_main_median_us", median(res.results) * 1e6)
    emit("vm_main_best_us", min(res.results) * 1e6)


def tracker(port, rounds, seconds):
    from tvm.rpc import base
    from tvm.rpc.base import TrackerCode

    def connect():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        magic = struct.unpack("<i", base.recvall(s, 4))[0]
        assert magic == base.RPC_TRACKER_MAGIC, magic
        return s

    server, client = connect(), connect()
    base.sendjson(server, [TrackerCode.UPDATE_INFO, {"key": "server:tvmbench",
                                                       "addr": [None, 9999]}])
    assert base.recvjson(server) == TrackerCode.SUCCESS
    seq = 0

    def put():
        nonlocal seq
        seq += 1
        base.sendjson(server, [TrackerCode.PUT, "tvmbench", [9999, "tvmbench:%d" % seq], None])
        assert base.recvjson(server) == TrackerCode.SUCCESS

    put()
    lat = []
    end = time.perf_counter() + seconds
    for i in range(-20, rounds):
        if time.perf_counter() > end and len(lat) >= 20:
            break
        t0 = time.perf_counter()
        base.sendjson(client, [TrackerCode.REQUEST, "tvmbench", "", 1])
        reply = base.recvjson(client)
        dt = time.perf_counter() - t0
        assert reply[0] == TrackerCode.SUCCESS, reply
        if i >= 0:
            lat.append(dt * 1e6)
        put()
    lat.sort()
    emit("tvm_request_median_us", median(lat))
    emit("tvm_request_p99_us", lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1) + 0.5))])
    emit("tvm_request_max_us", lat[-1])
    server.close()
    client.close()


def main():
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "copies":
        return copies(a[1], int(a[2]), a[3], int(a[4]), float(a[5]))
    if len(a) == 8 and a[0] == "vm":
        return vm(a[1], int(a[2]), a[3], a[4], a[5], int(a[6]), int(a[7]))
    if len(a) == 4 and a[0] == "tracker":
        return tracker(int(a[1]), int(a[2]), float(a[3]))
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
